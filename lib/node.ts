/**
 * The Node-only face of sluice (`sluice/node`): a `worker_threads` worker for
 * `GzipStream`'s `worker` option, and a file sink that never leaves a
 * half-written file behind. Also works in Deno through its Node compatibility.
 * @module
 */

import { randomBytes } from "node:crypto";
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { describeValue } from "./_internal.ts";
import type { CompressionWorker } from "./gzip.ts";

// The worker module sits beside this one, with the same extension: .ts when sluice runs from
// its sources (tsx, Vitest, Deno), .js from the build.
const fromSources = new URL(import.meta.url).pathname.endsWith(".ts");
const workerUrl = fromSources ? new URL("./gzip_worker.ts", import.meta.url) : new URL("./gzip_worker.js", import.meta.url);

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
 * Starts sluice's compression worker on a `worker_threads` thread: pass it as
 * `GzipStream`'s (or `DeflateStream`'s) `worker` option in Node, where there is no global
 * `Worker`. The output bytes are the same as on the main thread. Input blocks and output
 * chunks are moved between threads, not copied, and at most four 64 KiB blocks are in
 * flight, so backpressure holds. In Deno it starts a module Web Worker instead.
 *
 * When sluice runs from its TypeScript sources in Node (tsx, Vitest), the worker loads them
 * through tsx (`tsx/cjs`), which must then be installed; the built package needs nothing.
 *
 * The thread keeps the process alive only while it has work: a stream that is abandoned
 * without being cancelled does not hold the process open.
 *
 * @example Gzip on another thread in Node
 * ```ts
 * import { GzipStream } from "sluice/gzip";
 * import { nodeCompressionWorker } from "sluice/node";
 *
 * const gz = new Blob(["x".repeat(1 << 20)]).stream()
 *   .pipeThrough(new GzipStream({ level: 9, worker: nodeCompressionWorker }));
 * console.log((await new Response(gz).arrayBuffer()).byteLength < 5000); // true
 * ```
 */
export function nodeCompressionWorker(): CompressionWorker {
  if ("Deno" in globalThis && typeof globalThis.Worker === "function") {
    return new globalThis.Worker(workerUrl, { type: "module" }) as unknown as CompressionWorker;
  }
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { url: workerUrl.href, path: fileURLToPath(workerUrl), tsx: fromSources && !process.execArgv.includes("--experimental-strip-types") },
  });
  // Requests ("block", "end") that have not been answered yet; the thread is ref'd only then.
  let outstanding = 0;
  worker.unref();
  const adapter: CompressionWorker = {
    onmessage: null,
    onerror: null,
    postMessage(message, transfer) {
      const type = (message as { type?: string }).type;
      if (type === "block" || type === "end") {
        if (outstanding++ === 0) worker.ref();
      }
      worker.postMessage(message, transfer as never);
    },
    terminate() {
      void worker.terminate();
    },
  };
  worker.on("message", (data: { type?: string }) => {
    if ((data.type === "out" || data.type === "end") && --outstanding === 0) worker.unref();
    adapter.onmessage?.({ data });
  });
  worker.on("error", (error) => adapter.onerror?.(error));
  return adapter;
}

/** A `WritableStream` that writes a file; see {@linkcode fileSink}. */
export interface FileSink extends WritableStream<Uint8Array> {
  /** Where the file appears when the stream closes. */
  readonly path: string;
}

/**
 * A `WritableStream` that writes bytes to a file at `path` so that a reader never sees a
 * half-written file there: the bytes go to a temporary file beside `path` (same directory,
 * so the rename cannot cross file systems), which is flushed to disk (`fsync`) and renamed over
 * `path` when the stream closes. An existing file at `path` is replaced atomically.
 *
 * The temporary file is created at the first write (or at close, for an empty file), so a
 * sink that is never written to leaves nothing behind, even if it is neither closed nor aborted.
 *
 * **Cancellation behavior:** aborting the stream (for example a pipe whose source errored)
 * closes and deletes the temporary file; nothing is left at `path` or beside it.
 *
 * **Error behavior:** a failing write, flush or rename errors the stream and deletes the
 * temporary file. A `path` that is not a string or a `file:` URL is a `TypeError`.
 *
 * @example Write a stream to a file
 * ```ts
 * import { readFile } from "node:fs/promises";
 * import { fileSink } from "sluice/node";
 *
 * const sink = fileSink("/tmp/sluice-example.txt");
 * await new Blob(["hello"]).stream().pipeTo(sink);
 * console.log(await readFile("/tmp/sluice-example.txt", "utf8")); // "hello"
 * ```
 */
export function fileSink(path: string | URL): FileSink {
  let target: string;
  if (path instanceof URL) {
    if (path.protocol !== "file:") throw new TypeError(`Cannot create fileSink: path must be a file: URL, got ${path.protocol} URL`);
    target = fileURLToPath(path);
  } else if (typeof path === "string" && path !== "") {
    target = path;
  } else {
    throw new TypeError(`Cannot create fileSink: path must be a non-empty string or a file: URL, got ${describeValue(path)}`);
  }
  // At most 50 characters (200 bytes of UTF-8) of the name, so that a target name near the file
  // system's limit of 255 bytes still leaves room for the temporary's prefix and suffix.
  const stem = Array.from(basename(target)).slice(0, 50).join("");
  const temp = join(dirname(target), `.${stem}.${randomBytes(6).toString("hex")}.tmp`);
  let handle: FileHandle | undefined;
  let opening: Promise<FileHandle> | undefined;
  const cleanUp = async () => {
    const h = handle ?? (await opening?.catch(() => undefined));
    handle = undefined;
    await h?.close().catch(() => {});
    await unlink(temp).catch(() => {});
  };
  const guarded = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      await cleanUp();
      throw error;
    }
  };
  // Opened at the first write (or at close, for an empty file), not at creation: a sink that is
  // never written to (dropped, or handed to a call that failed) leaves nothing behind.
  const opened = async (): Promise<FileHandle> => {
    if (handle === undefined) {
      // "wx": never reuse someone else's file of the same name.
      opening = open(temp, "wx");
      handle = await opening;
    }
    return handle;
  };
  const sink = new WritableStream<Uint8Array>({
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) {
        return cleanUp().then(() => {
          throw new TypeError(`fileSink expects Uint8Array chunks, got ${describeValue(chunk)}`);
        });
      }
      return guarded(async () => {
        const handle = await opened();
        for (let offset = 0; offset < chunk.length;) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      });
    },
    close() {
      return guarded(async () => {
        const h = await opened();
        await h.sync();
        await h.close();
        handle = undefined;
        await rename(temp, target);
      });
    },
    abort() {
      return cleanUp();
    },
  });
  Object.defineProperty(sink, "path", { value: target, enumerable: true });
  return sink as FileSink;
}
