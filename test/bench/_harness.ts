// The benchmark harness: peers run side by side in one process, interleaved
// round by round so that a noisy neighbour slows all of them alike; medians
// and ratios against a baseline; peak memory of each case in a process of its
// own, so that one case's garbage cannot inflate another's peak.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";

/** One group of peers measured on the same input. */
export interface Suite<I = unknown> {
  /** Short title, unique within its file; also names the suite on the command line. */
  title: string;
  /** Builds the input once per process (not timed). */
  input: () => I | Promise<I>;
  /** Bytes processed per run, for MB/s (a number, or derived from the input). */
  bytes?: number | ((input: I) => number);
  /** The peers. The first one is the baseline of the ratios unless `baseline` names another. */
  cases: Record<string, (input: I) => unknown | Promise<unknown>>;
  baseline?: string;
  /** Timed rounds after `warmup` untimed ones. @default 5 */
  runs?: number;
  /** @default 1 */
  warmup?: number;
  /** Measure peak RSS of each case in its own process. @default true */
  memory?: boolean;
}

const suites: Suite<any>[] = [];

/** Registers a suite. Call {@linkcode main} once after registering. */
export function suite<I>(s: Suite<I>): void {
  suites.push(s as Suite<any>);
}

const MB = 1e6;

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Reads a field of /proc/self/status in bytes (Linux), or undefined elsewhere. */
function procStatus(field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The child side of a memory measurement: prints {baseline, peak} as JSON. */
async function measureMemory(s: Suite<any>, name: string): Promise<void> {
  const input = await s.input();
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  // Reset the kernel's high-water mark so that building the input does not count.
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    /* not Linux: the peak then includes building the input */
  }
  const baseline = procStatus("VmRSS") ?? process.memoryUsage().rss;
  await s.cases[name]!(input);
  const peak = procStatus("VmHWM") ?? process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ baseline, peak }) + "\n");
  void input;
}

function spawnMemory(file: string, title: string, name: string): { baseline: number; peak: number } | string {
  const r = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=16384", "--import", "tsx", file, "--memory", title, name], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    return `failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" ")}`;
  }
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

/** Runs the registered suites: timing here, memory in child processes. Prints Markdown tables. */
export async function main(importMetaUrl: string): Promise<void> {
  const file = fileURLToPath(importMetaUrl);
  const argv = process.argv.slice(2);
  const m = argv.indexOf("--memory");
  if (m !== -1) {
    const s = suites.find((x) => x.title === argv[m + 1]);
    if (!s) throw new Error(`no suite ${argv[m + 1]}`);
    await measureMemory(s, argv[m + 2]!);
    return;
  }
  const only = argv.filter((a) => !a.startsWith("--"));
  const noMemory = argv.includes("--no-memory");
  for (const s of suites) {
    if (only.length && !only.some((o) => s.title.includes(o))) continue;
    const input = await s.input();
    const bytes = typeof s.bytes === "function" ? s.bytes(input) : s.bytes;
    const names = Object.keys(s.cases);
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const runs = s.runs ?? 5;
    const warmup = s.warmup ?? 1;
    for (let round = 0; round < warmup + runs; round++) {
      for (const name of names) {
        gc();
        const t0 = performance.now();
        await s.cases[name]!(input);
        const t = performance.now() - t0;
        if (round >= warmup) times[name]!.push(t);
      }
    }
    const baseline = s.baseline ?? names[0]!;
    const base = median(times[baseline]!);
    console.log(`\n### ${s.title}\n`);
    console.log(`median of ${runs} runs after ${warmup} warm-up${bytes ? `, ${fmt(bytes / MB)} MB per run` : ""}; ratio = baseline time / case time (higher is faster)\n`);
    const memory = s.memory !== false && !noMemory;
    console.log(`| case | median ms | ${bytes ? "MB/s | " : ""}ratio vs ${baseline} |${memory ? " extra peak RSS MB |" : ""}`);
    console.log(`|---|---:|${bytes ? "---:|" : ""}---:|${memory ? "---:|" : ""}`);
    for (const name of names) {
      const med = median(times[name]!);
      let mem = "";
      if (memory) {
        const r = spawnMemory(file, s.title, name);
        mem = typeof r === "string" ? ` ${r} |` : ` ${fmt((r.peak - r.baseline) / MB)} |`;
      }
      console.log(`| ${name} | ${fmt(med)} | ${bytes ? fmt(bytes / MB / (med / 1000)) + " | " : ""}${fmt(base / med, 2)}x |${mem}`);
    }
  }
}

/** One line describing the machine, for RESULTS.md. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? "unknown CPU"}, ${fmt(os.totalmem() / 2 ** 30, 0)} GiB, ${process.platform} ${os.release()}, Node ${process.version}`;
}
