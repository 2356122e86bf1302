/**
 * gzip and raw deflate as `TransformStream`s that behave the same in every
 * runtime: reproducible output bytes, verified trailers, a limit against
 * decompression bombs, and an option to compress on another thread.
 * @module
 */

import { Inflate } from "fflate";
import { BLOCK_SIZE, BlockDeflater, type CoreOptions, crc32, type FromWorker, type ToWorker } from "./_gzip.ts";
import { describeValue, readerCaughtUp } from "./_internal.ts";

/**
 * A worker that runs sluice's compressor: the part of a Web `Worker` (or of a
 * Node `worker_threads` worker wrapped by `nodeCompressionWorker` from
 * `sluice/node`) that `GzipStream` uses.
 */
export interface CompressionWorker {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  terminate(): void;
}

/** Starts one {@linkcode CompressionWorker}; each stream starts its own and terminates it when done. */
export type CompressionWorkerFactory = () => CompressionWorker;

/** Options of {@linkcode DeflateStream}. */
export interface DeflateOptions {
  /**
   * Compression level, an integer from 0 (store) to 9 (smallest). Only with the `"fflate"` engine.
   * @default 6
   */
  level?: number;
  /**
   * `"fflate"` compresses in JavaScript: any level, the same bytes in every runtime for the same
   * input and options. `"native"` uses the platform's `CompressionStream`: usually faster, but
   * no level, bytes that differ between platforms, and not available everywhere (constructing
   * throws a `TypeError` where `CompressionStream` is missing).
   * @default "fflate"
   */
  engine?: "fflate" | "native";
  /**
   * Compress on another thread (`"fflate"` engine only). `true` starts a module Web Worker
   * (browsers, Deno); in Node pass `nodeCompressionWorker` from `sluice/node`, or any
   * {@linkcode CompressionWorkerFactory}. The output bytes are the same as without a worker.
   * @default false
   */
  worker?: boolean | CompressionWorkerFactory;
}

/** Options of {@linkcode GzipStream}. */
export interface GzipOptions extends DeflateOptions {
  /**
   * Modification time stored in the header, as a `Date` or milliseconds since the epoch
   * (like `Date.now()`); stored in whole seconds. Not with the `"native"` engine.
   * @default 0 (no time stored, as reproducible builds want)
   */
  mtime?: number | Date;
  /** File name stored in the header (FNAME): Latin-1 characters only, no NUL. Not with `"native"`. */
  filename?: string;
}

/** Options of {@linkcode GunzipStream} and {@linkcode InflateStream}. */
export interface InflateOptions {
  /**
   * The most bytes the stream may output. Decompressing stops with a `RangeError` as soon as the
   * output would pass it, before those bytes are produced in memory (a gzip bomb of a few MB
   * cannot make the stream allocate gigabytes).
   * @default Infinity
   */
  maxOutputBytes?: number;
  /**
   * `"fflate"` decompresses in JavaScript and verifies everything described on the class;
   * `"native"` uses the platform's `DecompressionStream` (faster; its own error messages;
   * throws a `TypeError` at construction where it is missing). `maxOutputBytes` applies to both:
   * with a limit, the platform's decompressor is fed in slices of at most 64 KiB, fewer as the
   * limit nears, so that one slice cannot make it allocate far past the limit. In Cloudflare
   * Workers (workerd) the platform's decompressor takes every slice at once, before its output is
   * read, so there the limit stops the output but not the memory: use `"fflate"` for untrusted input.
   * @default "fflate"
   */
  engine?: "fflate" | "native";
}

/**
 * Compresses a byte stream into gzip (RFC 1952).
 *
 * With the default `"fflate"` engine the output depends only on the input bytes and the
 * options, never on how the input was cut into chunks or on the runtime: the compressor is
 * always fed blocks of 64 KiB, the header's mtime is 0 unless given, and the OS byte is 255
 * ("unknown") everywhere. Chunks are emitted as the compressor produces them (roughly one per
 * 64 KiB of input) and the rest on close.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the writable side (and so,
 * through a pipe, the source) with the same reason; a worker, if any, is terminated.
 *
 * **Error behavior:** an input chunk that is not a `Uint8Array` errors the stream with a
 * `TypeError`; a failing worker errors it with the worker's error.
 *
 * @example Compress text and check the magic bytes
 * ```ts
 * import { GzipStream } from "sluice/gzip";
 *
 * const gz = new Blob(["hello ".repeat(1000)]).stream().pipeThrough(new GzipStream({ level: 9 }));
 * const bytes = new Uint8Array(await new Response(gz).arrayBuffer());
 * console.log(bytes[0] === 0x1f && bytes[1] === 0x8b, bytes.length < 100); // true, true
 * ```
 */
