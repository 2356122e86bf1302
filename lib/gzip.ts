/**
 * gzip and raw deflate as `TransformStream`s that behave the same in every
 * runtime: reproducible output bytes, verified trailers, a limit against
 * decompression bombs, and an option to compress on another thread.
 * @module
 */

import { decompressor, inflateWork, overLimit } from "./_gunzip.ts";
import {
  BLOCK_SIZE,
  checkChunk,
  compressBlock,
  type CoreOptions,
  crc32,
  crc32Combine,
  DICTIONARY,
  FINAL_EMPTY,
  gzipHeader,
  gzipTrailer,
} from "./_gzip.ts";
import { type CompressionPool, type CompressionWorkerFactory, platformWorkerFactory, poolFor, poolSize, setPoolSize } from "./_gzip_pool.ts";
import { describeValue, optionsObject } from "./_internal.ts";

export type { CompressionWorker, CompressionWorkerFactory } from "./_gzip_pool.ts";

/** The most threads a pool or a stream may ask for. */
const MAX_THREADS = 256;

/**
 * Sets how many threads the shared compression pool of this page or process may run (every
 * pool, one per worker factory): the number of blocks that `worker: true` streams compress
 * at once. Threads above a smaller size end once idle. A stream asking for more `workers`
 * than this raises its pool's size to that.
 *
 * By default the size is the machine's cores minus one (`navigator.hardwareConcurrency`,
 * `os.availableParallelism()`), at least 1: one core is left to the thread producing the data.
 *
 * @throws {RangeError} when `size` is not an integer from 1 to 256.
 *
 * @example Two threads for every stream with `worker: true`
 * ```ts
 * import { GzipStream, setCompressionPoolSize } from "sluice/gzip";
 *
 * setCompressionPoolSize(2);
 * const gz = new Blob(["x".repeat(1 << 20)]).stream().pipeThrough(new GzipStream({ worker: true }));
 * console.log((await new Response(gz).arrayBuffer()).byteLength < 5000); // true
 * ```
 */
