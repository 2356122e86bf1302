// The flagship pipeline (demo/pipeline.ts) against the eager way of doing the
// same job: JSON.stringify -> TextEncoder -> fflate gzipSync -> one fetch with
// the whole body, the archive file written at the end. Both talk to the same
// local upload server, which runs in a process of its own (one per benchmark
// process and memory child), so that peak memory is the client's alone.
//   node --expose-gc --import tsx test/bench/pipeline.bench.ts ["20 MB"|"100 MB"|"300 MB"] [--no-memory]
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "fflate";
import { makeAuction, type Auction } from "../../demo/auction.ts";
import { runPipeline } from "../../demo/pipeline.ts";
import type { GzipOptions } from "../../lib/gzip.ts";
import { main, suite } from "./_harness.ts";
import { builtCompressionWorker } from "./_built.ts";

const serverProcess = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../../demo/pipeline_server.ts", import.meta.url))], {
  stdio: ["pipe", "pipe", "inherit"],
});
const server = {
  url: await new Promise<string>((resolve, reject) => {
    serverProcess.once("error", reject);
    serverProcess.stdout!.once("data", (line: Buffer) => resolve(line.toString().trim()));
  }),
  close: () => new Promise<void>((resolve) => {
    serverProcess.once("exit", () => resolve());
    serverProcess.stdin!.end();
  }),
};
const archive = join(tmpdir(), `sluice-pipeline-bench-${process.pid}.json.gz`);

/**
 * makeAuction builds its strings by concatenation (V8 ropes); the first serialisation
 * flattens each one in place, which allocates the flat copies and frees the ropes. A value
 * read from a database or parsed from JSON has flat strings already, so flatten them here,
 * before the baseline, one order at a time; otherwise whichever case runs first in a process
 * pays for it (measured: jsonStream alone +52 MB at 100 MB with ropes, +0 MB without).
 */
function flatten(value: Auction): Auction {
  for (const order of value.orders) JSON.stringify(order);
  return value;
}

async function eager(value: Auction): Promise<void> {
  const body = new TextEncoder().encode(JSON.stringify(value));
  const gz = gzipSync(body);
  const response = await fetch(server.url, { method: "POST", body });
  const answer = (await response.json()) as { bytes: number };
  if (answer.bytes !== body.length) throw new Error(`server got ${answer.bytes} of ${body.length} bytes`);
  writeFileSync(archive, gz);
}

async function streaming(value: Auction, gzip?: GzipOptions): Promise<void> {
  const report = await runPipeline(value, { url: server.url, archive, gzip });
  if (report.upload.error !== undefined) throw report.upload.error;
}

for (const mb of [20, 100, 300]) {
  suite({
    title: `pipeline ${mb} MB`,
    input: () => flatten(makeAuction(mb * 1e6)),
    bytes: mb * 1e6,
    cases: {
      "eager (stringify, gzipSync, fetch whole)": eager,
      "sluice, gzip on the pool (default size: cores - 1)": (value) => streaming(value, { worker: builtCompressionWorker }),
      "sluice, gzip on the pool, workers: 2": (value) => streaming(value, { worker: builtCompressionWorker, workers: 2 }),
      "sluice, native gzip (zlib)": (value) => streaming(value, { engine: "native" }),
      "sluice, gzip in this thread": (value) => streaming(value, {}),
    },
    runs: mb >= 300 ? 2 : 3,
    warmup: mb >= 300 ? 0 : 1,
  });
}

try {
  await main(import.meta.url);
} finally {
  await server.close();
  rmSync(archive, { force: true });
}