export class GzipStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * @throws {RangeError} when `level` is not an integer in 0..9, `mtime` is not a valid time
   * from 1970 to 2106, or `filename` holds a NUL or a character above U+00FF.
   * @throws {TypeError} when the `"native"` engine is asked for where `CompressionStream` is
   * missing, or together with `level`, `mtime`, `filename` or `worker`; when `worker: true` is
   * asked for where there is no global `Worker` (Node); when the worker factory throws.
   */
  constructor(options: GzipOptions = {}) {
    const name = "GzipStream";
    checkObject(name, options);
    const engine = checkEngine(name, options.engine);
    if (engine === "native") {
      for (const key of ["level", "mtime", "filename", "worker"] as const) rejectWithNative(name, key, options[key]);
      const native = nativeCompression(name, "CompressionStream", "gzip");
      super();
      adopt(this, native.readable, native.writable);
      return;
    }
    const level = checkLevel(name, options.level);
    const mtime = checkMtime(name, options.mtime);
    const filename = checkFilename(name, options.filename);
    const core: CoreOptions = { level, gzip: { mtime, ...(filename === undefined ? {} : { filename }) } };
    super(compressor(name, core, checkWorker(name, options.worker)));
  }
}

/**
 * Compresses a byte stream into raw deflate (RFC 1951, no header or trailer), as
 * `CompressionStream("deflate-raw")` does. Reproducible like {@linkcode GzipStream}.
 *
 * **Cancellation behavior:** as {@linkcode GzipStream}.
 *
 * **Error behavior:** as {@linkcode GzipStream}.
 *
 * @example Deflate and inflate again
 * ```ts
 * import { DeflateStream, InflateStream } from "sluice/gzip";
 *
 * const round = new Blob(["abc".repeat(100)]).stream()
 *   .pipeThrough(new DeflateStream({ level: 1 }))
 *   .pipeThrough(new InflateStream());
 * console.log((await new Response(round).text()).length); // 300
 * ```
 */
export class DeflateStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * @throws {RangeError} when `level` is not an integer in 0..9.
   * @throws {TypeError} when the `"native"` engine is missing or combined with `level` or `worker`.
   */
  constructor(options: DeflateOptions = {}) {
    const name = "DeflateStream";
    checkObject(name, options);
    const engine = checkEngine(name, options.engine);
    if (engine === "native") {
      for (const key of ["level", "worker"] as const) rejectWithNative(name, key, options[key]);
      const native = nativeCompression(name, "CompressionStream", "deflate-raw");
      super();
      adopt(this, native.readable, native.writable);
      return;
    }
    super(compressor(name, { level: checkLevel(name, options.level) }, checkWorker(name, options.worker)));
  }
}

/**
 * Decompresses gzip, verifying what fflate's own gunzip does not: the CRC32 and length in
 * every member's trailer, and the header (magic bytes, method, reserved flags, the header
 * CRC16 when FHCRC is set). Reads multi-member files (members back to back, as `cat a.gz b.gz`
 * makes) and any chunking of them, down to one byte at a time.
 *
 * Backpressure holds within a chunk too: a large or highly compressed chunk is inflated in
 * steps of about 1 MiB of output, and past a few unread steps the stream waits for its reader,
 * so one chunk never turns into its whole output in memory at once.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the writable side (and so,
 * through a pipe, the source) with the same reason.
 *
 * **Error behavior:** the stream errors, and never closes as if complete, when the header is
 * not gzip, the deflate data is corrupt, a trailer's CRC32 or length does not match, the input
 * ends inside a member (truncated) or holds no member at all, bytes follow a member that are
 * not another member (trailing garbage, which zlib and gzip(1) skip but `DecompressionStream`
 * rejects too), or the output would pass `maxOutputBytes` (a `RangeError`). FTEXT is accepted
 * and ignored; a set reserved flag bit is an error, as RFC 1952 requires. Decompressed
 * bytes of a member are passed on before its trailer is checked: a consumer that must not act
 * on unverified data waits for the stream to close.
 *
 * @example Round-trip through GzipStream
 * ```ts
 * import { GunzipStream, GzipStream } from "sluice/gzip";
 *
 * const text = await new Response(
 *   new Blob(["sluice"]).stream().pipeThrough(new GzipStream()).pipeThrough(new GunzipStream()),
 * ).text();
 * console.log(text); // "sluice"
 * ```
 */
