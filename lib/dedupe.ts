/**
 * Dropping repeated items from a stream by key, for aggregating streams whose
 * producers may send the same record twice (retries, overlapping pages).
 * @module
 */

import { describeValue } from "./_internal.ts";

/** Options of {@linkcode DedupeStream}. */
export interface DedupeOptions {
  /**
   * The set of keys already seen. Pass one only to share it on purpose (to
   * deduplicate across several streams, or to resume); by default every
   * stream has its own, so independent streams never drop each other's items.
   * @default a new, empty `Set` for this stream
   */
  seen?: Set<unknown>;
}

/**
 * A `TransformStream` that passes the first chunk for each key and drops the
 * later ones. Keys are compared as `Set` members (SameValueZero: `"1"` and
 * `1` differ, `NaN` equals `NaN`, objects by identity). Chunks pass unchanged.
 *
 * Memory grows with the number of distinct keys, not with the stream: keep
 * keys small (an id, not the record).
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason.
 *
 * **Error behavior:** a `key` function that throws errors the stream with
 * that error (a pipe into it then cancels its source).
 *
 * @example Drop records seen before
 * ```ts
 * import { DedupeStream } from "sluice/dedupe";
 *
 * const records = new ReadableStream({
 *   start(c) {
 *     for (const r of [{ id: 1 }, { id: 2 }, { id: 1 }, { id: 3 }]) c.enqueue(r);
 *     c.close();
 *   },
 * });
 * const reader = records.pipeThrough(new DedupeStream((r: { id: number }) => r.id)).getReader();
 * const ids: number[] = [];
 * for (let r = await reader.read(); !r.done; r = await reader.read()) ids.push(r.value.id);
 * console.log(ids); // [1, 2, 3]
 * ```
 */
export class DedupeStream<T> extends TransformStream<T, T> {
  /** The keys seen so far (this stream's own set unless one was passed). */
  readonly seen: Set<unknown>;

  /**
   * @param key Gives the key of a chunk.
   * @param options See {@linkcode DedupeOptions}.
   * @throws {TypeError} when `key` is not a function or `options.seen` is not a `Set`.
   */
  constructor(key: (chunk: T) => unknown, options: DedupeOptions = {}) {
    if (typeof key !== "function") {
      throw new TypeError(`Cannot construct DedupeStream: key must be a function, got ${describeValue(key)}`);
    }
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot construct DedupeStream: options must be an object, got ${describeValue(options)}`);
    }
    const given = options.seen;
    if (given !== undefined && !(given instanceof Set)) {
      throw new TypeError(`Cannot construct DedupeStream: seen must be a Set, got ${describeValue(given)}`);
    }
    const seen = given ?? new Set<unknown>();
    super({
      transform(chunk, controller) {
        const k = key(chunk);
        if (seen.has(k)) return;
        seen.add(k);
        controller.enqueue(chunk);
      },
    });
    this.seen = seen;
  }
}
