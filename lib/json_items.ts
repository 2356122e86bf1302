/**
 * Parsing the items of a JSON document too big to hold, as its bytes arrive:
 * the values at chosen paths are built one by one, the rest is checked and
 * skipped.
 * @module
 */

// The reviver's type mirrors JSON.parse's own signature, which takes `any`.
// deno-lint-ignore-file no-explicit-any

import { describeValue, MAX_QUEUED, readerCaughtUp, optionsObject } from "./_internal.ts";
import { JsonScanner, type Segment } from "./_json_scan.ts";

export { JsonLimitError, JsonParseError } from "./_json_scan.ts";
export type { JsonLimit, JsonParseErrorKind, JsonTextPosition } from "./_json_scan.ts";

/** One selected value, as {@linkcode JsonItemStream} emits it. */
export interface JsonItem<T = unknown> {
  /** The path that selected it, exactly as given to the constructor. */
  path: string;
  /** Its member name in the object holding it, its index in the array holding it, or null for the top-level value. */
  key: string | number | null;
  /** The value, equal to what `JSON.parse` of the whole text holds there. */
  value: T;
}

/** As the reviver of `JSON.parse`: called with the holder as `this`, bottom-up. */
export type JsonReviver = (this: any, key: string, value: any, ...rest: any[]) => any;

/** Options of {@linkcode JsonItemStream}. Each limit is a positive integer, or `Infinity` for none. */
export interface JsonItemStreamOptions {
  /**
   * As the reviver of `JSON.parse(text, reviver)`, applied to each selected
   * value: called for every value inside it, bottom-up, and last for the
   * selected value itself with its key (an index as a string, `""` for the
   * top-level value) and, as `this`, an object holding only it under that key
   * (the container it sits in is never built). A selected value the reviver
   * turns into `undefined` is not emitted. Where the runtime's `JSON.parse`
   * passes a third argument (the source text of primitives), so does this.
   * @default undefined
   */
  reviver?: JsonReviver;
  /** The deepest nesting of arrays and objects accepted anywhere in the text (the top-level container is depth 1). @default 1000 */
  maxDepth?: number;
  /** The longest string (member names included) accepted anywhere in the text, in UTF-16 code units once decoded. @default 16777216 */
  maxStringLength?: number;
  /** The longest number accepted anywhere in the text, in characters as written. @default 1024 */
  maxNumberLength?: number;
  /** The most bytes of text one selected value may take; this bounds the memory the stream holds. @default 134217728 (128 MiB) */
  maxValueBytes?: number;
  /** The most bytes the whole text may take. @default Infinity */
  maxTotalBytes?: number;
}

const DEFAULTS = {
  maxDepth: 1000,
  maxStringLength: 16 * 2 ** 20,
  maxNumberLength: 1024,
  maxValueBytes: 128 * 2 ** 20,
  maxTotalBytes: Infinity,
};

/** Values emitted between two checks of the reader's pace. */
const PAUSE_EVERY = 256;