export class GunzipStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * @throws {RangeError} when `maxOutputBytes` is not a non-negative integer or `Infinity`.
   * @throws {TypeError} when the `"native"` engine is asked for where `DecompressionStream` is missing.
   */
  constructor(options: InflateOptions = {}) {
    const name = "GunzipStream";
    checkObject(name, options);
    const max = checkMax(name, options.maxOutputBytes);
    if (checkEngine(name, options.engine) === "native") {
      const native = nativeCompression(name, "DecompressionStream", "gzip");
      super();
      adoptLimited(this, name, native, max);
      return;
    }
    const work = { pushes: 0, headerScanned: 0 };
    super(decompressor(name, true, max, work));
    this.#work = work;
  }

  #work = { pushes: 0, headerScanned: 0 };

  /**
   * How many times the input was handed to fflate's inflater, and how many header bytes were
   * searched for the NUL ending a name or comment (0 with the native engine). For tests that
   * check input arriving in small pieces is not worked over again for each piece.
   * @internal
   */
  get _work(): { inflatePushes: number; headerBytesScanned: number } {
    return { inflatePushes: this.#work.pushes, headerBytesScanned: this.#work.headerScanned };
  }
}

/**
 * Decompresses raw deflate (RFC 1951), as `DecompressionStream("deflate-raw")` does, with the
 * same `maxOutputBytes` limit as {@linkcode GunzipStream}.
 *
 * **Cancellation behavior:** as {@linkcode GunzipStream}.
 *
 * **Error behavior:** corrupt data, input that ends before the final deflate block, bytes after
 * the end of the deflate stream, or output past `maxOutputBytes` (a `RangeError`) error the stream.
 * Raw deflate carries no checksum, and fflate checks less of its structure than zlib does (not
 * a stored block's NLEN, nor whether a Huffman code is complete): corruption that still parses
 * gives wrong bytes, not an error. Where integrity matters, use gzip, whose CRC32 is verified.
 *
 * @example Refuse to inflate more than 1 KiB
 * ```ts
 * import { DeflateStream, InflateStream } from "sluice/gzip";
 *
 * const zeros = new Blob([new Uint8Array(1 << 20)]).stream().pipeThrough(new DeflateStream());
 * const error = await new Response(zeros.pipeThrough(new InflateStream({ maxOutputBytes: 1024 })))
 *   .arrayBuffer().catch((e) => e);
 * console.log(error instanceof RangeError); // true
 * ```
 */
export class InflateStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * @throws {RangeError} when `maxOutputBytes` is not a non-negative integer or `Infinity`.
   * @throws {TypeError} when the `"native"` engine is asked for where `DecompressionStream` is missing.
   */
  constructor(options: InflateOptions = {}) {
    const name = "InflateStream";
    checkObject(name, options);
    const max = checkMax(name, options.maxOutputBytes);
    if (checkEngine(name, options.engine) === "native") {
      const native = nativeCompression(name, "DecompressionStream", "deflate-raw");
      super();
      adoptLimited(this, name, native, max);
      return;
    }
    const work = { pushes: 0, headerScanned: 0 };
    super(decompressor(name, false, max, work));
    this.#work = work;
  }

  #work = { pushes: 0, headerScanned: 0 };

  /**
   * How many times the input was handed to fflate's inflater, and how many header bytes were
   * searched for the NUL ending a name or comment (0 with the native engine). For tests that
   * check input arriving in small pieces is not worked over again for each piece.
   * @internal
   */
  get _work(): { inflatePushes: number; headerBytesScanned: number } {
    return { inflatePushes: this.#work.pushes, headerBytesScanned: this.#work.headerScanned };
  }
}

// ---------------------------------------------------------------------------
// Argument checks

