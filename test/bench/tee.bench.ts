// tee against the native ReadableStream.prototype.tee(): a 2-way split of
// 256 MiB in 64 KiB chunks with both branches read at full speed, and with one
// branch never read, where the native tee buffers the whole payload and
// sluice's best-effort "detach" branch stays within its bound.
import { tee } from "../../lib/tee.ts";
import { main, median, suite } from "./_harness.ts";

const TOTAL = 256 * 2 ** 20;
const CHUNK = 64 * 1024;

/** The payload cut into 64 KiB views of one buffer, built once (not timed). */
function prebuilt(): Uint8Array[] {
  const backing = new Uint8Array(TOTAL);
  for (let i = 0; i < TOTAL; i += 4096) backing[i] = i & 255;
  const out: Uint8Array[] = [];
  for (let o = 0; o < TOTAL; o += CHUNK) out.push(backing.subarray(o, o + CHUNK));
  return out;
}

function sourceOf(input: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < input.length) c.enqueue(input[i++]!);
      else c.close();
    },
  }, { highWaterMark: 0 });
}

/** A source that allocates (and touches) every chunk as it is pulled, so that buffered chunks cost real memory. */
function freshSource(): ReadableStream<Uint8Array> {
  let made = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (made >= TOTAL) return c.close();
      const chunk = new Uint8Array(CHUNK);
      for (let k = 0; k < CHUNK; k += 4096) chunk[k] = (made + k) & 255;
      made += CHUNK;
      c.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.byteLength;
  return bytes;
}

function check(bytes: number[]): void {
  for (const b of bytes) if (b !== TOTAL) throw new Error(`lost bytes: ${b}`);
}

suite({
  title: "tee 2-way, both branches read: 256 MiB in 64 KiB chunks",
  input: prebuilt,
  bytes: TOTAL,
  // Each run is short (4096 chunks); more rounds tame the noise of a shared machine.
  runs: 15,
  cases: {
    "native tee()": async (input) => check(await Promise.all(sourceOf(input).tee().map(drain))),
    "sluice tee(2)": async (input) => check(await Promise.all(tee(sourceOf(input), 2).branches.map(drain))),
    "sluice tee(2), highWaterMark 1 MiB": async (input) => {
      const { branches } = tee(sourceOf(input), [{ highWaterMark: 2 ** 20 }, { highWaterMark: 2 ** 20 }]);
      check(await Promise.all(branches.map(drain)));
    },
    "sluice tee, 2nd best-effort detach (1 MiB)": async (input) => {
      const { branches, done } = tee(sourceOf(input), [{}, { bestEffort: true, overflow: "detach", highWaterMark: 2 ** 20 }]);
      check(await Promise.all(branches.map(drain)));
      if ((await done).some((r) => r.status !== "closed")) throw new Error("a branch did not close");
    },
  },
});

suite({
  title: "tee 2-way, one branch never read: 256 MiB made chunk by chunk",
  input: () => null,
  bytes: TOTAL,
  runs: 3,
  baseline: "native tee()",
  cases: {
    "no tee (one reader, for the garbage baseline)": async () => check([await drain(freshSource())]),
    "native tee()": async () => {
      const [a, b] = freshSource().tee();
      check([await drain(a!)]);
      await b!.cancel();
    },
    "sluice tee, 2nd best-effort detach (1 MiB)": async () => {
      const { branches: [a, b], done } = tee(freshSource(), [{}, { bestEffort: true, overflow: "detach", highWaterMark: 2 ** 20 }]);
      check([await drain(a!)]);
      await b!.cancel().catch(() => {});
      const reports = await done;
      if (reports[1]!.status !== "detached") throw new Error(`expected a detached branch, got ${reports[1]!.status}`);
    },
  },
});

// `--cpu`: the full-speed peers again, timed in process CPU time instead of
// wall time. On a machine shared with other work, wall time mostly measures
// the wait for a core; CPU time measures what each tee costs.
if (process.argv.includes("--cpu")) {
  const input = prebuilt();
  const peers: Record<string, () => Promise<unknown>> = {
    "native tee()": () => Promise.all(sourceOf(input).tee().map(drain)),
    "sluice tee(2)": () => Promise.all(tee(sourceOf(input), 2).branches.map(drain)),
    "sluice tee(2), highWaterMark 1 MiB": () =>
      Promise.all(tee(sourceOf(input), [{ highWaterMark: 2 ** 20 }, { highWaterMark: 2 ** 20 }]).branches.map(drain)),
  };
  const cpu: Record<string, number[]> = {};
  for (let round = 0; round < 17; round++) {
    for (const [name, run] of Object.entries(peers)) {
      const before = process.cpuUsage();
      await run();
      const used = process.cpuUsage(before);
      if (round >= 2) (cpu[name] ??= []).push((used.user + used.system) / 1000);
    }
  }
  const base = median(cpu["native tee()"]!);
  console.log("\n### tee 2-way, both branches read, CPU time\n\nmedian of 15 runs after 2 warm-up; ratio = baseline CPU / case CPU (higher is cheaper)\n");
  console.log("| case | median CPU ms | ratio vs native tee() |\n|---|---:|---:|");
  for (const [name, v] of Object.entries(cpu)) console.log(`| ${name} | ${median(v).toFixed(1)} | ${(base / median(v)).toFixed(2)}x |`);
} else {
  await main(import.meta.url);
}
