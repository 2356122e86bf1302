// The compression worker as a user of the package starts it: from the build (dist/), not
// from the TypeScript sources. From the sources, Node 20 must load tsx inside the worker
// thread to run gzip_worker.ts, which costs a user of the built package nothing and
// would add about 20 MB to every peak measured here. The benchmark process (not its
// memory children, which find the build already made) builds dist/ first.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CompressionWorkerFactory } from "../../lib/gzip.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
if (!process.argv.includes("--memory")) {
  const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
}
const built = (await import(new URL("../../dist/node.js", import.meta.url).href)) as {
  nodeCompressionWorker: CompressionWorkerFactory;
};

/** `nodeCompressionWorker` from the build: its thread runs dist/gzip_worker.js. */
export const builtCompressionWorker: CompressionWorkerFactory = built.nodeCompressionWorker;