function checkObject(name: string, options: unknown): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot construct ${name}: options must be an object, got ${describeValue(options)}`);
  }
}

function checkEngine(name: string, engine: unknown): "fflate" | "native" {
  if (engine === undefined || engine === "fflate") return "fflate";
  if (engine === "native") return "native";
  throw new TypeError(`Cannot construct ${name}: engine must be "fflate" or "native", got ${describeValue(engine)}`);
}

function rejectWithNative(name: string, key: string, value: unknown): void {
  if (value !== undefined && value !== false) {
    throw new TypeError(`Cannot construct ${name}: ${key} is not supported with engine "native", got ${describeValue(value)}`);
  }
}

function checkLevel(name: string, level: unknown): number {
  if (level === undefined) return 6;
  if (typeof level !== "number" || !Number.isInteger(level) || level < 0 || level > 9) {
    throw new RangeError(`Cannot construct ${name}: level must be an integer from 0 to 9, got ${describeValue(level)}`);
  }
  return level;
}

function checkMtime(name: string, mtime: unknown): number {
  if (mtime === undefined) return 0;
  const ms = mtime instanceof Date ? mtime.getTime() : mtime;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms / 1000 >= 2 ** 32) {
    throw new RangeError(
      `Cannot construct ${name}: mtime must be a Date or milliseconds since 1970 before 2106, got ${
        mtime instanceof Date ? `Date ${String(mtime.getTime())}` : describeValue(mtime)
      }`,
    );
  }
  return Math.floor(ms / 1000);
}

function checkFilename(name: string, filename: unknown): string | undefined {
  if (filename === undefined) return undefined;
  if (typeof filename !== "string") {
    throw new TypeError(`Cannot construct ${name}: filename must be a string, got ${describeValue(filename)}`);
  }
  for (let i = 0; i < filename.length; i++) {
    const c = filename.charCodeAt(i);
    if (c === 0 || c > 255) {
      throw new RangeError(
        `Cannot construct ${name}: filename must hold Latin-1 characters and no NUL, got ${describeValue(filename)} with U+${
          c.toString(16).toUpperCase().padStart(4, "0")
        } at index ${i}`,
      );
    }
  }
  return filename;
}

function checkWorker(name: string, worker: unknown): CompressionWorkerFactory | undefined {
  if (worker === undefined || worker === false) return undefined;
  if (typeof worker === "function") return worker as CompressionWorkerFactory;
  if (worker === true) {
    if (typeof Worker !== "function") {
      throw new TypeError(
        `Cannot construct ${name}: worker: true needs a global Worker (browsers, Deno); in Node pass worker: nodeCompressionWorker from "sluice/node"`,
      );
    }
    return webWorker;
  }
  throw new TypeError(`Cannot construct ${name}: worker must be a boolean or a worker factory, got ${describeValue(worker)}`);
}

function checkMax(name: string, max: unknown): number {
  if (max === undefined || max === Infinity) return Infinity;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max < 0) {
    throw new RangeError(
      `Cannot construct ${name}: maxOutputBytes must be a non-negative safe integer or Infinity, got ${describeValue(max)}`,
    );
  }
  return max;
}

// ---------------------------------------------------------------------------
// The native engine

interface NativePair {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

function nativeCompression(
  name: string,
  kind: "CompressionStream" | "DecompressionStream",
  format: "gzip" | "deflate-raw",
): NativePair {
  const ctor = (globalThis as Record<string, unknown>)[kind] as (new (format: string) => NativePair) | undefined;
  if (typeof ctor !== "function") {
    throw new TypeError(`Cannot construct ${name}: engine "native" needs ${kind}, which this runtime lacks; use engine "fflate"`);
  }
  const pair = new ctor(format);
  // With a streams polyfill installed, the platform's CompressionStream still makes the
  // platform's streams, which the polyfill's pipeTo cannot drive.
  if (!(pair.readable instanceof ReadableStream) || !(pair.writable instanceof WritableStream)) {
    throw new TypeError(
      `Cannot construct ${name}: engine "native" needs ${kind} to make this realm's ReadableStream and WritableStream (is a streams polyfill installed?); use engine "fflate"`,
    );
  }
  return pair;
}

/**
 * Makes `stream` present the native pair as its sides, so the native engine costs nothing over
 * using `CompressionStream` directly (`pipeThrough` reads `readable` and `writable` as plain
 * properties); the TransformStream built by `super()` is left unused.
 */
function adopt(stream: TransformStream<Uint8Array, Uint8Array>, readable: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array>): void {
  Object.defineProperty(stream, "readable", { value: readable, enumerable: true });
  Object.defineProperty(stream, "writable", { value: writable, enumerable: true });
}

function adoptLimited(stream: TransformStream<Uint8Array, Uint8Array>, name: string, native: NativePair, max: number): void {
  if (max === Infinity) return adopt(stream, native.readable, native.writable);
  let total = 0;
  const limit = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      total += chunk.length;
      if (total > max) throw overLimit(name, max);
      controller.enqueue(chunk);
    },
  });
  // A platform decompressor turns one written chunk into all of its output at once (Chromium
  // queues 64 MiB for a 64 KiB chunk of zeros before anything is read), so a limit checked only
  // on its output would come after the allocation. It is fed slices that cannot expand far past
  // what is left of the limit, each once the output of the one before has been taken.
  const writer = native.writable.getWriter();
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      checkChunk(name, chunk);
      for (let offset = 0; offset < chunk.length;) {
        const end = Math.min(chunk.length, offset + sliceFor(max - total, NATIVE_SLICE));
        await writer.write(chunk.subarray(offset, end));
        offset = end;
      }
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
  adopt(stream, native.readable.pipeThrough(limit), writable);
}

