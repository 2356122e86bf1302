/**
 * MessagePack streams: values to concatenated MessagePack bytes and back, on
 * @msgpack/msgpack, with one encoder or decoder reused per stream, output
 * batched into chunks, and a decoder that stays linear however its input is cut.
 * @module
 */

import { DecodeError, Decoder, type DecoderOptions, Encoder, type EncoderOptions } from "@msgpack/msgpack";
import { describeValue, enqueueAll, optionsObject } from "./_internal.ts";
import { Boundaries, registerWork } from "./_msgpack.ts";

/** Options of {@linkcode MsgpackEncoderStream}: those of @msgpack/msgpack's `Encoder`, and batching. */
export interface MsgpackEncoderOptions extends EncoderOptions {
  /**
   * Values are packed together into output chunks of up to this many bytes,
   * which cuts the per-chunk cost of a stream carrying many small values. A
   * chunk is sent as soon as it is full, and a partly filled one at the end
   * of the current task (a `setTimeout(0)`), so a producer that writes one
   * value now and then still sees each value sent at once. A value at least
   * this large is sent as a chunk of its own. `0` sends one chunk per value,
   * without a timer.
   * @default 65536
   */
  chunkSize?: number;
}

/** Options of {@linkcode MsgpackDecoderStream}: those of @msgpack/msgpack's `Decoder`, with limits for untrusted input. */
export interface MsgpackDecoderOptions extends DecoderOptions {
  /**
   * The largest string accepted, in UTF-8 bytes.
   * @default 16777216 (16 MiB)
   */
  maxStrLength?: number;
  /**
   * The largest binary accepted, in bytes.
   * @default 67108864 (64 MiB)
   */
  maxBinLength?: number;
  /**
   * The longest array accepted, in elements.
   * @default 1048576
   */
  maxArrayLength?: number;
  /**
   * The largest map accepted, in entries.
   * @default 1048576
   */
  maxMapLength?: number;
  /**
   * The largest extension payload accepted, in bytes.
   * @default 67108864 (64 MiB)
   */
  maxExtLength?: number;
  /**
   * The deepest nesting of arrays and maps accepted, the outermost counting
   * as 1 (`0` accepts no container at all); a container one level deeper
   * errors the stream with a `RangeError` as soon as its header is seen.
   * @default 1000
   */
  maxDepth?: number;
  /**
   * The most bytes the stream holds of one value whose end has not arrived
   * yet, whatever the value contains (values that lie within one input chunk
   * are already in memory and not counted).
   * @default 134217728 (128 MiB)
   */
  maxValueBytes?: number;
  /**
   * The former name of {@linkcode MsgpackDecoderOptions.maxValueBytes}, still accepted.
   * @deprecated Use `maxValueBytes`; this name will be removed in a later release.
   */
  maxValueSize?: number;
}

const DEFAULT_CHUNK_SIZE = 65536;
/** Bytes copied at a time into a value that spans chunks when its headers ask for less. */
const SPAN_STEP = 16384;
const DEFAULT_LIMITS = {
  maxStrLength: 16 * 2 ** 20,
  maxBinLength: 64 * 2 ** 20,
  maxArrayLength: 2 ** 20,
  maxMapLength: 2 ** 20,
  maxExtLength: 64 * 2 ** 20,
  maxDepth: 1000,
  maxValueBytes: 128 * 2 ** 20,
};

/**
 * A `TransformStream` that encodes each value written to it as MessagePack
 * and emits the concatenated bytes, packed into chunks of up to `chunkSize`
 * bytes. Options (`extensionCodec`, `useBigInt64`, `sortKeys`,
 * `ignoreUndefined`, ...) are those of @msgpack/msgpack's `Encoder`, of which
 * the stream keeps one.
 *
 * Every emitted chunk is the reader's to keep: none is a view of a buffer the
 * encoder writes into again.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason;
 * the bytes of a partly filled chunk are dropped.
 *
 * **Error behavior:** a value that cannot be encoded (a function, a symbol, a
 * bigint without `useBigInt64`, ...) errors the stream with a `TypeError` that
 * names the value's position in the stream and its type, with the encoder's
 * error as `cause` (other encoder errors, such as too deep nesting, keep their
 * class). `undefined` is encoded as nil, as @msgpack/msgpack does.
 *
 * @example Encode a stream of values
 * ```ts
 * import { MsgpackEncoderStream } from "sluice/msgpack";
 *
 * const values = new ReadableStream({
 *   start(c) {
 *     c.enqueue({ id: 1, tags: ["a"] });
 *     c.enqueue("two");
 *     c.close();
 *   },
 * });
 * const bytes = new Uint8Array(await new Response(values.pipeThrough(new MsgpackEncoderStream())).arrayBuffer());
 * console.log(bytes.length); // 17 — a map of two entries, then a 3-byte string
 * ```
 */
