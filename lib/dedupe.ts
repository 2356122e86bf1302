/**
 * Dropping repeated items from a stream by key, for aggregating streams whose
 * producers may send the same record twice (retries, overlapping pages).
 * @module
 */

import { describeValue, optionsObject } from "./_internal.ts";

/** Options of {@linkcode DedupeStream}. */
export interface DedupeOptions<T = unknown> {
  /**
   * The set of keys already seen. Pass one only to share it on purpose (to
   * deduplicate across several streams, or to resume); by default every
   * stream has its own, so independent streams never drop each other's items.
   * @default a new, empty `Set` for this stream
   */
  seen?: Set<unknown>;
  /**
   * The most distinct keys held at once (in `seen`, shared or not). A chunk
   * with a new key when that many are held errors the stream with a
   * `RangeError` instead of letting memory grow without bound (a key costs
   * about 38 bytes for a number, 53 for a short string, measured in Node 20:
   * the default holds some 36 to 51 MiB). `Infinity`
   * lifts the bound; `scope` or {@linkcode DedupeStream.reset} keep the set small.
   * @default 1000000
   */
  maxKeys?: number;
  /**
   * Gives the scope of a chunk: keys are only compared within a scope, and
   * the set is emptied whenever a chunk's scope differs (SameValueZero) from
   * the one before it. For input whose scopes come in runs, such as the
   * records of one file, then of the next: memory then grows with the
   * largest scope, not with the stream.
   * @default none: one scope for the whole stream
   */
  scope?: (chunk: T) => unknown;
}

/** See {@linkcode DedupeOptions.maxKeys}. */
const DEFAULT_MAX_KEYS = 1_000_000;
const NO_SCOPE: unique symbol = Symbol("no scope yet");

/**
 * A `TransformStream` that passes the first chunk for each key and drops the
 * later ones. Keys are compared as `Set` members (SameValueZero: `"1"` and
 * `1` differ, `NaN` equals `NaN`, objects by identity). Chunks pass unchanged.
 *
 * Memory grows with the number of distinct keys, not with the stream: keep
 * keys small (an id, not the record). It is bounded by `maxKeys` (a million
 * by default); a `scope` (or a call of {@linkcode DedupeStream.reset} between
 * parts of the input) forgets the keys of a part that is done.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason.
 *
 * **Error behavior:** a `key` or `scope` function that throws errors the
 * stream with that error (a pipe into it then cancels its source). A new key
 * when `maxKeys` keys are held errors it with a `RangeError` that says so.
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
 *
 * @example Deduplicate within each file only
 * ```ts
 * import { DedupeStream } from "sluice/dedupe";
 *
 * const rows = new ReadableStream({
 *   start(c) {
 *     for (const r of [{ file: "a", id: 1 }, { file: "a", id: 1 }, { file: "b", id: 1 }]) c.enqueue(r);
 *     c.close();
 *   },
 * });
 * const perFile = new DedupeStream((r: { file: string; id: number }) => r.id, { scope: (r) => r.file });
 * const reader = rows.pipeThrough(perFile).getReader();
 * let n = 0;
 * for (let r = await reader.read(); !r.done; r = await reader.read()) n++;
 * console.log(n); // 2 — the repeat in "a" is dropped, "b" starts afresh
 * ```
 */
export class DedupeStream<T> extends TransformStream<T, T> {
  /** The keys seen so far (this stream's own set unless one was passed). */
  readonly seen: Set<unknown>;
  /** The most distinct keys held at once. */
  readonly maxKeys: number;

  /**
   * Creates the stream; `key` gives each chunk's identity. Bad arguments throw here.
   * @param key Gives the key of a chunk.
   * @param options See {@linkcode DedupeOptions}.
   * @throws {TypeError} when `key` or `scope` is not a function or `options.seen` is not a `Set`.
   * @throws {RangeError} when `maxKeys` is not a positive integer or `Infinity`.
   */
  constructor(key: (chunk: T) => unknown, options: DedupeOptions<T> = {}) {
    if (typeof key !== "function") {
      throw new TypeError(`Cannot construct DedupeStream: key must be a function, got ${describeValue(key)}`);
    }
    options = optionsObject(options, "Cannot construct DedupeStream");
    const { seen: given, maxKeys = DEFAULT_MAX_KEYS, scope } = options;
    if (given !== undefined && !(given instanceof Set)) {
      throw new TypeError(`Cannot construct DedupeStream: seen must be a Set, got ${describeValue(given)}`);
    }
    if (typeof maxKeys !== "number" || !((Number.isSafeInteger(maxKeys) && maxKeys > 0) || maxKeys === Infinity)) {
      throw new RangeError(`Cannot construct DedupeStream: maxKeys must be a positive integer or Infinity, got ${describeValue(maxKeys)}`);
    }
    if (scope !== undefined && typeof scope !== "function") {
      throw new TypeError(`Cannot construct DedupeStream: scope must be a function, got ${describeValue(scope)}`);
    }
    const seen = given ?? new Set<unknown>();
    let current: unknown = NO_SCOPE;
    super({
      transform(chunk, controller) {
        if (scope !== undefined) {
          const s = scope(chunk);
          // SameValueZero, as the keys are compared.
          if (!(s === current || (s !== s && current !== current))) {
            if (current !== NO_SCOPE) seen.clear();
            current = s;
          }
        }
        const k = key(chunk);
        if (seen.has(k)) return;
        if (seen.size >= maxKeys) {
          throw new RangeError(
            `DedupeStream: a new key when maxKeys (${maxKeys}) distinct keys are held; raise maxKeys, or forget finished parts with scope or reset()`,
          );
        }
        seen.add(k);
        controller.enqueue(chunk);
      },
    });
    this.seen = seen;
    this.maxKeys = maxKeys;
  }

  /**
   * Forgets every key seen so far (clearing `seen`, also when it is shared),
   * so that the next chunk of any key passes. For callers that know where one
   * part of the input ends, for example between the files of a batch.
   */
  reset(): void {
    this.seen.clear();
  }
}