/**
 * A `TransformStream` that reads one JSON text as UTF-8 bytes, in any
 * chunking, and emits the values at the selected paths as each completes, as
 * {@linkcode JsonItem}s `{ path, key, value }`. Memory stays bounded by the
 * largest selected value plus one chunk, whatever the size of the document:
 * what is not selected is scanned and validated byte by byte but never built.
 *
 * Paths (one string, or an array of them) start at `$`, the top-level value,
 * and add steps: `.name` or `["any name"]` (a member), `[3]` (an element),
 * `.*` or `[*]` (every member of an object or element of an array, as in
 * RFC 9535). So `$.orders[*]` selects each order, `$.prices.*` each member of
 * `prices` with its name as `key`, `$.meta` one value, `$[*]` the elements of a
 * document that is one big array, and `$` the whole document. Paths may not
 * select values inside each other's (`$.a` with `$.a[*]`); a value two paths
 * select alike is emitted once, for the first. A member name that occurs
 * twice in one object gives an item for each occurrence, in order (the last
 * is the one `JSON.parse` keeps).
 *
 * Each value equals `JSON.parse` of the text at that place, exactly: numbers,
 * `-0`, escapes and lone surrogates written as escapes, duplicate member
 * names (the last wins), `__proto__` as an own member. A leading UTF-8 byte
 * order mark is skipped, as `Response.json()` does; a member name matched by a
 * path is compared after decoding its escapes.
 *
 * `summary` resolves when the text has ended, with how many values each path
 * gave (`{ "$.orders[*]": 104167 }`), or rejects with the stream's error.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side, and through a pipe the source, with the same reason;
 * `summary` rejects with that reason. Many values from one chunk are emitted
 * only as fast as they are read: past 4096 unread items the stream waits.
 *
 * **Error behavior:** a text that is not JSON errors the stream with a
 * {@linkcode JsonParseError} (a `SyntaxError`) at the first byte where it
 * stops being JSON, also in parts that are not selected, with `kind`
 * (`"unexpected-byte"`, `"unterminated-string"`, `"bad-escape"`,
 * `"invalid-utf8"`, `"trailing-data"`, or `"truncated"` when the text ends
 * before its top-level value does), `offset` in bytes, `line`, `column` and
 * `path`. A text that passes a limit errors it with a {@linkcode JsonLimitError}
 * (a `RangeError`) naming the option. A chunk that is not a `Uint8Array` is a
 * `TypeError`; an error thrown by the reviver errors the stream as it is.
 *
 * @example Count and sum the orders of a streamed auction
 * ```ts
 * import { JsonItemStream } from "sluice/json-items";
 *
 * const body = new Response(JSON.stringify({ id: 7, orders: [{ amount: 2 }, { amount: 3 }] })).body!;
 * const items = new JsonItemStream(["$.id", "$.orders[*]"]);
 * const reader = body.pipeThrough(items).getReader();
 * let total = 0;
 * for (let r = await reader.read(); !r.done; r = await reader.read()) {
 *   if (r.value.path === "$.orders[*]") total += (r.value.value as { amount: number }).amount;
 *   else console.log("auction", r.value.value); // "auction", 7
 * }
 * console.log(total, await items.summary); // 5, { "$.id": 1, "$.orders[*]": 2 }
 * ```
 */
export class JsonItemStream<T = unknown> extends TransformStream<Uint8Array, JsonItem<T>> {
  /** The paths, as given. */
  readonly paths: readonly string[];
  /** Resolves at the end of the text with how many values each path gave; rejects with the stream's error. */
  readonly summary: Promise<Record<string, number>>;

