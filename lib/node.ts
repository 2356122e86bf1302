/**
 * The Node-only face of sluice (`sluice/node`): a `worker_threads` worker for
 * `GzipStream`'s `worker` option, a file sink that never leaves a
 * half-written file behind, and a pipe from a web stream into a Node response
 * that keeps backpressure. Also works in Deno through its Node compatibility.
 * @module
 */

import { randomBytes } from "node:crypto";
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { CompressionWorker } from "./_gzip_pool.ts";
import { startThread, workerUrl } from "./_node_threads.ts";
import { describeValue, optionsObject } from "./_internal.ts";

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

/** Options of {@linkcode pipeToNode}. */
export interface PipeToNodeOptions {
  /**
   * Aborting it stops the pipe: the source is cancelled and the destination
   * destroyed, both with the abort reason, and the returned promise rejects
   * with it.
   */
  signal?: AbortSignal;
}

/**
 * What {@linkcode pipeToNode} writes into: a `Writable`, an `http`
 * `ServerResponse` or an `http2` `Http2ServerResponse` (whose compatibility
 * API has the same methods and events).
 */
export type NodeDestination = Pick<Writable, "write" | "end" | "destroy" | "on" | "off">;

/** Why {@linkcode pipeToNode} cancels its source when the destination closes before the end. */
export class DestinationClosedError extends Error {
  constructor() {
    super("pipeToNode: the destination closed before the end (for a response: the client went away)");
    this.name = "DestinationClosedError";
  }
}

function noop(): void {}

/**
 * Pipes a web `ReadableStream` into a Node `Writable` or HTTP response, with
 * backpressure: when `write` returns `false`, the next chunk is read only after
 * `'drain'`. So a client that stops reading holds what its socket buffers plus
 * one chunk, never the whole source (`readable.pipeTo(Writable.toWeb(res))` on
 * Node 20 has no such bound: the source is read as fast as it produces).
 * When the source closes, the destination is ended and the promise resolves
 * once it has emitted `'finish'` (for a response: the last bytes were handed
 * to the operating system).
 *
 * For events, keep Nagle's algorithm off on the response's socket (Node's
 * `http` server does so by default, `noDelay: true`): with it on, an event
 * may wait for the client's delayed acknowledgement of the one before
 * (measured on loopback: p99 9.4 ms instead of 41 µs).
 *
 * **Cancellation behavior:** when the destination closes before the end (a
 * response's client went away: its socket closed), the source is cancelled
 * with a {@linkcode DestinationClosedError} and the promise rejects with it;
 * through an {@linkcode SseEncoderStream}, that rejects the producer's pending
 * `write`. When `options.signal` aborts, the source is cancelled and the
 * destination destroyed (a response is then cut off, so the client sees an
 * incomplete body, never a complete-looking one), both with the abort reason,
 * and the promise rejects with it.
 *
 * **Error behavior:** when the source errors, the destination is destroyed
 * with that error (for a response: the connection is dropped without the
 * final chunk) and the promise rejects with it. When the destination emits
 * `'error'` (or `write` throws), the source is cancelled with that error and
 * the promise rejects with it. The promise never rejects for another reason.
 *
 * @example Serve server-sent events to a client that may stall or leave
 * ```ts
 * import { createServer } from "node:http";
 * import { pipeToNode } from "sluice/node";
 * import { SseEncoderStream } from "sluice/sse";
 *
 * const server = createServer((req, res) => {
 *   res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
 *   const sse = new SseEncoderStream({ keepAliveMs: 15_000 });
 *   pipeToNode(sse.readable, res).catch(() => {}); // rejects when the client leaves
 *   const writer = sse.writable.getWriter();
 *   void writer.write({ data: "hello" }).then(() => writer.close());
 * });
 * await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
 * const { port } = server.address() as import("node:net").AddressInfo;
 * console.log(await (await fetch(`http://127.0.0.1:${port}/`)).text()); // "data: hello\n\n"
 * server.close();
 * ```
 *
 * @param source The stream to send; it is locked until the pipe ends.
 * @param destination A Node `Writable`, `ServerResponse` or `Http2ServerResponse`.
 * @param options See {@linkcode PipeToNodeOptions}.
 * @returns A promise that resolves once every chunk was written and the destination finished.
 * @throws {TypeError} when `source` is not a `ReadableStream` or is locked, `destination` has no
 *   `write`/`end`/`destroy`/`on`/`off` methods, or `options.signal` is not an `AbortSignal`.
 */
