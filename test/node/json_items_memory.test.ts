// JsonItemStream parses a document far larger than the heap it is given: a
// child process with a 32 MiB old space reads 128 MB of generated orders. The
// throughput and a 1 GB run are in test/bench/json_items.bench.ts.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const child = fileURLToPath(new URL("./json_items_memory_child.ts", import.meta.url));
const MB = 1e6;

function run(bytes: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const heap = "--max-old-space-size=32";
  const [command, args] = "Deno" in globalThis
    ? [process.execPath, ["run", "-A", `--v8-flags=${heap}`, child, String(bytes)]]
    : [process.execPath, [heap, "--import", "tsx", child, String(bytes)]];
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("JsonItemStream parses 128 MB of orders in a process whose heap is limited to 32 MiB", async () => {
  const { code, stdout, stderr } = await run(128 * MB);
  expect(stderr.includes("heap out of memory") ? "out of memory" : code, stderr.slice(-2000)).toBe(0);
  const result = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, number>;
  expect(result.bytes).toBeGreaterThanOrEqual(128 * MB);
  expect(result.orders).toBe(result.expected);
  expect(result.summary).toBe(result.expected);
  expect(result.validToSum).toBe(result.expectedValidToSum);
  expect(result.peakHeap).toBeLessThan(32 * 2 ** 20);
}, 120_000);