export class MsgpackEncoderStream extends TransformStream<unknown, Uint8Array> {
  /** The most bytes packed into one output chunk (`0`: one chunk per value). */
  readonly chunkSize: number;

  /**
   * Creates an encoder; bad options throw here, before any stream exists.
   * @param options See {@linkcode MsgpackEncoderOptions}.
   * @throws {RangeError} when `chunkSize` is not a non-negative safe integer.
   */
  constructor(options: MsgpackEncoderOptions = {}) {
    const { chunkSize = DEFAULT_CHUNK_SIZE, ...encoderOptions } = optionsObject(options, "Cannot construct MsgpackEncoderStream");
    if (typeof chunkSize !== "number" || !Number.isSafeInteger(chunkSize) || chunkSize < 0) {
      throw new RangeError(
        `Cannot construct MsgpackEncoderStream: chunkSize must be a non-negative safe integer, got ${describeValue(chunkSize)}`,
      );
    }
    const encoder = new Encoder(encoderOptions);
    let batch: Uint8Array | undefined;
    let filled = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller!: TransformStreamDefaultController<Uint8Array>;
    /** How many values were written before the current one, for error messages. */
    let index = 0;

    const emit = (): void => {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (filled === 0) return;
      const out = batch!.subarray(0, filled);
      // The emitted bytes now belong to the reader; the next batch is a new buffer.
      batch = undefined;
      filled = 0;
      controller.enqueue(out);
    };
    const emitLater = (): void => {
      try {
        timer = undefined;
        emit();
      } catch {
        // The stream ended in between; the bytes have no reader any more.
        batch = undefined;
        filled = 0;
      }
    };
    const stop = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      batch = undefined;
      filled = 0;
    };
    const transformer: Transformer<unknown, Uint8Array> & { cancel(reason: unknown): void } = {
      start(c) {
        controller = c;
      },
      transform(value) {
        // A view into the encoder's own buffer, valid until the next encode: copied below, never enqueued.
        let bytes: Uint8Array;
        try {
          bytes = encoder.encodeSharedRef(value);
        } catch (error) {
          throw encodeFailure(error, value, index, encoderOptions.useBigInt64 === true);
        } finally {
          index++;
        }
        const length = bytes.length;
        if (length >= chunkSize) {
          emit();
          controller.enqueue(bytes.slice());
          return;
        }
        if (filled + length > chunkSize) emit();
        if (batch === undefined) batch = new Uint8Array(chunkSize);
        batch.set(bytes, filled);
        filled += length;
        if (filled === chunkSize) emit();
        else if (timer === undefined) timer = setTimeout(emitLater, 0);
      },
      flush() {
        emit();
        stop();
      },
      cancel() {
        stop();
      },
    };
    super(transformer);
    this.chunkSize = chunkSize;
  }
}

/**
 * The encoder's error for value number `index`, with what the value was (the library says only
 * "Unrecognized object: [object BigInt]"); a type MessagePack cannot hold is a `TypeError`.
 */
function encodeFailure(error: unknown, value: unknown, index: number, useBigInt64: boolean): unknown {
  if (!(error instanceof Error)) return error;
  let hint = "";
  if (typeof value === "bigint" && !useBigInt64) hint = " (pass useBigInt64: true to encode bigints as 64-bit integers)";
  const message = `MsgpackEncoderStream: cannot encode value ${index}, ${describeValue(value)}${hint}: ${error.message}`;
  const Kind = /^Unrecognized object/.test(error.message) ? TypeError : error instanceof RangeError ? RangeError : Error;
  return new Kind(message, { cause: error });
}