  /**
   * Checks the paths and options and makes the stream; nothing is read until
   * bytes are written to it.
   * @param paths The path, or the paths, to select (see above).
   * @param options The reviver and the limits.
   * @throws {TypeError} on a path that does not parse, paths that overlap, or options of the wrong type.
   * @throws {RangeError} on a limit that is not a positive integer or `Infinity`.
   */
  constructor(paths: string | readonly string[], options: JsonItemStreamOptions = {}) {
    const list = checkPaths(paths);
    const selectors = list.map((p) => parsePath(p));
    checkOverlap(list, selectors);
    options = optionsObject(options, "Cannot construct JsonItemStream");
    const { reviver } = options;
    if (reviver !== undefined && typeof reviver !== "function") {
      throw new TypeError(`Cannot construct JsonItemStream: reviver must be a function, got ${describeValue(reviver)}`);
    }
    const limits = { ...DEFAULTS };
    for (const name of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const value = options[name];
      if (value === undefined) continue;
      if (typeof value !== "number" || !(value === Infinity || (Number.isSafeInteger(value) && value > 0))) {
        throw new RangeError(`Cannot construct JsonItemStream: ${name} must be a positive integer or Infinity, got ${describeValue(value)}`);
      }
      limits[name] = value;
    }

    let settle!: { resolve: (counts: Record<string, number>) => void; reject: (reason: unknown) => void };
    const summary = new Promise<Record<string, number>>((resolve, reject) => void (settle = { resolve, reject }));
    summary.catch(() => {});
    const counts = list.map(() => 0);
    let controller!: TransformStreamDefaultController<JsonItem<T>>;
    let stopped = false;

    const onValue = (selector: number, key: string | number | null, text: string): void => {
      let value: unknown;
      if (reviver === undefined) value = JSON.parse(text);
      else {
        value = revive(text, reviver, key === null ? "" : String(key));
        if (value === undefined) return;
      }
      counts[selector]!++;
      controller.enqueue({ path: list[selector]!, key, value: value as T });
    };
    const scanner = new JsonScanner("JsonItemStream", selectors, limits, onValue);
    let total = 0;

    const fail = (error: unknown): never => {
      stopped = true;
      settle.reject(error);
      throw error;
    };
    // Scans `chunk` from `i`, waiting for the reader whenever it falls MAX_QUEUED items behind.
    const drive = (chunk: Uint8Array, i: number): void | Promise<void> => {
      try {
        while (!stopped) {
          i = scanner.run(chunk, i, PAUSE_EVERY);
          if (i === chunk.length) {
            scanner.endChunk(chunk);
            return;
          }
          if (controller.desiredSize !== null && controller.desiredSize < -MAX_QUEUED) {
            return readerCaughtUp(controller, MAX_QUEUED / 2).then(() => drive(chunk, i));
          }
        }
      } catch (error) {
        fail(error);
      }
    };
    // `cancel` is the newer transformer hook (run when the readable side is cancelled); DOM typings lack it.
    const transformer: Transformer<Uint8Array, JsonItem<T>> & { cancel(reason: unknown): void } = {
      start(c) {
        controller = c;
      },
      transform(chunk) {
        if (!(chunk instanceof Uint8Array)) {
          fail(new TypeError(`JsonItemStream expects Uint8Array chunks, got ${describeValue(chunk)}`));
        }
        if (chunk.length === 0) return;
        total += chunk.length;
        if (total <= limits.maxTotalBytes) return drive(chunk, 0);
        // Scan up to the limit (an error before it is the one to report), then stop there.
        const overLimit = (): void => {
          try {
            scanner.totalTooLarge(limits.maxTotalBytes);
          } catch (error) {
            fail(error);
          }
        };
        const scanned = drive(chunk.subarray(0, chunk.length - (total - limits.maxTotalBytes)), 0);
        return scanned ? scanned.then(overLimit) : overLimit();
      },
      flush() {
        try {
          scanner.end();
        } catch (error) {
          fail(error);
        }
        stopped = true;
        settle.resolve(Object.fromEntries(list.map((p, i) => [p, counts[i]!])));
      },
      cancel(reason) {
        stopped = true;
        settle.reject(reason);
      },
    };
    super(transformer);
    this.paths = list;
    this.summary = summary;
    if (!HAS_CANCEL_HOOK) {
      // Without the hook (Chromium), a readable side of our own tells of a cancel.
      const reader = super.readable.getReader();
      const readable = new ReadableStream<JsonItem<T>>(
        {
          pull: (c) => reader.read().then((r) => (r.done ? c.close() : c.enqueue(r.value))),
          cancel: (reason) => {
            transformer.cancel(reason);
            return reader.cancel(reason);
          },
        },
        { highWaterMark: 0 },
      );
      Object.defineProperty(this, "readable", { value: readable, enumerable: false, configurable: true });
    }
  }
}

/** Whether this runtime calls a transformer's `cancel` when the readable side is cancelled (Chromium does not yet). */
const HAS_CANCEL_HOOK = (() => {
  let called = false;
  try {
    const transformer = { cancel: () => void (called = true) };
    void new TransformStream(transformer as Transformer).readable.cancel().catch(() => {});
  } catch {
    return false;
  }
  return called;
})();

function checkPaths(paths: unknown): string[] {
  if (typeof paths === "string") return [paths];
  if (!Array.isArray(paths)) {
    throw new TypeError(`Cannot construct JsonItemStream: paths must be a string or an array of strings, got ${describeValue(paths)}`);
  }
  if (paths.length === 0) throw new TypeError("Cannot construct JsonItemStream: paths must hold at least one path, got an empty array");
  const seen = new Set<string>();
  for (const p of paths) {
    if (typeof p !== "string") {
      throw new TypeError(`Cannot construct JsonItemStream: each path must be a string, got ${describeValue(p)}`);
    }
    if (seen.has(p)) throw new TypeError(`Cannot construct JsonItemStream: the path ${p} is given twice`);
    seen.add(p);
  }
  return [...paths];
}

