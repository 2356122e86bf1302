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
import type { CompressionWorker } from "./_gzip_pool.ts";
import { startThread, workerUrl } from "./_node_threads.ts";
import { describeValue } from "./_internal.ts";

/**
 * Starts one thread of sluice's compression pool on `worker_threads`: pass it as
 * `GzipStream`'s (or `DeflateStream`'s) `worker` option to have that stream's blocks
 * compressed by a pool of such threads. `worker: true` does the same in Node 20.16 and
 * later, so this is for older Node versions and for code written before; both give the same
 * bytes as the calling thread. Input blocks and output are moved between threads, not
 * copied. In Deno it starts a module Web Worker instead.
 *
 * When sluice runs from its TypeScript sources in Node (tsx, Vitest), the worker loads them
 * through tsx (`tsx/cjs`), which must then be installed; the built package needs nothing.
 *
 * A thread keeps the process alive only while it has work: an idle pool, or a stream that
 * is abandoned without being cancelled, does not hold the process open.
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
  return startThread({ Worker: Worker as never, fileURLToPath });
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
 * **Cancellation behavior:** aborting the stream (for example a pipe whose source errored)
 * closes and deletes the temporary file; nothing is left at `path` or beside it.
 *
 * **Error behavior:** a failing write, flush or rename errors the stream and deletes the
 * temporary file. A `path` that is not a string or a `file:` URL is a `TypeError`.
 *
 * @example Write a stream to a file
 * ```ts
 * import { fileSink } from "sluice/node";
 *
 * const sink = fileSink("/tmp/sluice-example.txt");
 * await new Blob(["hello"]).stream().pipeTo(sink);
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
  const sink = new WritableStream<Uint8Array>({
    start() {
      // "wx": never reuse someone else's file of the same name.
      opening = open(temp, "wx");
      return guarded(async () => {
        handle = await opening!;
      });
    },
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) {
        return cleanUp().then(() => {
          throw new TypeError(`fileSink expects Uint8Array chunks, got ${describeValue(chunk)}`);
        });
      }
      return guarded(async () => {
        for (let offset = 0; offset < chunk.length;) {
          const { bytesWritten } = await handle!.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      });
    },
    close() {
      return guarded(async () => {
        await handle!.sync();
        await handle!.close();
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
