/**
 * Re-cutting a byte stream into chunks of one fixed size: the shape that
 * upload APIs, multipart writers and block ciphers want, whatever size the
 * producer happened to write.
 * @module
 */

import { describeValue } from "./_internal.ts";

/**
 * A `TransformStream` that re-cuts a stream of `Uint8Array`s into chunks of
 * exactly `size` bytes. Only the last chunk may be shorter, and no chunk is
 * ever empty.
 *
 * Zero-copy where it can be: an output chunk that lies inside one input chunk
 * is a `subarray` view of it; bytes are copied only to join pieces that span
 * input chunks. It holds at most `size` bytes of its own between writes.
 *
 * Because output chunks may be views of input chunks, a producer must not
 * write into a chunk after handing it to the stream.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason;
 * the partial chunk held is dropped.
 *
 * **Error behavior:** an input chunk that is not a `Uint8Array` errors the
 * stream with a `TypeError`. Empty input chunks are ignored.
 *
 * @example Re-cut a stream into 4-byte chunks
 * ```ts
 * import { ChunkStream } from "sluice/chunk";
 *
 * const source = new ReadableStream<Uint8Array>({
 *   start(c) {
 *     c.enqueue(new Uint8Array([1, 2, 3]));
 *     c.enqueue(new Uint8Array([4, 5, 6, 7, 8, 9]));
 *     c.close();
 *   },
 * });
 * const reader = source.pipeThrough(new ChunkStream(4)).getReader();
 * const sizes: number[] = [];
 * for (let r = await reader.read(); !r.done; r = await reader.read()) sizes.push(r.value.length);
 * console.log(sizes); // [4, 4, 1]
 * ```
 */
export class ChunkStream extends TransformStream<Uint8Array, Uint8Array> {
  /** The size of every chunk but the last. */
  readonly size: number;

  /**
   * Creates a stream that re-cuts its input into chunks of `size` bytes.
   *
   * @param size The byte length of every emitted chunk but the last; a positive safe integer.
   * @throws {RangeError} when `size` is not a positive safe integer.
   */
  constructor(size: number) {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(
        `Cannot construct ChunkStream: size must be a positive safe integer, got ${describeValue(size)}`,
      );
    }
    // The pending partial chunk, allocated on first use and reused after each flush of it.
    let pending: Uint8Array | undefined;
    let filled = 0;
    super({
      transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(`ChunkStream expects Uint8Array chunks, got ${describeValue(chunk)}`);
        }
        let offset = 0;
        const length = chunk.length;
        if (filled > 0) {
          const take = Math.min(size - filled, length);
          pending!.set(take === length ? chunk : chunk.subarray(0, take), filled);
          filled += take;
          offset = take;
          if (filled < size) return;
          controller.enqueue(pending!);
          // The emitted buffer now belongs to the reader; start a new one next time.
          pending = undefined;
          filled = 0;
        }
        while (length - offset >= size) {
          controller.enqueue(
            offset === 0 && length === size ? chunk : chunk.subarray(offset, offset + size),
          );
          offset += size;
        }
        if (offset < length) {
          pending = new Uint8Array(size);
          pending.set(chunk.subarray(offset), 0);
          filled = length - offset;
        }
      },
      flush(controller) {
        if (filled > 0) controller.enqueue(pending!.subarray(0, filled));
        pending = undefined;
        filled = 0;
      },
    });
    this.size = size;
  }
}