export function setCompressionPoolSize(size: number): void {
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > MAX_THREADS) {
    throw new RangeError(`Cannot set the compression pool size: size must be an integer from 1 to ${MAX_THREADS}, got ${describeValue(size)}`);
  }
  setPoolSize(size);
}

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
   * Compress on other threads (`"fflate"` engine only), on the shared pool of this page or
   * process (see {@linkcode setCompressionPoolSize}): `true` uses the platform's threads
   * (module Web Workers in browsers, Deno and Bun; `worker_threads` in Node); a
   * {@linkcode CompressionWorkerFactory} (such as `nodeCompressionWorker` from `sluice/node`)
   * gives a pool of the threads it starts. Where the runtime has no threads at all (Cloudflare
   * Workers), the stream compresses on the calling thread. The output bytes are the same in
   * every case.
   * @default false, or true when `workers` is above 0
   */
  worker?: boolean | CompressionWorkerFactory;
  /**
   * How many blocks this stream compresses at once on the pool's threads (`"fflate"` engine
   * only); the pool grows to at least this many threads. 0 compresses on the calling thread.
   * The stream holds at most `workers + 2` input blocks of 256 KiB (one filling, one waiting
   * per thread, one more queued), whatever its reader does. The output bytes do not depend on it.
   * @default the pool size when `worker` is set, else 0
   */
  workers?: number;
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
   * `"fflate"` (the name of the default engine, whose compression is fflate's) decompresses in
   * JavaScript with sluice's own strict inflater, which checks everything zlib's inflate checks,
   * and verifies everything described on the class;
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
 * options, never on how the input was cut into chunks, on the runtime or on how many threads
 * compressed it. The input is cut into blocks of 256 KiB; each is compressed on its own with
 * the 32 KiB before it as its dictionary (as pigz does), ends on a byte boundary (a sync
 * flush: an empty stored block), and the blocks are joined in order, with their CRC-32s
 * combined into the trailer. This costs under 0.1% of size against one unbroken deflate
 * stream, and lets `workers` compress several blocks at once on the shared pool, giving the
 * same bytes as on the calling thread. The header's mtime is 0 unless given, and the OS byte
 * is 255 ("unknown") everywhere. Output comes as each block is compressed, in order.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the writable side (and so,
 * through a pipe, the source) with the same reason; the stream's blocks still queued for the
 * pool are dropped and its blocks being compressed are ignored when done. Other streams on
 * the pool are not affected.
 *
 * **Error behavior:** an input chunk that is not a `Uint8Array` errors the stream with a
 * `TypeError`. A worker that fails or dies while it holds one of the stream's blocks errors
 * the stream (never a short output); the pool replaces the thread for later blocks.
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
   * Creates a gzip compressor; bad options throw here, before any stream exists.
   * @throws {RangeError} when `level` is not an integer in 0..9, `mtime` is not a valid time
   * from 1970 to 2106, or `filename` holds a NUL or a character above U+00FF.
   * @throws {RangeError} when `workers` is not an integer from 0 to 256.
   * @throws {TypeError} when the `"native"` engine is asked for where `CompressionStream` is
   * missing, or together with `level`, `mtime`, `filename`, `worker` or `workers`; when
   * `worker` is neither a boolean nor a function, or `worker: false` comes with `workers` above 0.
   */
  constructor(options: GzipOptions = {}) {
    const name = "GzipStream";
    optionsObject(options, `Cannot construct ${name}`);
    const engine = checkEngine(name, options.engine);
    if (engine === "native") {
      for (const key of ["level", "mtime", "filename", "worker", "workers"] as const) rejectWithNative(name, key, options[key]);
      const native = nativeCompression(name, "CompressionStream", "gzip");
      super();
      adopt(this, native.readable, native.writable);
      return;
    }
    const level = checkLevel(name, options.level);
    const mtime = checkMtime(name, options.mtime);
    const filename = checkFilename(name, options.filename);
    const core: CoreOptions = { level, gzip: { mtime, ...(filename === undefined ? {} : { filename }) } };
    super(compressor(name, core, checkThreads(name, options.worker, options.workers)));
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
   * Creates a raw deflate compressor; bad options throw here, before any stream exists.
   * @throws {RangeError} when `level` is not an integer in 0..9.
   * @throws {RangeError} when `workers` is not an integer from 0 to 256.
   * @throws {TypeError} when the `"native"` engine is missing or combined with `level`,
   * `worker` or `workers`; for a bad `worker` as {@linkcode GzipStream}.
   */
  constructor(options: DeflateOptions = {}) {
    const name = "DeflateStream";
    optionsObject(options, `Cannot construct ${name}`);
    const engine = checkEngine(name, options.engine);
    if (engine === "native") {
      for (const key of ["level", "worker", "workers"] as const) rejectWithNative(name, key, options[key]);
      const native = nativeCompression(name, "CompressionStream", "deflate-raw");
      super();
      adopt(this, native.readable, native.writable);
      return;
    }
    super(compressor(name, { level: checkLevel(name, options.level) }, checkThreads(name, options.worker, options.workers)));
  }
}

/**
 * Decompresses gzip, verifying the CRC32 and length in every member's trailer, the header (magic
 * bytes, method, reserved flags, the header CRC16 when FHCRC is set) and the deflate data as
 * strictly as zlib does. With the default engine decompression is sluice's own strict inflater
 * (it rejects everything zlib's inflate rejects: a stored block's NLEN that is not the
 * complement of LEN, over-subscribed or incomplete Huffman codes, invalid codes, distances too
 * far back...); compression is fflate's. Reads multi-member files (members back to back, as
 * `cat a.gz b.gz` makes) and any chunking of them, down to one byte at a time.
 *
 * Backpressure holds within a chunk too: a large or highly compressed chunk is inflated in
 * steps of at most 256 KiB of output, and past a few unread steps the stream waits for its reader,
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
   * Creates a gzip decompressor; bad options throw here, before any stream exists.
   * @throws {RangeError} when `maxOutputBytes` is not a non-negative integer or `Infinity`.
   * @throws {TypeError} when the `"native"` engine is asked for where `DecompressionStream` is missing.
   */
  constructor(options: InflateOptions = {}) {
    const name = "GunzipStream";
    optionsObject(options, `Cannot construct ${name}`);
    const max = checkMax(name, options.maxOutputBytes);
    if (checkEngine(name, options.engine) === "native") {
      const native = nativeCompression(name, "DecompressionStream", "gzip");
      super();
      adoptLimited(this, name, native, max);
      return;
    }
    const work = { inflated: 0, headerScanned: 0 };
    super(decompressor(name, true, max, work));
    inflateWork.set(this, work);
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
 * The deflate data is checked as strictly as zlib checks it (with the default engine,
 * decompression is sluice's own strict inflater; compression is fflate's), but raw deflate
 * carries no checksum: corruption that still parses gives wrong bytes, not an error. Where
 * integrity matters, use gzip, whose CRC32 is verified.
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
   * Creates a raw deflate decompressor; bad options throw here, before any stream exists.
   * @throws {RangeError} when `maxOutputBytes` is not a non-negative integer or `Infinity`.
   * @throws {TypeError} when the `"native"` engine is asked for where `DecompressionStream` is missing.
   */
  constructor(options: InflateOptions = {}) {
    const name = "InflateStream";
    optionsObject(options, `Cannot construct ${name}`);
    const max = checkMax(name, options.maxOutputBytes);
    if (checkEngine(name, options.engine) === "native") {
      const native = nativeCompression(name, "DecompressionStream", "deflate-raw");
      super();
      adoptLimited(this, name, native, max);
      return;
    }
    const work = { inflated: 0, headerScanned: 0 };
    super(decompressor(name, false, max, work));
    inflateWork.set(this, work);
  }
}

// ---------------------------------------------------------------------------
// Argument checks

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

/** Where a stream's blocks are compressed: a pool and how many at once, or undefined for this thread. */
interface Threads {
  pool: CompressionPool;
  workers: number;
}

function checkThreads(name: string, worker: unknown, workers: unknown): Threads | undefined {
  if (worker !== undefined && typeof worker !== "boolean" && typeof worker !== "function") {
    throw new TypeError(`Cannot construct ${name}: worker must be a boolean or a worker factory, got ${describeValue(worker)}`);
  }
  if (workers !== undefined && (typeof workers !== "number" || !Number.isInteger(workers) || workers < 0 || workers > MAX_THREADS)) {
    throw new RangeError(`Cannot construct ${name}: workers must be an integer from 0 to ${MAX_THREADS}, got ${describeValue(workers)}`);
  }
  if (worker === false && typeof workers === "number" && workers > 0) {
    throw new TypeError(`Cannot construct ${name}: worker: false contradicts workers: ${workers}`);
  }
  if (workers === 0 || (workers === undefined && !worker)) return undefined;
  const factory = typeof worker === "function" ? (worker as CompressionWorkerFactory) : platformWorkerFactory();
  // No threads in this runtime (Cloudflare Workers): the same blocks, on this thread.
  if (!factory) return undefined;
  const pool = poolFor(factory);
  const n = (workers as number | undefined) ?? poolSize();
  pool.reserve(n);
  try {
    pool.warm();
  } catch (error) {
    throw new TypeError(`${name}: could not start the compression worker: ${String(error)}`, { cause: error });
  }
  return { pool, workers: n };
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

/** The most bytes written to a platform decompressor at once when a limit is set. */
const NATIVE_SLICE = 1 << 16;
/** Deflate expands at most ~1032:1: bounding each slice fed to a platform decompressor bounds its output. */
const MAX_RATIO = 1032;

/** Input bytes to decompress in one step when `room` output bytes are left before the limit. */
function sliceFor(room: number, most: number): number {
  return room === Infinity ? most : Math.max(512, Math.min(most, Math.floor(room / MAX_RATIO)));
}

// ---------------------------------------------------------------------------
// Compression in blocks, on this thread or on the pool

/** A compressed block waiting for the blocks before it to be emitted. */
interface Compressed {
  chunks: Uint8Array[];
  crc: number;
  length: number;
}

/**
 * The block layout of `GzipStream`/`DeflateStream`: input gathered into buffers of the
 * dictionary (the 32 KiB before the block) followed by `BLOCK_SIZE` bytes, each compressed by
 * `compressBlock` here or on the pool, emitted in order.
 */
function compressor(name: string, core: CoreOptions, threads: Threads | undefined): Transformer<Uint8Array, Uint8Array> {
  const { level } = core;
  const gzip = core.gzip !== undefined;
  let controller!: TransformStreamDefaultController<Uint8Array>;
  let buffer: Uint8Array = new Uint8Array(DICTIONARY + BLOCK_SIZE);
  /** Bytes at the front of `buffer` that are the dictionary (0 for the first block). */
  let dictionary = 0;
  /** Bytes of the block after the dictionary. */
  let filled = 0;
  let crc = 0;
  let size = 0;

  const emit = (block: Compressed) => {
    for (const chunk of block.chunks) controller.enqueue(chunk);
    if (gzip) crc = crc32Combine(crc, block.crc, block.length);
    size = (size + block.length) >>> 0;
  };
  const finish = () => {
    if (gzip) controller.enqueue(gzipTrailer(crc, size));
  };
  /** Starts the next block with the last 32 KiB of the one just given away as its dictionary. */
  const nextBlock = (next: Uint8Array) => {
    const end = dictionary + filled;
    next.set(buffer.subarray(end - DICTIONARY, end), 0);
    buffer = next;
    dictionary = DICTIONARY;
    filled = 0;
  };
  const fill = (chunk: Uint8Array, offset: number): number => {
    const take = Math.min(BLOCK_SIZE - filled, chunk.length - offset);
    buffer.set(chunk.subarray(offset, offset + take), dictionary + filled);
    filled += take;
    return offset + take;
  };

  const start = (c: TransformStreamDefaultController<Uint8Array>) => {
    controller = c;
    if (core.gzip) controller.enqueue(gzipHeader(level, core.gzip.mtime, core.gzip.filename));
  };

  if (!threads) {
    const compressHere = (final: boolean) => {
      const view = buffer.subarray(0, dictionary + filled);
      const chunks = compressBlock(level, view, dictionary, final);
      for (const chunk of chunks) controller.enqueue(chunk);
      if (gzip) crc = crc32(crc, view.subarray(dictionary));
      size = (size + filled) >>> 0;
    };
    return {
      start,
      transform(chunk) {
        checkChunk(name, chunk);
        for (let offset = 0; offset < chunk.length;) {
          offset = fill(chunk, offset);
          if (filled === BLOCK_SIZE) {
            compressHere(false);
            // fflate copied the block: this buffer can hold the next one, after its dictionary.
            buffer.copyWithin(0, dictionary + filled - DICTIONARY, dictionary + filled);
            dictionary = DICTIONARY;
            filled = 0;
          }
        }
      },
      flush() {
        compressHere(true);
        finish();
      },
    };
  }

  const { pool, workers } = threads;
  /** Blocks given to the pool and not yet emitted: one per thread, and one more queued. */
  const limit = workers + 1;
  const owner = { active: true };
  const done = new Map<number, Compressed>();
  /** Input buffers the pool gave back, for the blocks to come. */
  const spare: ArrayBuffer[] = [];
  let submitted = 0;
  let emitted = 0;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const waitForWake = () => new Promise<void>((resolve) => (wake = resolve));
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const release = () => {
    owner.active = false;
    pool.drop(owner);
    done.clear();
    spare.length = 0;
  };
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    release();
    try {
      controller.error(error);
    } catch {
      /* already errored or closed */
    }
    notify();
  };
  const throwIfFailed = () => {
    if (failure) throw failure.error;
  };
  const drain = () => {
    try {
      for (let block = done.get(emitted); block; block = done.get(emitted)) {
        done.delete(emitted++);
        emit(block);
      }
    } catch (error) {
      return fail(error);
    }
    notify();
  };
  const submit = (final: boolean) => {
    const index = submitted++;
    const length = filled;
    if (length === 0 && final) {
      // The input ended on a block boundary (or was empty): only the final empty block is left.
      done.set(index, { chunks: [FINAL_EMPTY.slice()], crc: 0, length: 0 });
      return drain();
    }
    const view = buffer;
    const job = { level, buffer: view.buffer as ArrayBuffer, length: dictionary + length, dictionary, final };
    if (!final) {
      const reuse = spare.pop();
      nextBlock(reuse ? new Uint8Array(reuse) : new Uint8Array(DICTIONARY + BLOCK_SIZE));
    }
    pool.submit({
      owner,
      job,
      done: (result) => {
        if (failure) return;
        if (spare.length < limit) spare.push(result.buffer);
        done.set(index, { chunks: result.chunks, crc: result.crc, length });
        drain();
      },
      fail: (error) => fail(new Error(`${name}: ${error.message}`, { cause: error })),
    });
  };
  const waitBelow = async (most: number) => {
    while (!failure && submitted - emitted > most) await waitForWake();
    throwIfFailed();
  };

  return {
    start,
    async transform(chunk) {
      checkChunk(name, chunk);
      throwIfFailed();
      for (let offset = 0; offset < chunk.length;) {
        offset = fill(chunk, offset);
        if (filled === BLOCK_SIZE) {
          submit(false);
          await waitBelow(limit - 1);
        }
      }
    },
    async flush() {
      throwIfFailed();
      submit(true);
      await waitBelow(0);
      finish();
      release();
    },
    // Cancelled from either side: drop this stream's blocks and wake a transform() waiting for
    // room, so that the cancellation reaches the writable side (and whatever pipes into it).
    cancel(reason: unknown) {
      fail(reason);
    },
  } as Transformer<Uint8Array, Uint8Array>;
}