/** Input bytes to decompress in one step when `room` output bytes are left before the limit. */
function sliceFor(room: number, most: number): number {
  return room === Infinity ? most : Math.max(512, Math.min(most, Math.floor(room / MAX_RATIO)));
}

function overLimit(name: string, max: number): RangeError {
  return new RangeError(`${name}: decompressed output would pass maxOutputBytes (${max} bytes); stopped (possible decompression bomb)`);
}

// ---------------------------------------------------------------------------
// Compression on this thread or on a worker

function checkChunk(name: string, chunk: unknown): asserts chunk is Uint8Array {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(`${name} expects Uint8Array chunks, got ${describeValue(chunk)}`);
  }
}

function compressor(name: string, core: CoreOptions, worker: CompressionWorkerFactory | undefined): Transformer<Uint8Array, Uint8Array> {
  if (worker) return workerCompressor(name, core, worker);
  let deflater: BlockDeflater | undefined;
  return {
    start(controller) {
      deflater = new BlockDeflater(core, (chunk) => controller.enqueue(chunk));
    },
    transform(chunk) {
      checkChunk(name, chunk);
      deflater!.push(chunk);
    },
    flush() {
      deflater!.finish();
      deflater = undefined;
    },
  };
}

/** Blocks sent to the worker and not yet answered; bounds memory on both sides. */
const MAX_IN_FLIGHT = 4;

/** Not a literal inside `new URL(...)`, so that bundlers working on the build do not look for it. */
const SOURCE_WORKER = "./gzip_worker.ts";

function webWorker(): CompressionWorker {
  // From the sources (.ts, run by Deno, tsx or Vite's dev server) the worker is the .ts file
  // beside this one; from the build (dist/*.js) and in bundles it is the .js file, written as
  // the literal `new Worker(new URL("...", import.meta.url))` that Vite and others bundle.
  const w = new URL(import.meta.url).pathname.endsWith(".ts")
    ? new Worker(new URL(SOURCE_WORKER, import.meta.url), { type: "module" })
    : new Worker(new URL("./gzip_worker.js", import.meta.url), { type: "module" });
  return w as unknown as CompressionWorker;
}

function workerCompressor(name: string, core: CoreOptions, factory: CompressionWorkerFactory): Transformer<Uint8Array, Uint8Array> {
  let worker: CompressionWorker | undefined;
  let controller!: TransformStreamDefaultController<Uint8Array>;
  let block = new Uint8Array(BLOCK_SIZE);
  let filled = 0;
  let inFlight = 0;
  let failure: { error: unknown } | undefined;
  // Settled when a block is answered, the worker ends, or it fails.
  let wake: (() => void) | undefined;
  let finished = false;

  const stop = () => {
    worker?.terminate();
    worker = undefined;
  };
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    stop();
    try {
      controller.error(error);
    } catch {
      /* already errored or closed */
    }
    wake?.();
  };
  const throwIfFailed = () => {
    if (failure) throw failure.error;
  };
  const post = (message: ToWorker, transfer: Transferable[] = []) => worker!.postMessage(message, transfer);
  const waitForWake = () => new Promise<void>((resolve) => (wake = resolve));
  const send = async (data: Uint8Array) => {
    while (inFlight >= MAX_IN_FLIGHT && !failure) await waitForWake();
    throwIfFailed();
    inFlight++;
    // The block is ours (never a view of the caller's chunk), so it can be moved, not copied.
    post({ type: "block", block: data }, [data.buffer]);
  };

  return {
    start(c) {
      controller = c;
      try {
        worker = factory();
      } catch (error) {
        throw new TypeError(`${name}: could not start the compression worker: ${String(error)}`, { cause: error });
      }
      worker.onmessage = (event) => {
        const m = event.data as FromWorker;
        if (failure) return;
        if (m.type === "error") return fail(new Error(`${name}: the compression worker failed: ${m.message}`));
        try {
          for (const chunk of m.chunks) controller.enqueue(chunk);
        } catch (error) {
          return fail(error);
        }
        if (m.type === "out") inFlight--;
        else {
          finished = true;
          stop();
        }
        wake?.();
      };
      worker.onerror = (event) => {
        const message = (event as { message?: unknown })?.message;
        fail(new Error(`${name}: the compression worker failed: ${typeof message === "string" ? message : String(event)}`));
      };
      post({ type: "init", options: core });
    },
    async transform(chunk) {
      checkChunk(name, chunk);
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(BLOCK_SIZE - filled, chunk.length - offset);
        block.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === BLOCK_SIZE) {
          const full = block;
          block = new Uint8Array(BLOCK_SIZE);
          filled = 0;
          await send(full);
        }
      }
    },
    async flush() {
      if (filled > 0) await send(block.subarray(0, filled));
      throwIfFailed();
      post({ type: "end" });
      while (!finished && !failure) await waitForWake();
      throwIfFailed();
    },
    // Cancelled from either side: stop the worker and wake a transform() waiting for room,
    // so that the cancellation reaches the writable side (and whatever pipes into it).
    cancel(reason: unknown) {
      fail(reason);
    },
  } as Transformer<Uint8Array, Uint8Array>;
}