/** Parses `$`, `.name`, `.*`, `[*]`, `[3]`, `["name"]`, `['name']` into segments. */
function parsePath(path: string): Segment[] {
  const bad = (at: number, what: string): never => {
    throw new TypeError(`Cannot construct JsonItemStream: invalid path ${JSON.stringify(path)} at character ${at}: ${what}`);
  };
  if (path[0] !== "$") bad(0, "a path starts with $");
  const segments: Segment[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === ".") {
      if (path[i + 1] === "*") {
        segments.push({ any: true });
        i += 2;
        continue;
      }
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*/.exec(path.slice(i + 1));
      if (m === null) bad(i + 1, `expected a member name, * or a bracket after '.' (write odd names as ["name"])`);
      segments.push({ name: m![0] });
      i += 1 + m![0].length;
    } else if (c === "[") {
      const rest = path.slice(i + 1);
      let m: RegExpExecArray | null;
      if ((m = /^\*\]/.exec(rest))) segments.push({ any: true });
      else if ((m = /^(0|[1-9][0-9]*)\]/.exec(rest))) {
        const index = Number(m[1]);
        if (!Number.isSafeInteger(index)) bad(i + 1, "the index is too large");
        segments.push({ index });
      } else if ((m = /^"((?:[^"\\]|\\.)*)"\]/.exec(rest))) {
        let name: unknown;
        try {
          name = JSON.parse(`"${m[1]}"`);
        } catch {
          bad(i + 1, "the quoted name is not a valid JSON string");
        }
        segments.push({ name: name as string });
      } else if ((m = /^'((?:[^'\\]|\\.)*)'\]/.exec(rest))) {
        let name: unknown;
        try {
          name = JSON.parse(`"${m[1]!.replace(/\\'/g, "'").replace(/(^|[^\\])((?:\\\\)*)"/g, '$1$2\\"')}"`);
        } catch {
          bad(i + 1, "the quoted name is not valid");
        }
        segments.push({ name: name as string });
      } else bad(i + 1, "expected *, an index, or a quoted name, then ']'");
      i += 1 + m![0].length;
    } else bad(i, `expected '.' or '[', got ${JSON.stringify(c)}`);
  }
  return segments;
}

/** Whether two steps can match the same child. */
function sameChild(a: Segment, b: Segment): boolean {
  if ("any" in a || "any" in b) return true;
  if ("name" in a) return "name" in b && a.name === b.name;
  return "index" in b && a.index === b.index;
}

function checkOverlap(paths: readonly string[], selectors: readonly Segment[][]): void {
  for (let a = 0; a < selectors.length; a++) {
    for (let b = 0; b < selectors.length; b++) {
      const outer = selectors[a]!;
      const inner = selectors[b]!;
      if (a === b || outer.length >= inner.length) continue;
      if (outer.every((s, k) => sameChild(s, inner[k]!))) {
        throw new TypeError(
          `Cannot construct JsonItemStream: the paths ${paths[a]} and ${paths[b]} overlap (a value that ${paths[a]} selects can hold values that ${paths[b]} selects); select one or the other`,
        );
      }
    }
  }
}

/** A key not written in `text` as a member name: the control characters are escaped there, and so never raw. */
function freshKey(text: string): string {
  for (let c = 0; c < 0x20; c++) {
    if (c === 8 || c === 9 || c === 10 || c === 12 || c === 13) continue; // these have short escapes too
    const hex = c.toString(16).padStart(4, "0");
    if (!text.includes(`\\u${hex}`) && !text.includes(`\\u${hex.toUpperCase()}`)) return String.fromCharCode(c);
  }
  let key = "\u0000";
  while (text.includes(JSON.stringify(key).slice(1, -1))) key += "\u0000";
  return key;
}

/**
 * `JSON.parse(text, reviver)` for a value held under `key`: the text is
 * parsed inside a wrapper object under a key it cannot contain, so the
 * native reviver walk (with its third argument where the runtime has one)
 * calls `reviver` for every inner value; the call for the value itself is
 * redirected to a holder under its real key, and the wrapper's is skipped.
 */
function revive(text: string, reviver: JsonReviver, key: string): unknown {
  const wrapperKey = freshKey(text);
  let wrapper: unknown = undefined;
  const result = JSON.parse(`{${JSON.stringify(wrapperKey)}:${text}}`, function (this: unknown, k: string, value: unknown, ...rest: unknown[]) {
    if (k === wrapperKey && wrapper === undefined) {
      wrapper = this;
      const holder = {};
      Object.defineProperty(holder, key, { value, writable: true, enumerable: true, configurable: true });
      return reviver.call(holder, key, value, ...rest);
    }
    if (k === "" && value === wrapper) return value;
    return reviver.call(this, k, value, ...rest);
  }) as Record<string, unknown>;
  return result[wrapperKey];
}