export function pipeToNode(
  source: ReadableStream<Uint8Array | string>,
  destination: NodeDestination,
  options: PipeToNodeOptions = {},
): Promise<void> {
  if (typeof (source as ReadableStream | null)?.getReader !== "function") {
    throw new TypeError(`Cannot pipeToNode: source must be a ReadableStream, got ${describeValue(source)}`);
  }
  if (source.locked) throw new TypeError("Cannot pipeToNode: source is locked (it already has a reader or is being piped)");
  for (const method of ["write", "end", "destroy", "on", "off"] as const) {
    if (typeof (destination as Partial<NodeDestination> | null)?.[method] !== "function") {
      throw new TypeError(
        `Cannot pipeToNode: destination must be a Node Writable or response (with a ${method} method), got ${describeValue(destination)}`,
      );
    }
  }
  options = optionsObject(options, "Cannot pipeToNode");
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot pipeToNode: options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  const reader = source.getReader();
  const state = destination as Partial<Pick<Writable, "destroyed" | "writableEnded">>;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let finished = false;
    let drained: (() => void) | undefined;
    const onDrain = (): void => {
      const wake = drained;
      drained = undefined;
      wake?.();
    };
    const onFinish = (): void => {
      finished = true;
      if (settle()) resolve();
    };
    const onClose = (): void => {
      if (!finished) stop(new DestinationClosedError(), "cancel");
    };
    const onError = (error: unknown): void => stop(error, "cancel");
    const onAbort = (): void => stop(signal!.reason, "both");
    /** Marks the pipe as over and removes its listeners; false when it already was. */
    function settle(): boolean {
      if (settled) return false;
      settled = true;
      destination.off("drain", onDrain);
      destination.off("finish", onFinish);
      destination.off("close", onClose);
      destination.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
      onDrain();
      return true;
    }
    function stop(reason: unknown, how: "cancel" | "destroy" | "both"): void {
      if (!settle()) return;
      if (how !== "destroy") reader.cancel(reason).catch(noop);
      if (how !== "cancel") {
        // Our listener is gone: an 'error' from destroy() must not become an uncaught exception.
        destination.on("error", noop);
        destination.destroy(reason instanceof Error ? reason : undefined);
      }
      reject(reason);
    }
    destination.on("drain", onDrain);
    destination.on("finish", onFinish);
    destination.on("close", onClose);
    destination.on("error", onError);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort);
    if (state.destroyed === true || state.writableEnded === true) return onClose();
    // The source may error while the pipe waits for 'drain' (no read pending): a client that has
    // stopped reading must not keep its connection once its source has failed.
    reader.closed.catch((error: unknown) => stop(error, "destroy"));

    void (async () => {
      for (;;) {
        let result: ReadableStreamReadResult<Uint8Array | string>;
        try {
          result = await reader.read();
        } catch (error) {
          return stop(error, "destroy");
        }
        if (settled) return;
        if (result.done) break;
        let ok: boolean;
        try {
          ok = destination.write(result.value);
        } catch (error) {
          // For example a destination that was ended by someone else.
          return stop(error, "both");
        }
        if (!ok) {
          await new Promise<void>((wake) => (drained = wake));
          if (settled) return;
        }
      }
      reader.releaseLock();
      destination.end();
    })();
  });
}
