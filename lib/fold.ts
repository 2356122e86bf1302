/**
 * Aggregating a stream without materialising it: a reduce that reads the
 * stream once and keeps only the accumulator.
 * @module
 */

import { describeValue } from "./_internal.ts";

/**
 * Reads `source` to its end, calling `reducer(accumulator, chunk, index)` for
 * each chunk, and resolves with the last accumulator (`initial` for an empty
 * stream). Only the accumulator is kept: each chunk can be collected as soon
 * as the reducer returns.
 *
 * The reducer may return a promise (for work such as hashing with WebCrypto);
 * the next chunk is read only after it settles, so the source is paced by the
 * reducer. A plain value is used at once, without an extra turn.
 *
 * **Cancellation behavior:** a reducer that throws (or whose promise rejects)
 * cancels the source with that error, and `fold` rejects with it.
 *
 * **Error behavior:** the source erroring rejects `fold` with the source's
 * error. Bad arguments reject with a `TypeError` naming the argument, before
 * the source is locked: like the standard's `pipeTo`, `fold` returns a
 * promise and never throws.
 *
 * @example Count the bytes of a stream
 * ```ts
 * import { fold } from "sluice/fold";
 *
 * const body = new Blob(["hello, ", "world"]).stream();
 * const total = await fold(body, (n, chunk) => n + chunk.byteLength, 0);
 * console.log(total); // 12
 * ```
 *
 * @param source The stream to read; it is locked until `fold` settles.
 * @param reducer Combines the accumulator with one chunk and its index.
 * @param initial The accumulator before the first chunk.
 * @returns The last accumulator. Rejects with a `TypeError` when `source` is not a `ReadableStream` or is
 * locked, or `reducer` is not a function; with the source's error; or with the reducer's error.
 */
export function fold<T, A>(
  source: ReadableStream<T>,
  reducer: (accumulator: A, chunk: T, index: number) => A | PromiseLike<A>,
  initial: A,
): Promise<A> {
  if (
    typeof source !== "object" || source === null || typeof (source as ReadableStream).getReader !== "function"
  ) {
    return Promise.reject(new TypeError(`Cannot fold: source must be a ReadableStream, got ${describeValue(source)}`));
  }
  if (source.locked) {
    return Promise.reject(new TypeError("Cannot fold: source is locked (it already has a reader or is being piped)"));
  }
  if (typeof reducer !== "function") {
    return Promise.reject(new TypeError(`Cannot fold: reducer must be a function, got ${describeValue(reducer)}`));
  }
  const reader = source.getReader();
  return run(reader, reducer, initial);
}

async function run<T, A>(
  reader: ReadableStreamDefaultReader<T>,
  reducer: (accumulator: A, chunk: T, index: number) => A | PromiseLike<A>,
  accumulator: A,
): Promise<A> {
  let index = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      try {
        const next = reducer(accumulator, r.value, index++);
        accumulator = isThenable(next) ? await next : next;
      } catch (e) {
        await reader.cancel(e).catch(() => {});
        throw e;
      }
    }
  } finally {
    reader.releaseLock();
  }
  return accumulator;
}

function isThenable<A>(value: A | PromiseLike<A>): value is PromiseLike<A> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as PromiseLike<A>).then === "function";
}
