/**
 * Archive capture: a compressed copy of what is being streamed, written
 * somewhere safe without holding it whole, plus sinks that never leave a
 * half-written archive behind (a Blob everywhere, an OPFS file in browsers;
 * files in Node come from `sluice/node`).
 * @module
 */

import { callSafely, checkInterval, describeValue, optionsObject } from "./_internal.ts";
import { GzipStream, type GzipOptions } from "./gzip.ts";
import { MeasureStream, type TransferProgress } from "./measure.ts";
import { tee } from "./tee.ts";

/** Options of {@linkcode captureArchive}. */
export interface CaptureArchiveOptions {
  /**
   * Gzip the archive with these options, or `false` to store the bytes as they are.
   * @default {} (gzip at level 6, reproducible bytes)
   */
  gzip?: GzipOptions | false;
  /**
   * When true, the consumer of `stream` may cancel it or fall away (for example a failed
   * upload) and the archive still gets every byte. When false, cancelling `stream` cancels the
   * source and fails the archive.
   * @default true
   */
  bestEffortStream?: boolean;
  /**
   * How many bytes each side may hold unread before it slows the source.
   * @default 1048576
   */
  highWaterMark?: number;
  /**
   * Called while the source is read, as `MeasureStream`'s `onProgress` is (the source's bytes,
   * chunks, rate, and the time it waited for the slower of the two consumers), with the bytes
   * stored so far; at most once per `interval` ms, and once more with `done: true` when the
   * archive has closed or failed, just before `archived` settles.
   * @default undefined
   */
  onProgress?: (progress: ArchiveProgress) => void;
  /**
   * The least time between two progress reports, in milliseconds (`0`: every change, `Infinity`:
   * only the final report).
   * @default 100
   */
  interval?: number;
}

/** A progress report of {@linkcode captureArchive}: the source's progress and the bytes stored so far. */
export interface ArchiveProgress extends TransferProgress {
  /** Bytes written to the sink so far (after gzip). */
  storedBytes: number;
}

/** What {@linkcode captureArchive} reports once the archive is safely closed. */
export interface ArchiveReport {
  /** Bytes of the source, all of which are in the archive. */
  bytes: number;
  /** Bytes written to the sink (after gzip). */
  storedBytes: number;
  /** Milliseconds from the call to the sink's close. */
  durationMs: number;
}

/** What {@linkcode captureArchive} returns. */
export interface CapturedArchive {
  /** The source's bytes, to be consumed as the source would have been. */
  stream: ReadableStream<Uint8Array>;
  /** Resolves once the sink has closed with the whole archive; rejects if it cannot be complete. */
  archived: Promise<ArchiveReport>;
}

/**
 * Passes a byte stream on while writing a (gzipped) copy of it to `sink`.
 *
 * The source is split with sluice's `tee`: the archive is a required branch, `stream` a
 * best-effort one (unless `bestEffortStream: false`), so memory stays bounded by the two
 * high-water marks and the archive never misses a byte because of the other consumer. The
 * source is read as fast as the slower of the two consumers reads.
 *
 * **Cancellation behavior:** cancelling `stream` with `bestEffortStream` (the default) drops
 * it: the source goes on into the archive alone. With `bestEffortStream: false` it cancels
 * the source with the same reason, aborts the sink and rejects `archived`.
 *
 * **Error behavior:** if the source errors, `stream` errors with the same reason, the sink is
 * aborted (so a file sink deletes its temporary file) and `archived` rejects with the reason: a
 * truncated archive is never reported as complete. If the sink fails, the source is cancelled,
 * `stream` errors with the sink's error and `archived` rejects with it.
 *
 * @example Keep a gzipped copy of a body in a Blob
 * ```ts
 * import { blobSink, captureArchive } from "sluice/archive";
 *
 * const sink = blobSink();
 * const { stream, archived } = captureArchive(new Blob(["hello, archive"]).stream(), sink);
 * console.log(await new Response(stream).text()); // "hello, archive"
 * console.log((await archived).bytes); // 14
 * const copy = (await sink.blob).stream().pipeThrough(new DecompressionStream("gzip"));
 * console.log(await new Response(copy).text()); // "hello, archive"
 * ```
 *
 * @example Follow the archive while it is written
 * ```ts
 * import { type ArchiveProgress, blobSink, captureArchive } from "sluice/archive";
 *
 * let last: ArchiveProgress | undefined;
 * const { stream, archived } = captureArchive(new Blob(["abc"]).stream(), blobSink(), {
 *   onProgress: (p) => (last = p), // for example: show p.bytes, p.storedBytes and p.bytesPerSecond
 * });
 * await stream.cancel(); // nobody reads it here: the archive goes on alone
 * const report = await archived; // the final progress report came just before
 * console.log(last?.done, last?.bytes, last?.storedBytes === report.storedBytes); // true, 3, true
 * ```
 *
 * A call that throws aborts `sink` (when it is an unlocked `WritableStream`) with the same
 * error, so a file sink leaves no temporary file behind and a Blob sink's `blob` rejects.
 *
 * @throws {TypeError} when `source` is not an unlocked `ReadableStream`, `sink` is not a
 * `WritableStream`, or an option has the wrong type.
 * @throws {RangeError} for a bad gzip option (see `GzipStream`), `highWaterMark` or `interval`.
 */