function checkLimit(name: string, value: unknown): number {
  if (typeof value !== "number" || !(Number.isSafeInteger(value) || value === Infinity) || value < 0) {
    throw new RangeError(
      `Cannot construct MsgpackDecoderStream: ${name} must be a non-negative safe integer or Infinity, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** The limits in force, as {@linkcode MsgpackDecoderStream.limits} shows them (see {@linkcode MsgpackDecoderOptions}). */
export interface MsgpackDecoderLimits {
  /** The largest string accepted, in UTF-8 bytes. */
  maxStrLength: number;
  /** The largest binary accepted, in bytes. */
  maxBinLength: number;
  /** The longest array accepted, in elements. */
  maxArrayLength: number;
  /** The largest map accepted, in entries. */
  maxMapLength: number;
  /** The largest extension payload accepted, in bytes. */
  maxExtLength: number;
  /** The deepest nesting of arrays and maps accepted. */
  maxDepth: number;
  /** The largest encoded value accepted, in bytes. */
  maxValueBytes: number;
  /** @deprecated The same as `maxValueBytes`. */
  maxValueSize: number;
}

/** The limits of `options`, defaults filled in, and the name the caller gave the value bound (for messages). */
function readLimits(options: MsgpackDecoderOptions): { limits: MsgpackDecoderLimits; valueOption: string } {
  const limits = { ...DEFAULT_LIMITS } as MsgpackDecoderLimits;
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]) {
    if (options[key] !== undefined) limits[key] = checkLimit(key, options[key]);
  }
  let valueOption = "maxValueBytes";
  if (options.maxValueSize !== undefined) {
    const size = checkLimit("maxValueSize", options.maxValueSize);
    if (options.maxValueBytes !== undefined && size !== limits.maxValueBytes) {
      throw new RangeError(
        `Cannot construct MsgpackDecoderStream: maxValueSize is the former name of maxValueBytes; got both, and they differ (${size} and ${limits.maxValueBytes})`,
      );
    }
    limits.maxValueBytes = size;
    valueOption = "maxValueSize";
  }
  limits.maxValueSize = limits.maxValueBytes;
  return { limits, valueOption };
}

/**
 * The decoding behind {@linkcode MsgpackDecoderStream}: finds complete values in each chunk,
 * gathers a value that spans chunks, and decodes complete values in batches.
 */
class ChunkDecoder {
  readonly #decoder: Decoder;
  readonly #boundaries: Boundaries;
  readonly #maxValueBytes: number;
  readonly #valueOption: string;
  #controller!: TransformStreamDefaultController<unknown>;
  /** The bytes of a value that spans chunks; it always starts at that value. */
  #pending: Uint8Array | undefined;
  #held = 0;
  // Stream offsets (bytes before them in all the input) of the current chunk and of `pending`.
  #consumed = 0;
  #chunkBase = 0;
  #pendingBase = 0;
  decodeCalls = 0;

  constructor(decoder: Decoder, boundaries: Boundaries, maxValueBytes: number, valueOption: string) {
    this.#decoder = decoder;
    this.#boundaries = boundaries;
    this.#maxValueBytes = maxValueBytes;
    this.#valueOption = valueOption;
  }

  get capacity(): number {
    return this.#pending?.length ?? 0;
  }

  start(controller: TransformStreamDefaultController<unknown>): void {
    this.#controller = controller;
  }

  transform(chunk: Uint8Array): void | Promise<void> {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`MsgpackDecoderStream expects Uint8Array chunks, got ${describeValue(chunk)}`);
    }
    const length = chunk.length;
    if (length === 0) return;
    this.#chunkBase = this.#consumed;
    this.#consumed += length;
    if (this.#pending === undefined) return this.#takeChunk(chunk, 0);
    const boundaries = this.#boundaries;
    // Add to the value that spans chunks, copying little beyond what it is known to need, so
    // that the bytes after its end are read from the chunk itself.
    for (let offset = 0; offset < length;) {
      const take = Math.min(length - offset, Math.max(boundaries.need - this.#held, SPAN_STEP));
      this.#ensure(this.#held + take);
      this.#pending!.set(take === length ? chunk : chunk.subarray(offset, offset + take), this.#held);
      this.#held += take;
      offset += take;
      // Not enough yet for the next header or payload: no need to look again.
      if (this.#held < boundaries.need) continue;
      boundaries.base = this.#pendingBase;
      const complete = boundaries.scan(this.#pending!, this.#held);
      if (complete !== -1) {
        // Complete: decode, and never write those bytes again (binaries are views of them).
        const value = this.#pending!.subarray(0, complete);
        const next = offset - (this.#held - complete);
        this.#pending = undefined;
        this.#held = 0;
        const emitting = this.#decodeAll(value, this.#pendingBase);
        if (next === length) return emitting;
        return emitting ? emitting.then(() => this.#takeChunk(chunk, next)) : this.#takeChunk(chunk, next);
      }
      if (boundaries.need > this.#maxValueBytes) this.#tooLarge(boundaries.need);
    }
  }

  flush(): void {
    if (this.#pending !== undefined) {
      const left = this.#held;
      this.#pending = undefined;
      this.#held = 0;
      throw new RangeError(
        `MsgpackDecoderStream: the input ended inside a MessagePack value, with ${left} bytes of it left over` +
          ` (at least ${Math.max(this.#boundaries.need - left, 1)} more were needed)`,
      );
    }
  }

  /**
   * Decodes the complete values in `bytes`, which start at stream offset `at`, and enqueues
   * them; a promise when it has to wait for the reader. The library's DecodeError says what was
   * wrong but not where: the message gains the stream bytes the failing values came from.
   */
  #decodeAll(bytes: Uint8Array, at: number): void | Promise<void> {
    this.decodeCalls++;
    const where = (error: unknown): never => {
      if (!(error instanceof DecodeError)) throw error;
      throw new DecodeError(`MsgpackDecoderStream: cannot decode the values in stream bytes ${at} to ${at + bytes.length}: ${error.message}`);
    };
    try {
      // One chunk can hold hundreds of thousands of small values: past MAX_QUEUED unread
      // ones, the rest waits for the reader.
      return enqueueAll(this.#controller, this.#decoder.decodeMulti(bytes))?.catch(where);
    } catch (error) {
      return where(error);
    }
  }

  #tooLarge(size: number): never {
    throw new RangeError(`MsgpackDecoderStream: a value of at least ${size} bytes exceeds ${this.#valueOption} (${this.#maxValueBytes})`);
  }

  /**
   * Makes room for `size` bytes in `pending`, doubling: linear in all, and never sized from a
   * header alone, so a few bytes announcing a large value cannot make the stream allocate it.
   */
  #ensure(size: number): void {
    const pending = this.#pending!;
    if (size <= pending.length) return;
    const grown = new Uint8Array(Math.max(size, pending.length * 2));
    grown.set(pending.subarray(0, this.#held), 0);
    this.#pending = grown;
  }

  /** Scans `chunk` from `start`, decodes its complete values in one go and keeps the start of an incomplete one. */
  #takeChunk(chunk: Uint8Array, start: number): void | Promise<void> {
    const boundaries = this.#boundaries;
    const chunkBase = this.#chunkBase;
    boundaries.open.length = 0;
    boundaries.pos = start;
    boundaries.base = chunkBase;
    const end = chunk.length;
    const complete = boundaries.scan(chunk, end);
    if (complete !== end) {
      // chunk[first, end) is the start of one value that spans chunks.
      const first = complete === -1 ? start : complete;
      const have = end - first;
      boundaries.pos -= first;
      boundaries.need -= first;
      this.#pendingBase = chunkBase + first;
      if (boundaries.need > this.#maxValueBytes) this.#tooLarge(boundaries.need);
      const pending = new Uint8Array(Math.max(Math.min(boundaries.need, 2 * have), have, 1024));
      pending.set(first === 0 ? chunk : chunk.subarray(first), 0);
      this.#pending = pending;
      this.#held = have;
    }
    if (complete !== -1) return this.#decodeAll(start === 0 && complete === end ? chunk : chunk.subarray(start, complete), chunkBase + start);
  }
}

/**
 * A `TransformStream` that decodes concatenated MessagePack values from
 * bytes cut anywhere, emitting each value once all of its bytes have
 * arrived. Options (`extensionCodec`, `useBigInt64`, `rawStrings`, ...) are
 * those of @msgpack/msgpack's `Decoder`, of which the stream keeps one; the
 * length limits default to bounds fit for untrusted input.
 *
 * Linear however the input is cut: a value split across chunks is scanned
 * once in all (only headers are read, payloads are skipped), its bytes are
 * gathered in a buffer that doubles as needed (so copied about twice), and
 * the decoder runs once, when the value is complete. A 16 MiB binary arriving in 16 KiB
 * chunks costs about what it costs whole.
 *
 * Backpressure holds within a chunk too: when one chunk holds more than
 * 4096 values, the rest are enqueued as the reader takes the first (which
 * also keeps Node's stream queue, quadratic past ~16k entries, short).
 *
 * Decoded binaries (and `rawStrings`) are views of the input: of the input
 * chunk when the value lies in one chunk, else of a buffer of the stream's
 * that it never writes again. So a producer must not write into a chunk
 * after handing it to the stream.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason;
 * the partial value held is dropped.
 *
 * Memory: with the default limits, decoded values cost at most about 64
 * bytes of JavaScript heap per input byte (measured in Node 20: an array of a
 * million empty maps, 1 byte each; empty binaries 52, 1000-deep nesting 57,
 * empty arrays 40, small integers 8), and a value that spans chunks at most
 * twice `maxValueBytes` of buffer while it arrives. Nesting is bounded by
 * `maxDepth`, so deep input cannot make the decoder's own stack grow with it.
 *
 * **Error behavior:** a chunk that is not a `Uint8Array` errors the stream
 * with a `TypeError`. A length or a nesting past a limit errors it with a
 * `RangeError` as soon as the header is seen, before the payload arrives. Bytes that are not
 * MessagePack error it with a `DecodeError` that says where in the stream they
 * were (the byte offset of an unused type byte, else the range of the values
 * being decoded). Input that ends
 * inside a value errors it with a `RangeError` that says how many bytes were
 * left over.
 *
 * @example Decode values from bytes cut anywhere
 * ```ts
 * import { encode } from "@msgpack/msgpack";
 * import { MsgpackDecoderStream } from "sluice/msgpack";
 *
 * const bytes = new Uint8Array([...encode({ id: 1 }), ...encode([true, "two"])]);
 * const source = new ReadableStream<Uint8Array>({
 *   start(c) {
 *     c.enqueue(bytes.subarray(0, 3));
 *     c.enqueue(bytes.subarray(3));
 *     c.close();
 *   },
 * });
 * const reader = source.pipeThrough(new MsgpackDecoderStream()).getReader();
 * for (let r = await reader.read(); !r.done; r = await reader.read()) console.log(r.value);
 * // { id: 1 },
 * // [ true, "two" ]
 * ```
 */
export class MsgpackDecoderStream extends TransformStream<Uint8Array, unknown> {
  /** The limits in force, defaults filled in. */
  readonly limits: Readonly<MsgpackDecoderLimits>;

  /**
   * Creates a decoder with the given limits; bad options throw here, before any stream exists.
   * @param options See {@linkcode MsgpackDecoderOptions}.
   * @throws {RangeError} when a limit is not a non-negative safe integer (or `Infinity`).
   */
  constructor(options: MsgpackDecoderOptions = {}) {
    options = optionsObject(options, "Cannot construct MsgpackDecoderStream");
    const { limits, valueOption } = readLimits(options);
    const { maxValueBytes, maxValueSize: _valueSize, maxDepth: _maxDepth, ...decoderLimits } = limits;
    const { maxValueSize: _deprecated, maxValueBytes: _bytes, maxDepth: _depthOption, ...decoderOptions } = options;
    const boundaries = new Boundaries(limits);
    const decoding = new ChunkDecoder(new Decoder({ ...decoderOptions, ...decoderLimits }), boundaries, maxValueBytes, valueOption);
    super({
      start: (controller) => decoding.start(controller),
      transform: (chunk) => decoding.transform(chunk),
      flush: () => decoding.flush(),
    });
    this.limits = limits;
    registerWork(this, () => ({ decodeCalls: decoding.decodeCalls, scannedBytes: boundaries.scanned, capacity: decoding.capacity }));
  }
}
