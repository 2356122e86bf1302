// `npm test`: every test runner of the suite (the package.json scripts named
// below), run in parallel lanes (two by default: the machine CI uses has two
// cores) with at most one browser run at a time, the longest first. Each
// runner's output is printed whole when it ends, under npm's own
// "> sluice@VERSION test:NAME" header, so that its summary lines stay together
// (.ci/run greps them); a table of every runner's outcome and time ends the
// run. One S3 gateway (test/_support/s3/gateway.ts) is started first and shared by all
// runners through SLUICE_S3_*, unless the environment already names one.
//
//   node --import tsx test/_support/run.ts                  # everything
//   node --import tsx test/_support/run.ts test:node test:webkit
//   SLUICE_TEST_LANES=1 node --import tsx test/_support/run.ts   # one after the other
//   SLUICE_TEST_RUNNER_TIMEOUT=600 ...                   # stop a runner after 600 s (default 900)
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gateway, gatewayEnvLines, gatewayFromEnv, type Gateway } from "./s3/gateway.ts";

interface Job {
  script: string;
  /** Seconds it took on the CI machine, roughly: the longest start first. */
  estimate: number;
  /** Runs that drive a browser: one at a time, for memory and for the display. */
  browser?: boolean;
}

const JOBS: Job[] = [
  { script: "typecheck", estimate: 15 },
  { script: "test:node", estimate: 40 },
  { script: "test:polyfill", estimate: 35 },
  { script: "test:deno", estimate: 45 },
  { script: "test:bun", estimate: 75 },
  { script: "test:workerd", estimate: 115 },
  { script: "test:browser", estimate: 50, browser: true },
  { script: "test:firefox", estimate: 90, browser: true },
  { script: "test:webkit", estimate: 90, browser: true },
  { script: "test:e2e", estimate: 70, browser: true },
  { script: "test:package", estimate: 30 },
  { script: "test:docs", estimate: 25 },
  { script: "test:size", estimate: 10 },
  { script: "test:lint", estimate: 5 },
];

// A test:* script added to package.json later runs too, until it is given a place above.
const scripts = Object.keys((JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { scripts: Record<string, string> }).scripts);
for (const script of scripts) {
  if (script.startsWith("test:") && !JOBS.some((j) => j.script === script)) JOBS.push({ script, estimate: 30 });
}
for (const job of JOBS.splice(0)) if (scripts.includes(job.script)) JOBS.push(job);

interface Outcome {
  script: string;
  code: number;
  seconds: number;
}

const lanes = Math.max(1, Number(process.env.SLUICE_TEST_LANES ?? 2) || 1);
/** A runner still going after this long is stopped and counted as failed, so that CI never hangs. */
const runnerTimeoutS = Number(process.env.SLUICE_TEST_RUNNER_TIMEOUT ?? 900) || 900;
const chosen = process.argv.slice(2);
const unknown = chosen.filter((s) => !JOBS.some((j) => j.script === s));
if (unknown.length > 0) {
  console.error(`unknown runner ${unknown.join(", ")}; the runners are ${JOBS.map((j) => j.script).join(", ")}`);
  process.exit(2);
}
// The typecheck first (it is quick and says the most), then the longest first.
const queue = JOBS.filter((j) => chosen.length === 0 || chosen.includes(j.script))
  .sort((a, b) => Number(b.script === "typecheck") - Number(a.script === "typecheck") || b.estimate - a.estimate);
const logs = mkdtempSync(join(tmpdir(), "sluice-test-run-"));
const running = new Set<ChildProcess>();
let stopping = false;

function runJob(job: Job, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const started = Date.now();
  const file = join(logs, `${job.script.replace(/\W/g, "_")}.log`);
  const fd = openSync(file, "w");
  // Its own process group, so that stopping the run stops everything the runner started.
  const child = spawn("npm", ["run", job.script], { env, stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  running.add(child);
  console.log(`-- ${job.script} started`);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  }, runnerTimeoutS * 1000);
  return new Promise((resolve) => {
    const done = (code: number) => {
      clearTimeout(timer);
      running.delete(child);
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(readFileSync(file, "utf8"));
      const how = timedOut ? `FAILED (stopped after ${runnerTimeoutS} s)` : code === 0 ? "passed" : `FAILED (exit ${code})`;
      console.log(`-- ${job.script} ${how} in ${seconds.toFixed(0)} s\n`);
      resolve({ script: job.script, code, seconds });
    };
    child.once("error", (error) => {
      console.error(`-- ${job.script} could not start: ${error.message}`);
      done(127);
    });
    child.once("exit", (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

async function main(): Promise<number> {
  const started = Date.now();
  let shared: Gateway | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (!gatewayFromEnv() && queue.some((j) => j.script.startsWith("test:"))) {
    try {
      shared = await gateway();
      for (const line of gatewayEnvLines(shared)) {
        const at = line.indexOf("=");
        env[line.slice(0, at)] = line.slice(at + 1);
      }
      console.log(`-- one S3 gateway for every runner at ${shared.endpoint} (up in ${(shared.startupMs / 1000).toFixed(1)} s)`);
    } catch (error) {
      // Each runner's own setup then tries again and fails its S3 tests with the reason.
      console.log(`-- could not start the shared S3 gateway: ${(error as Error).message}`);
    }
  }
  const outcomes: Outcome[] = [];
  let browserBusy = false;
  try {
    await Promise.all(Array.from({ length: Math.min(lanes, queue.length) }, async () => {
      for (;;) {
        if (stopping) return;
        const index = queue.findIndex((j) => !(j.browser && browserBusy));
        if (index < 0) {
          if (queue.length === 0) return;
          // Only browser runs are left and one is running: wait for it.
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        const [job] = queue.splice(index, 1);
        if (job!.browser) browserBusy = true;
        try {
          outcomes.push(await runJob(job!, env));
        } finally {
          if (job!.browser) browserBusy = false;
        }
      }
    }));
  } finally {
    await shared?.stop().catch((error: Error) => console.error(`-- stopping the S3 gateway: ${error.message}`));
    rmSync(logs, { recursive: true, force: true });
  }
  console.log("== runners");
  for (const o of outcomes) console.log(`${o.code === 0 ? "ok    " : "FAILED"}  ${o.script.padEnd(14)} ${o.seconds.toFixed(0).padStart(4)} s`);
  const failed = outcomes.filter((o) => o.code !== 0);
  console.log(`${outcomes.length - failed.length} of ${outcomes.length} runners passed in ${((Date.now() - started) / 1000).toFixed(0)} s with ${lanes} lane(s)`);
  return failed.length === 0 && !stopping ? 0 : 1;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    stopping = true;
    for (const child of running) {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // already gone
      }
    }
  });
}

process.exitCode = await main();