// ---------------------------------------------------------------------------
// Decompression

/** The parts of fflate's `Inflate` that tell where the deflate stream ended (fflate 0.8). */
interface InflateState {
  /** Bytes not yet consumed; `s.p` is the bit position in it. */
  p: Uint8Array;
  /** `f`: the final block has begun; `l`: a block is in progress (its length map). */
  s: { f?: number; l?: unknown; p?: number };
}

/** The largest gzip header sluice accepts (FEXTRA is at most 64 KiB; names are rarely long). */
const MAX_HEADER = 1 << 20;
/** Deflate expands at most ~1032:1; bounding each push bounds the output of one step. */
const MAX_RATIO = 1032;
const SLICE = 1 << 17;
/** Input bytes pushed first, before the stream's compression ratio is known. */
const FIRST_SLICE = 4096;
/** The output aimed at per push once the ratio is known: bounds each output chunk. */
const TARGET_OUTPUT = 1 << 20;
/** Unread output chunks past which inflating waits for the reader, and how few it waits for. */
const PAUSE_AT = 8;
const RESUME_AT = 2;
/** The most bytes written to a platform decompressor at once when a limit is set. */
const NATIVE_SLICE = 1 << 16;

/** A growable byte buffer for headers and trailers that arrive in pieces. */
class Pending {
  bytes = new Uint8Array(64);
  length = 0;
  append(data: Uint8Array): void {
    if (this.length + data.length > this.bytes.length) {
      const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + data.length));
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
    }
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
  /** Empties the buffer, dropping it if it grew past `keep` bytes. */
  clear(keep = 4096): void {
    this.length = 0;
    if (this.bytes.length > keep) this.bytes = new Uint8Array(64);
  }
}

function hex(b: number): string {
  return "0x" + b.toString(16).padStart(2, "0");
}

/**
 * What earlier calls learned about a header arriving in pieces, for FNAME (index 0) and
 * FCOMMENT (1): where the field starts, how far it is known to hold no NUL, and its NUL once
 * found. The bytes of a header only ever grow at the end, so this stays true, and a long name
 * arriving a few bytes at a time is searched once in all, not once per piece.
 */
class HeaderScan {
  readonly from = [-1, -1];
  readonly clean = [0, 0];
  readonly nul = [-1, -1];
  scanned = 0;
  reset(): void {
    this.from[0] = this.from[1] = this.nul[0] = this.nul[1] = -1;
  }
}

/** The header length, or -1 while incomplete; throws on a header that is not gzip. */
function headerLength(name: string, b: Uint8Array, member: number, memo: HeaderScan): number {
  const where = `member ${member} header`;
  if ((b.length > 0 && b[0] !== 0x1f) || (b.length > 1 && b[1] !== 0x8b)) {
    const got = Array.from(b.subarray(0, 2), hex).join(" ");
    if (member > 1) {
      // zlib and gzip(1) skip such bytes; sluice does not guess what they were meant to be.
      throw new Error(`${name}: unexpected bytes after member ${member - 1}: they start with ${got}, not with a gzip header's 0x1f 0x8b (trailing garbage?)`);
    }
    throw new Error(`${name}: not gzip data: ${where} starts with ${got}, expected 0x1f 0x8b`);
  }
  if (b.length < 10) return -1;
  if (b[2] !== 8) throw new Error(`${name}: unsupported compression method ${b[2]} in ${where} (only 8, deflate)`);
  const flags = b[3]!;
  if (flags & 0xe0) throw new Error(`${name}: corrupt ${where}: reserved flag bits set (FLG ${hex(flags)})`);
  let p = 10;
  if (flags & 4) {
    if (b.length < p + 2) return -1;
    p += 2 + (b[p]! | (b[p + 1]! << 8));
    if (b.length < p) return -1;
  }
  for (let i = 0; i < 2; i++) {
    if (!(flags & (i === 0 ? 8 : 16))) continue;
    let nul = memo.from[i] === p ? memo.nul[i]! : -1;
    if (nul < 0) {
      const start = memo.from[i] === p ? memo.clean[i]! : p;
      nul = b.indexOf(0, start);
      memo.scanned += (nul < 0 ? b.length : nul + 1) - start;
      memo.from[i] = p;
      memo.clean[i] = b.length;
      memo.nul[i] = nul;
    }
    if (nul < 0) return b.length > MAX_HEADER ? tooLong(name, where) : -1;
    p = nul + 1;
  }
  if (flags & 2) {
    if (b.length < p + 2) return -1;
    const expected = crc32(0, b.subarray(0, p)) & 0xffff;
    const stored = b[p]! | (b[p + 1]! << 8);
    if (expected !== stored) {
      throw new Error(`${name}: corrupt ${where}: header CRC16 is ${stored}, computed ${expected}`);
    }
    p += 2;
  }
  return p;
}