export function captureArchive(
  source: ReadableStream<Uint8Array>,
  sink: WritableStream<Uint8Array>,
  options: CaptureArchiveOptions = {},
): CapturedArchive {
  try {
    return capture(source, sink, options);
  } catch (error) {
    // The sink of a call that failed is never written to: abort it, so that a sink holding
    // something (a temporary file, an OPFS entry) lets it go. A locked one is someone else's.
    if (typeof (sink as { abort?: unknown })?.abort === "function" && sink.locked === false) sink.abort(error).catch(() => {});
    throw error;
  }
}

function capture(source: ReadableStream<Uint8Array>, sink: WritableStream<Uint8Array>, options: CaptureArchiveOptions): CapturedArchive {
  const name = "Cannot capture archive";
  if (typeof (source as { getReader?: unknown })?.getReader !== "function") {
    throw new TypeError(`${name}: source must be a ReadableStream, got ${describeValue(source)}`);
  }
  if (typeof (sink as { getWriter?: unknown })?.getWriter !== "function") {
    throw new TypeError(`${name}: sink must be a WritableStream, got ${describeValue(sink)}`);
  }
  if (sink.locked) throw new TypeError(`${name}: sink is locked (it already has a writer or a pipe)`);
  options = optionsObject(options, name);
  const { gzip = {}, bestEffortStream = true, highWaterMark = 1 << 20, onProgress, interval = 100 } = options;
  if (gzip !== false && (typeof gzip !== "object" || gzip === null)) {
    throw new TypeError(`${name}: gzip must be GzipStream options or false, got ${describeValue(gzip)}`);
  }
  if (typeof bestEffortStream !== "boolean") {
    throw new TypeError(`${name}: bestEffortStream must be a boolean, got ${describeValue(bestEffortStream)}`);
  }
  if (typeof highWaterMark !== "number" || !(highWaterMark >= 0) || highWaterMark === Infinity) {
    throw new RangeError(`${name}: highWaterMark must be a finite non-negative number, got ${describeValue(highWaterMark)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(`${name}: onProgress must be a function, got ${describeValue(onProgress)}`);
  }
  checkInterval(name, interval);
  // Built before the tee so that a bad gzip option throws before the source is locked.
  const compress = gzip === false ? undefined : new GzipStream(gzip);
  const started = performance.now();
  let storedBytes = 0;
  let last: TransferProgress | undefined;
  // The source is measured where the tee reads it, so a stall is the slower consumer's.
  const measure = onProgress && new MeasureStream({
    interval,
    onProgress: (p) => (p.done ? (last = p) : onProgress({ ...p, storedBytes })),
  });
  if (measure && source.locked) throw new TypeError("Cannot tee: source is locked (it already has a reader or is being piped)");
  const { branches: [stream, archive] } = tee(measure ? source.pipeThrough(measure) : source, [
    { bestEffort: bestEffortStream, highWaterMark },
    { highWaterMark },
  ]);

  // Counting is done with a reading wrapper and a writing wrapper rather than with extra
  // TransformStreams: Node 20 loses the cancel reason across two chained TransformStreams
  // (the source would see a TypeError instead of the sink's error).
  let bytes = 0;
  const reader = archive!.getReader();
  let body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await reader.read();
      if (r.done) return controller.close();
      bytes += r.value.byteLength;
      controller.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  if (compress) body = body.pipeThrough(compress);
  const writer = sink.getWriter();
  const counted = new WritableStream<Uint8Array>({
    async write(chunk) {
      await writer.ready;
      storedBytes += chunk.byteLength;
      // Not awaited, so the sink's own queue keeps writes overlapping; a failure shows in
      // `ready` at the next write or in `close()`.
      writer.write(chunk).catch(() => {});
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
  let archived = body.pipeTo(counted).then(() => ({
    bytes,
    storedBytes,
    durationMs: performance.now() - started,
  }));
  if (measure) {
    archived = archived.finally(async () => {
      await measure.report;
      callSafely(onProgress!, { ...last!, storedBytes });
    });
  }
  return { stream: stream!, archived };
}

/** A `WritableStream` that collects bytes into a `Blob`; see {@linkcode blobSink}. */
export interface BlobSink extends WritableStream<Uint8Array> {
  /** Resolves with the whole Blob when the stream closes; rejects with the reason if it is aborted. */
  readonly blob: Promise<Blob>;
}

/** Options of {@linkcode blobSink}. */
export interface BlobSinkOptions {
  /** The Blob's MIME type. @default "" */
  type?: string;
}

/** Parts are folded into a Blob every this many bytes, so the platform can keep them out of the JS heap. */
const FOLD_BYTES = 4 << 20;

/**
 * A `WritableStream` that collects bytes into a `Blob`, available as `sink.blob` once the
 * stream closes. Works everywhere. Parts are folded into a Blob every 4 MiB, which lets
 * browsers move them to their blob storage (Chromium keeps large blobs on disk) instead of the
 * JavaScript heap; the Blob copies the bytes, so writers may reuse their chunks afterwards.
 *
 * **Cancellation behavior:** aborting the stream drops what was collected and rejects `blob`
 * with the reason (the rejection is marked handled, so an unobserved `blob` is no error).
 *
 * **Error behavior:** a chunk that is not a `Uint8Array` errors the stream with a `TypeError`
 * and rejects `blob`.
 *
 * @example Collect a stream into a Blob
 * ```ts
 * import { blobSink } from "sluice/archive";
 *
 * const sink = blobSink({ type: "text/plain" });
 * await new Blob(["abc", "def"]).stream().pipeTo(sink);
 * console.log(await (await sink.blob).text()); // "abcdef"
 * ```
 */
export function blobSink(options: BlobSinkOptions = {}): BlobSink {
  options = optionsObject(options, "Cannot create blobSink");
  const type = options.type ?? "";
  if (typeof type !== "string") throw new TypeError(`Cannot create blobSink: type must be a string, got ${describeValue(type)}`);
  let resolve!: (blob: Blob) => void;
  let reject!: (reason: unknown) => void;
  const blob = new Promise<Blob>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  blob.catch(() => {});
  let folded: Blob = new Blob([], { type });
  let parts: BlobPart[] = [];
  let partBytes = 0;
  const fold = () => {
    folded = new Blob([folded, ...parts], { type });
    parts = [];
    partBytes = 0;
  };
  const sink = new WritableStream<Uint8Array>({
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) {
        const error = new TypeError(`blobSink expects Uint8Array chunks, got ${describeValue(chunk)}`);
        reject(error);
        throw error;
      }
      // Copied now: a Blob made later would see whatever the writer put there meanwhile.
      parts.push(chunk.slice());
      partBytes += chunk.length;
      if (partBytes >= FOLD_BYTES) fold();
    },
    close() {
      fold();
      resolve(folded);
    },
    abort(reason) {
      parts = [];
      folded = new Blob([]);
      reject(reason);
    },
  });
  Object.defineProperty(sink, "blob", { value: blob, enumerable: true });
  return sink as BlobSink;
}

/** A `WritableStream` that writes an OPFS file; see {@linkcode opfsSink}. */
export interface OpfsSink extends WritableStream<Uint8Array> {
  /** The file's name in the origin's private file system root. */
  readonly name: string;
}

interface OpfsFileHandle {
  createWritable(options?: { keepExistingData?: boolean }): Promise<WritableStream<BufferSource> & { abort(reason?: unknown): Promise<void> }>;
  move?(name: string): Promise<void>;
}
interface OpfsDirectory {
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFileHandle>;
  removeEntry(name: string): Promise<void>;
}

/**
 * A `WritableStream` that writes a file named `name` in the browser's Origin Private File
 * System so that no reader sees it half-written: the bytes go to a temporary file beside it,
 * which is renamed to `name` (replacing any file there) only when the stream closes.
 * Chromium and Firefox have OPFS on the main thread; elsewhere (Node, Deno, old Safari)
 * calling `opfsSink` throws a `TypeError` (in Node or Deno, use `fileSink` from `sluice/node`).
 *
 * **Cancellation behavior:** aborting the stream (for example a pipe whose source errored)
 * discards the temporary file; nothing is left under `name` or beside it.
 *
 * **Error behavior:** a failing write or rename errors the stream and removes the temporary file.
 *
 * @example Store a stream in OPFS and read it back
 * ```ts ignore
 * import { opfsSink } from "sluice/archive";
 *
 * await new Blob(["saved"]).stream().pipeTo(opfsSink("example.txt"));
 * const root = await navigator.storage.getDirectory();
 * console.log(await (await (await root.getFileHandle("example.txt")).getFile()).text()); // "saved"
 * ```
 *
 * @throws {TypeError} when OPFS is missing, or `name` is not a valid file name.
 */
export function opfsSink(name: string): OpfsSink {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<unknown> } } }).navigator?.storage;
  if (typeof storage?.getDirectory !== "function") {
    throw new TypeError(
      "Cannot create opfsSink: this runtime has no Origin Private File System (navigator.storage.getDirectory); in Node or Deno use fileSink from \"sluice/node\"",
    );
  }
  if (typeof name !== "string" || name === "" || name === "." || name === ".." || /[/\\\0]/.test(name)) {
    throw new TypeError(`Cannot create opfsSink: name must be a file name without slashes, got ${describeValue(name)}`);
  }
  const temp = `.${name}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  let dir: OpfsDirectory | undefined;
  let handle: OpfsFileHandle | undefined;
  let writer: WritableStreamDefaultWriter<BufferSource> | undefined;
  const discard = async (reason?: unknown) => {
    await writer?.abort(reason).catch(() => {});
    writer = undefined;
    if (dir === undefined) return;
    // Chromium may still hold the file's lock for a moment after the writable was aborted
    // (removeEntry then fails with NoModificationAllowedError): try again a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        await dir.removeEntry(temp);
        return;
      } catch (error) {
        if ((error as { name?: unknown })?.name === "NotFoundError" || attempt === 8) return;
        await new Promise((resolve) => setTimeout(resolve, 5 << attempt));
      }
    }
  };
  const guarded = async (step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      await discard(error);
      throw error;
    }
  };
  const sink = new WritableStream<Uint8Array>({
    start: () =>
      guarded(async () => {
        dir = (await storage.getDirectory!()) as OpfsDirectory;
        handle = await dir.getFileHandle(temp, { create: true });
        if (typeof handle.createWritable !== "function") {
          // Safari before 26 writes OPFS files only from a worker, through sync access handles.
          throw new TypeError("opfsSink: this browser cannot write OPFS files from this thread (FileSystemFileHandle.createWritable is missing)");
        }
        writer = (await handle.createWritable()).getWriter();
      }),
    write: (chunk) =>
      guarded(async () => {
        if (!(chunk instanceof Uint8Array)) throw new TypeError(`opfsSink expects Uint8Array chunks, got ${describeValue(chunk)}`);
        await writer!.write(chunk as Uint8Array<ArrayBuffer>);
      }),
    close: () =>
      guarded(async () => {
        await writer!.close();
        writer = undefined;
        if (typeof handle!.move !== "function") {
          throw new TypeError("opfsSink: this browser's OPFS cannot rename files (FileSystemHandle.move)");
        }
        try {
          await handle!.move(name);
        } catch {
          // Some engines refuse to move over an existing file: remove it and move again.
          await dir!.removeEntry(name).catch(() => {});
          await handle!.move(name);
        }
      }),
    abort: (reason) => discard(reason),
  });
  Object.defineProperty(sink, "name", { value: name, enumerable: true });
  return sink as OpfsSink;
}
