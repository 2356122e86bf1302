/**
 * Node's `worker_threads` behind the `CompressionWorker` shape of a Web Worker, for the
 * shared compression pool. It imports nothing: the caller passes Node's `Worker` class
 * (`sluice/node` imports it; the pool reaches it through `process.getBuiltinModule`), so
 * that `sluice/gzip` loads no Node built-in where there is none.
 * Not part of the public API: names and shapes here may change in any release.
 * @module
 */

import type { CompressionWorker } from "./_gzip_pool.ts";

/** The parts of `node:worker_threads` and `node:url` used here. */
export interface NodeThreads {
  Worker: new (code: string, options: { eval: true; workerData: unknown; execArgv?: string[] }) => NodeThread;
  fileURLToPath(url: URL): string;
}

interface NodeThread {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: "message", listener: (data: unknown) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  on(event: "exit", listener: (code: number) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

// The worker module sits beside this one, with the same extension: .ts when sluice runs from
// its sources (tsx, Vitest, Deno), .js from the build. Not literals inside `new URL(...)`, so
// that a bundler making a browser build does not copy the worker as a plain asset from here.
const WORKER_TS = "./gzip_worker.ts";
const WORKER_JS = "./gzip_worker.js";
/** The compression worker module. */
export const workerUrl: URL = new URL(new URL(import.meta.url).pathname.endsWith(".ts") ? WORKER_TS : WORKER_JS, import.meta.url);

// Gives the worker module the `onmessage`/`postMessage` globals of a Web Worker, holding
// messages that arrive while the module is still loading. From TypeScript sources in Node the
// module is loaded through tsx's require hook (Node 20 does not run --import hooks in workers).
const BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
let early = [];
globalThis.postMessage = (message, transfer) => parentPort.postMessage(message, transfer);
parentPort.on("message", (data) => {
  if (early) early.push(data); else globalThis.onmessage({ data });
});
const ready = () => {
  for (const data of early.splice(0)) globalThis.onmessage({ data });
  early = null;
};
if (workerData.tsx) {
  require("tsx/cjs");
  require(workerData.path);
  ready();
} else {
  import(workerData.url).then(ready, (error) => { setTimeout(() => { throw error; }); });
}
`;

/**
 * Starts the module at `url` (a compression worker) on a `worker_threads` thread, unref'ed:
 * the pool refs it while it has work. Its death (an uncaught error, or an exit it was not
 * asked for) is reported through `onerror`.
 */
export function startThread(node: NodeThreads, url: URL = workerUrl): CompressionWorker {
  const execArgv = (globalThis as { process?: { execArgv?: string[] } }).process?.execArgv ?? [];
  const worker = new node.Worker(BOOTSTRAP, {
    eval: true,
    // The bootstrap is CommonJS, whatever `--input-type` the process was started with; other
    // flags are inherited as Node does by default (some, like --max-old-space-size, may not be passed).
    ...(execArgv.some((a) => a.startsWith("--input-type")) ? { execArgv: execArgv.filter((a) => !a.startsWith("--input-type")) } : {}),
    workerData: {
      url: url.href,
      path: url.protocol === "file:" ? node.fileURLToPath(url) : "",
      tsx: url.pathname.endsWith(".ts") && !execArgv.includes("--experimental-strip-types"),
    },
  });
  let terminated = false;
  worker.unref();
  const adapter: CompressionWorker = {
    onmessage: null,
    onerror: null,
    postMessage(message, transfer) {
      worker.postMessage(message, transfer);
    },
    terminate() {
      terminated = true;
      void worker.terminate();
    },
    ref: () => worker.ref(),
    unref: () => worker.unref(),
  };
  worker.on("message", (data: unknown) => {
    adapter.onmessage?.({ data });
  });
  worker.on("error", (error) => adapter.onerror?.(error));
  worker.on("exit", (code) => {
    if (!terminated) adapter.onerror?.({ message: `the worker thread exited (code ${code})` });
  });
  return adapter;
}