function tooLong(name: string, where: string): never {
  throw new Error(`${name}: ${where} is longer than ${MAX_HEADER} bytes (unterminated file name or comment?)`);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * How many bytes fflate still needs, beyond those it holds, to finish the stored block it is
 * waiting for; 0 when it is not waiting for one (or its length has not arrived). fflate copies
 * what it holds into every push until a stored block is complete, so feeding it one in small
 * pieces would be quadratic; these bytes are gathered here and pushed at once.
 */
function storedMissing(inflate: Inflate): number {
  const { p, s } = inflate as unknown as InflateState;
  if (s.l) return 0;
  const pos = s.p ?? 0;
  if (p.length * 8 < pos + 3) return 0;
  const at = pos >> 3;
  // BFINAL is the first bit, BTYPE the next two; 00 is a stored block.
  if ((((p[at]! | ((p[at + 1] ?? 0) << 8)) >> (pos & 7)) & 6) !== 0) return 0;
  const start = (pos + 10) >> 3;
  if (p.length < start + 2) return 0;
  const end = start + 4 + (p[start]! | (p[start + 1]! << 8));
  return end > p.length ? end - p.length : 0;
}

function decompressor(name: string, gzip: boolean, max: number, work: { pushes: number; headerScanned: number }): Transformer<Uint8Array, Uint8Array> {
  let controller!: TransformStreamDefaultController<Uint8Array>;
  type State = "header" | "body" | "trailer" | "between";
  let state: State = gzip ? "header" : "body";
  let member = 1;
  let members = 0;
  let total = 0;
  let crc = 0;
  let size = 0;
  const pending = new Pending();
  const scan = new HeaderScan();
  let inflate: Inflate | undefined;
  // The limit's error, thrown from inside fflate's push: passed on as it is, not as corrupt data.
  let overflow: RangeError | undefined;
  /** Compressed bytes pushed to fflate so far; with `total`, the ratio that sizes the next push. */
  let pushed = 0;
  /** Input not yet inflated when inflating paused for the reader. */
  let paused: Uint8Array | undefined;

  const newInflate = () => {
    inflate = new Inflate((out) => {
      if (out.length === 0) return;
      if (total + out.length > max) throw (overflow = overLimit(name, max));
      total += out.length;
      if (gzip) {
        crc = crc32(crc, out);
        size = (size + out.length) >>> 0;
      }
      controller.enqueue(out);
    });
  };

  /** Input held back until it completes the stored block fflate waits for. */
  const stash = new Pending();
  let stashNeed = 0;
  /** What followed the end of the deflate stream in fflate's hands, when `push` returns true. */
  let left: Uint8Array = new Uint8Array(0);

  /** Pushes `piece` to fflate; true when the deflate stream ended. */
  const push = (piece: Uint8Array): boolean => {
    const inf = inflate!;
    work.pushes++;
    pushed += piece.length;
    try {
      inf.push(piece, false);
    } catch (error) {
      if (error === overflow) throw error;
      const where = gzip ? ` in member ${member}` : "";
      throw new Error(`${name}: corrupt deflate data${where}: ${(error as Error).message}`, { cause: error });
    }
    const st = (inf as unknown as InflateState).s;
    if (st.f && !st.l) {
      left = (inf as unknown as InflateState).p.subarray(((st.p ?? 0) + 7) >> 3);
      return true;
    }
    stashNeed = storedMissing(inf);
    return false;
  };

  /** Feeds deflate data; returns what follows the end of the deflate stream, or undefined. */
  const inflateSome = (data: Uint8Array): Uint8Array | undefined => {
    let offset = 0;
    while (offset < data.length) {
      let ended: boolean;
      if (stashNeed > 0) {
        const take = Math.min(stashNeed - stash.length, data.length - offset);
        stash.append(data.subarray(offset, offset + take));
        offset += take;
        if (stash.length < stashNeed) return undefined;
        stashNeed = 0;
        // fflate copies what it keeps of a push, so the stash can be reused afterwards.
        ended = push(stash.view());
        stash.clear(1 << 17);
      } else {
        // Sized so one push outputs about TARGET_OUTPUT bytes: a chunk of a highly compressed
        // stream is inflated in steps the reader can keep up with, not all at once.
        const most = pushed === 0 ? FIRST_SLICE : Math.max(512, Math.min(SLICE, Math.floor(TARGET_OUTPUT * pushed / Math.max(total, pushed))));
        const end = Math.min(data.length, offset + sliceFor(max - total, most));
        ended = push(data.subarray(offset, end));
        offset = end;
      }
      if (ended) {
        const tail = data.subarray(offset);
        if (tail.length === 0) return left;
        if (left.length === 0) return tail;
        const joined = new Uint8Array(left.length + tail.length);
        joined.set(left);
        joined.set(tail, left.length);
        return joined;
      }
      if (offset < data.length && controller.desiredSize !== null && controller.desiredSize < -PAUSE_AT) {
        paused = data.subarray(offset);
        return undefined;
      }
    }
    return undefined;
  };

  const feed = (input: Uint8Array): void | Promise<void> => {
    let data = input;
    while (data.length > 0) {
      switch (state) {
        case "between":
          state = "header";
          member++;
          continue;
        case "header": {
          // Usually the whole header is in one chunk: parse it in place, without copying.
          const whole = pending.length === 0;
          if (!whole) pending.append(data);
          const b = whole ? data : pending.view();
          const n = headerLength(name, b, member, scan);
          work.headerScanned = scan.scanned;
          if (n < 0) {
            if (whole) pending.append(data);
            if (b.length > MAX_HEADER) tooLong(name, `member ${member} header`);
            return;
          }
          data = whole ? data.subarray(n) : b.slice(n);
          pending.clear();
          scan.reset();
          crc = 0;
          size = 0;
          newInflate();
          state = "body";
          continue;
        }
        case "body": {
          if (!inflate) newInflate();
          const rest = inflateSome(data);
          if (rest === undefined) {
            if (paused === undefined) return;
            const more = paused;
            paused = undefined;
            return readerCaughtUp(controller, RESUME_AT).then(() => {
              if (controller.desiredSize !== null) return feed(more);
            });
          }
          inflate = undefined;
          if (!gzip) {
            if (rest.length > 0) throw new Error(`${name}: ${rest.length} unexpected bytes after the end of the deflate stream`);
            state = "between";
            members++;
            return;
          }
          data = rest;
          state = "trailer";
          continue;
        }
        case "trailer": {
          const take = Math.min(8 - pending.length, data.length);
          pending.append(data.subarray(0, take));
          data = data.subarray(take);
          if (pending.length < 8) return;
          const t = pending.view();
          const storedCrc = readU32(t, 0);
          const storedSize = readU32(t, 4);
          pending.clear();
          if (storedCrc !== crc) {
            throw new Error(`${name}: CRC32 mismatch in member ${member}: trailer says ${storedCrc.toString(16).padStart(8, "0")}, data has ${crc.toString(16).padStart(8, "0")}`);
          }
          if (storedSize !== size) {
            throw new Error(`${name}: length mismatch in member ${member}: trailer says ${storedSize} bytes (mod 2^32), got ${size}`);
          }
          members++;
          state = "between";
          continue;
        }
      }
    }
  };

  return {
    start(c) {
      controller = c;
    },
    transform(chunk) {
      checkChunk(name, chunk);
      if (!gzip && state === "between" && chunk.length > 0) {
        throw new Error(`${name}: ${chunk.length} unexpected bytes after the end of the deflate stream`);
      }
      return feed(chunk);
    },
    flush() {
      inflate = undefined;
      if (!gzip) {
        if (state !== "between") throw new Error(`${name}: input ended before the end of the deflate stream (truncated)`);
        return;
      }
      switch (state) {
        case "between":
          return;
        case "header":
          if (members === 0 && pending.length === 0) throw new Error(`${name}: input ended before any gzip member (empty input)`);
          throw new Error(`${name}: input ended inside the header of member ${member} (truncated)`);
        case "body":
          throw new Error(`${name}: input ended inside the compressed data of member ${member} (truncated)`);
        case "trailer":
          throw new Error(`${name}: input ended inside the trailer of member ${member}: ${pending.length} of 8 bytes (truncated)`);
      }
    },
  };
}
