/**
 * Incremental JSON: the bytes of `JSON.stringify(value, replacer, space)` as
 * a pull-driven stream of UTF-8 chunks, with bounded memory, and with
 * Promises, async iterables and ReadableStreams allowed inside the value.
 * @module
 */

// The replacer, space and holder types mirror JSON.stringify's own signatures, which take `any`
// and the String and Number wrapper objects.
// deno-lint-ignore-file no-explicit-any ban-types

import { describeValue, optionsObject } from "./_internal.ts";

/** A replacer as `JSON.stringify` takes it: a function, a list of keys, or null. */
export type JsonReplacer =
  | ((this: any, key: string, value: any) => any)
  | readonly (string | number | String | Number)[]
  | null;

/** Options of {@linkcode jsonStream}. */
export interface JsonStreamOptions {
  /**
   * As the second argument of `JSON.stringify`: a function called with the
   * holder as `this`, or an array of the keys to keep (applied to objects, not arrays).
   * @default null
   */
  replacer?: JsonReplacer;
  /**
   * As the third argument of `JSON.stringify`: a number of spaces (clamped to
   * 10) or a string (cut to 10 characters); boxed numbers and strings are unwrapped.
   * @default ""
   */
  space?: string | number | String | Number;
  /**
   * The largest emitted chunk in bytes, a positive integer. Chunks never end inside a UTF-8
   * sequence, except where `chunkSize` is below 4 and so smaller than the sequence itself.
   * @default 65536
   */
  chunkSize?: number;
  /**
   * Whether Promises, async iterables and ReadableStreams inside the value are
   * detected and serialised by their contents (see {@linkcode jsonStream}).
   * When false, they are serialised exactly as `JSON.stringify` would (`{}`).
   * @default true
   */
  async?: boolean;
  /**
   * The deepest nesting of arrays, objects, streams and async iterables
   * allowed, counting the outermost as 1; deeper errors the stream with a
   * `RangeError` that names the depth and the path. A bound on the
   * serialiser's own memory (about 240 bytes a level, so some 23 MiB at
   * the default, measured in Node 20) for values that never end, such as a
   * replacer or `toJSON` that builds a fresh object for every value, where
   * `JSON.stringify` throws a `RangeError` as its stack overflows. Far deeper than `JSON.stringify` can
   * go (a few thousand levels); `Infinity` lifts the bound.
   * @default 100000
   */
  maxDepth?: number;
}

/**
 * The name of the property (`"jsonPath"`) that {@linkcode jsonStream} adds to
 * an error to say where in the value it happened, e.g. `"$.orders[3].amount"`.
 *
 * @example Read where a stream failed
 * ```ts
 * import { JSON_PATH_PROPERTY, jsonStream } from "sluice/json";
 *
 * try {
 *   await new Response(jsonStream({ orders: [{ amount: 1n }] })).text();
 * } catch (error) {
 *   console.log((error as Record<string, unknown>)[JSON_PATH_PROPERTY]); // "$.orders[0].amount"
 * }
 * ```
 */
export const JSON_PATH_PROPERTY = "jsonPath";

const OBJECT = 0;
const ARRAY = 1;
const READER = 2;
const ITERATOR = 3;

/** An open container on the explicit stack (no recursion, so depth is bounded by memory only). */
interface Frame {
  kind: number;
  /** The object, array, stream or iterable: the holder that the replacer sees as `this`. */
  holder: any;
  /** Own enumerable keys (or the replacer's property list) of an object frame. */
  keys: readonly string[] | null;
  /** Length of an array frame. */
  length: number;
  /** Next index into `keys`, the array, or the items read so far. */
  index: number;
  /** The key being serialised, for paths in errors. */
  current: string | number | undefined;
  /** Members written so far. */
  members: number;
  /** Indentation of this container's members, and of its closing bracket. */
  indent: string;
  outer: string;
  reader: ReadableStreamDefaultReader<unknown> | null;
  iterator: AsyncIterator<unknown> | null;
  /** The reader/iterator has ended (or failed and must not be cancelled). */
  ended: boolean;
}

/** What to do with the value a pending Promise settles with. */
const RESUME_RAW = 0; // a raw value (or what a raw Promise resolved to): the toJSON/replacer rules apply
const RESUME_FINAL = 1; // what a Promise from toJSON/the replacer resolved to: written as it is
const RESUME_READ = 2; // the result of reader.read() / iterator.next()

const textEncoder = new TextEncoder();
const ObjectPrototype = Object.prototype;
const ArrayPrototype = Array.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const objectKeys = Object.keys;
const nativeStringify = JSON.stringify;
const FRACTIONAL_SPACE_IS_PRETTY = nativeStringify([1], null, 0.5) !== "[1]";
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** See {@linkcode JsonStreamOptions.maxDepth}. */
const DEFAULT_MAX_DEPTH = 100_000;
/** Path segments kept at each end of a shortened path in an error message. */
const PATH_ENDS = 8;

/** Sub-trees up to this many values, nesting levels and estimated bytes are handed to the native `JSON.stringify` whole. */
const WALK_NODES = 2048;
const WALK_DEPTH = 64;
const WALK_BYTES = 32768;

function hasSlot(check: (this: unknown) => unknown, value: object): boolean {
  try {
    check.call(value);
    return true;
  } catch {
    return false;
  }
}

const numberValueOf = Number.prototype.valueOf;
const stringValueOf = String.prototype.valueOf;
const booleanValueOf = Boolean.prototype.valueOf;
const bigintValueOf = typeof BigInt === "function" ? BigInt.prototype.valueOf : undefined;

const promiseThen = Promise.prototype.then;
const ignore = (): void => {};

/**
 * Whether `value` is a real Promise (with the internal slots), not any thenable and not an object that
 * merely inherits from `Promise.prototype`. The brand check runs only for what `instanceof` accepts.
 */
function isPromise(value: unknown): value is Promise<unknown> {
  if (!(value instanceof Promise)) return false;
  try {
    promiseThen.call(value, ignore, ignore);
    return true;
  } catch {
    return false;
  }
}

/** ToLength of the standard (LengthOfArrayLike), applied once to a raw `length`. */
function toLength(raw: unknown): number {
  const length = +(raw as number);
  return length > 0 ? Math.min(Math.floor(length), Number.MAX_SAFE_INTEGER) : 0;
}

/**
 * Adds `indent` after every line break that `JSON.stringify(..., gap)` made in `text` (native
 * pretty output nested deeper). Not a `replaceAll` with a string: `$` in the gap would be read
 * as a replacement pattern (`$$`). A gap that holds a line break itself (`"\n"`, `"a\nb"`) must
 * not be indented again, so then the breaks are found by the structure: strings skipped, and
 * after each break the gap copies of its depth stepped over.
 */
function indentLines(text: string, indent: string, gap: string): string {
  if (!gap.includes("\n")) return text.split("\n").join("\n" + indent);
  let out = "";
  let last = 0;
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length;) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // A JSON string: never holds a raw line break; skip to its closing quote.
      for (i++; text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
      i++;
    } else if (c === 91 || c === 123) {
      depth++;
      i++;
    } else if (c === 93 || c === 125) {
      depth--;
      i++;
    } else if (c === 10) {
      // A break before a member follows "[", "{" or ","; one before a closing bracket is a level out.
      const before = text.charCodeAt(i - 1);
      const level = before === 91 || before === 123 || before === 44 ? depth : depth - 1;
      out += text.slice(last, i + 1) + indent;
      last = i + 1;
      i = last + gap.length * level;
    } else i++;
  }
  return out + text.slice(last);
}

function isReadableStream(value: object): value is ReadableStream<unknown> {
  return typeof ReadableStream === "function" && value instanceof ReadableStream;
}

function segmentOf(frame: Frame): string {
  const key = frame.current!;
  if (typeof key === "number" || frame.kind !== OBJECT) return `[${key}]`;
  return IDENTIFIER.test(key) ? `.${key}` : `[${nativeStringify(key)}]`;
}

/** The path of the value being serialised; with `short`, only its first and last few segments. */
function pathOf(stack: readonly Frame[], short = false): string {
  let path = "$";
  let levels = stack.length;
  for (let i = 0; i < stack.length; i++) {
    if (stack[i]!.current === undefined) {
      levels = i;
      break;
    }
  }
  for (let i = 0; i < levels; i++) {
    if (short && levels > 2 * PATH_ENDS + 1 && i === PATH_ENDS) {
      path += `…(${levels - 2 * PATH_ENDS} levels)…`;
      i = levels - PATH_ENDS - 1;
      continue;
    }
    path += segmentOf(stack[i]!);
  }
  return path;
}

function parseOptions(options: JsonStreamOptions | undefined, owner: string) {
  // null as well as undefined means no options, as JSON.stringify(value, null) does.
  options = optionsObject(options ?? undefined, owner);
  const { replacer = null, space, chunkSize = 65536, async = true, maxDepth = DEFAULT_MAX_DEPTH } = options;
  let replacerFunction: ((this: any, key: string, value: any) => any) | null = null;
  let propertyList: string[] | null = null;
  if (typeof replacer === "function") {
    replacerFunction = replacer;
  } else if (Array.isArray(replacer)) {
    // As JSON.stringify builds its PropertyList: strings, numbers and their boxes, each once, in order.
    const seen = new Set<string>();
    const length = toLength(replacer.length);
    for (let i = 0; i < length; i++) {
      const v: unknown = replacer[i];
      let item: string | undefined;
      if (typeof v === "string") item = v;
      else if (typeof v === "number") item = String(v);
      else if (typeof v === "object" && v !== null && (hasSlot(stringValueOf, v) || hasSlot(numberValueOf, v))) item = String(v);
      if (item !== undefined && !seen.has(item)) seen.add(item);
    }
    propertyList = [...seen];
  } else if (replacer !== null) {
    throw new TypeError(`${owner}: replacer must be a function, an array of keys or null, got ${describeValue(replacer)}`);
  }
  let gapSource: unknown = space;
  if (typeof gapSource === "object" && gapSource !== null) {
    if (hasSlot(numberValueOf, gapSource)) gapSource = Number(gapSource);
    else if (hasSlot(stringValueOf, gapSource)) gapSource = String(gapSource);
  }
  let gap = "";
  let pretty = false;
  let nativeSpace: string | number | undefined;
  if (typeof gapSource === "number") {
    const n = Math.min(10, Math.trunc(gapSource) || 0);
    if (n >= 1) gap = " ".repeat(n);
    // V8 lays out newlines with an empty indent for a space between 0 and 1; match the runtime.
    pretty = n >= 1 || (FRACTIONAL_SPACE_IS_PRETTY && gapSource > 0 && gapSource < 1);
    nativeSpace = gapSource;
  } else if (typeof gapSource === "string") {
    gap = gapSource.slice(0, 10);
    pretty = gap !== "";
    nativeSpace = gap;
  }
  if (typeof chunkSize !== "number") {
    throw new TypeError(`${owner}: chunkSize must be a number, got ${describeValue(chunkSize)}`);
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`${owner}: chunkSize must be a positive integer, got ${describeValue(chunkSize)}`);
  }
  if (typeof async !== "boolean") {
    throw new TypeError(`${owner}: async must be a boolean, got ${describeValue(async)}`);
  }
  if (typeof maxDepth !== "number" || !((Number.isSafeInteger(maxDepth) && maxDepth >= 1) || maxDepth === Infinity)) {
    throw new RangeError(`${owner}: maxDepth must be a positive integer or Infinity, got ${describeValue(maxDepth)}`);
  }
  return { replacerFunction, propertyList, gap, pretty, nativeSpace: pretty ? nativeSpace : undefined, chunkSize, async, maxDepth };
}

/** The serialiser behind {@linkcode jsonStream}: a state machine over an explicit stack, driven by `pull`. */
class Serializer {
  readonly #replacer: ((this: any, key: string, value: any) => any) | null;
  readonly #list: string[] | null;
  readonly #gap: string;
  readonly #pretty: boolean;
  readonly #nativeSpace: string | number | undefined;
  readonly #async: boolean;
  readonly #maxDepth: number;
  readonly #root: { "": unknown };
  #stack: Frame[] = [];
  /** The items of a run of plain array items (see #plainRun), reused. */
  #run: unknown[] = [];
  /** The containers being serialised: JSON.stringify's stack, for cycle detection. */
  #open = new Set<object>();
  /** Text produced but not yet encoded. */
  #text = "";
  #rootWritten = false;
  #finished = false;
  #cancelled = false;
  #waiting: PromiseLike<unknown> | null = null;
  #resume = RESUME_RAW;
  #resumeFrame: Frame | null = null;
  #resumeKey = "";
  // Counters of the current plain-sub-tree walk.
  #walkNodes = 0;
  #walkBytes = 0;
  #walkTooDeep = false;
  /** The nesting level (1 for the outermost container) of the walk's depth 0. */
  #walkBase = 0;
  /** Stack levels strictly between these skip the walk (see #container). */
  #deepFrom = 0;
  #deepTo = 0;

  constructor(value: unknown, options: ReturnType<typeof parseOptions>) {
    this.#replacer = options.replacerFunction;
    this.#list = options.propertyList;
    this.#gap = options.gap;
    this.#pretty = options.pretty;
    this.#nativeSpace = options.nativeSpace;
    this.#async = options.async;
    this.#maxDepth = options.maxDepth;
    this.#root = { "": value };
  }

  /** Fills `buffer` with the next bytes; returns how many, or a Promise to await first when none could be made. */
  fill(buffer: Uint8Array): number | PromiseLike<unknown> {
    let pos = 0;
    const size = buffer.length;
    for (;;) {
      let text = this.#text;
      if (text.length !== 0) {
        const { read, written } = textEncoder.encodeInto(text, pos === 0 ? buffer : buffer.subarray(pos));
        pos += written;
        this.#text = text = read === text.length ? "" : text.slice(read);
        if (text.length !== 0) return pos; // the buffer is full (to within one code point)
      }
      if (pos === size) return pos;
      if (this.#finished) return pos;
      if (this.#waiting !== null) return pos === 0 ? this.#takeWaiting() : pos;
      this.#produce(size - pos);
    }
  }

  get finished(): boolean {
    return this.#finished && this.#text.length === 0;
  }

  #takeWaiting(): PromiseLike<unknown> {
    const waiting = this.#waiting!;
    this.#waiting = null;
    return waiting;
  }

  /** Continues after the Promise returned by {@linkcode fill} settled with `value`. */
  resume(value: unknown): void {
    const frame = this.#resumeFrame;
    const key = this.#resumeKey;
    if (this.#resume === RESUME_READ) {
      const result = value as IteratorResult<unknown>;
      if (typeof result !== "object" || result === null) {
        frame!.ended = true;
        throw new TypeError(`jsonStream: an async iterator's next() resolved to ${describeValue(result)}, not an object`);
      }
      if (result.done) {
        frame!.ended = true;
        return;
      }
      const index = frame!.index++;
      frame!.current = index;
      this.#member(frame, String(index), result.value, RESUME_RAW);
    } else {
      this.#member(frame, key, value, this.#resume);
    }
  }

  /** The path of the value being serialised, e.g. `$.orders[3].amount`. */
  path(): string {
    return pathOf(this.#stack);
  }

  /** Marks the frame being read as failed (its reader or iterator must not be cancelled or returned). */
  failedRead(): void {
    if (this.#resume === RESUME_READ && this.#resumeFrame) this.#resumeFrame.ended = true;
  }

  /** Cancels open inner streams and returns open iterators, innermost first. */
  close(reason: unknown): void {
    this.#cancelled = true;
    this.#finished = true;
    this.#text = "";
    const stack = this.#stack;
    this.#stack = [];
    for (let i = stack.length - 1; i >= 0; i--) {
      const frame = stack[i]!;
      if (frame.ended) continue;
      frame.ended = true;
      try {
        if (frame.reader) frame.reader.cancel(reason).catch(() => {});
        else if (frame.iterator && typeof frame.iterator.return === "function") {
          Promise.resolve(frame.iterator.return()).catch(() => {});
        }
      } catch {
        /* a throwing return() must not hide the reason we are closing */
      }
    }
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  #produce(need: number): void {
    const stack = this.#stack;
    while (this.#text.length < need && this.#waiting === null) {
      const frame = stack[stack.length - 1];
      if (frame === undefined) {
        if (this.#rootWritten) {
          this.#finished = true;
          return;
        }
        this.#rootWritten = true;
        this.#member(null, "", this.#root[""], RESUME_RAW);
        continue;
      }
      switch (frame.kind) {
        case OBJECT: {
          const keys = frame.keys!;
          if (frame.index < keys.length) {
            const key = keys[frame.index++]!;
            frame.current = key;
            this.#member(frame, key, frame.holder[key], RESUME_RAW);
          } else this.#closeFrame(frame, "}");
          break;
        }
        case ARRAY: {
          if (frame.index < frame.length) {
            if (this.#replacer === null && this.#plainRun(frame)) break;
            const index = frame.index++;
            frame.current = index;
            this.#member(frame, String(index), frame.holder[index], RESUME_RAW);
          } else this.#closeFrame(frame, "]");
          break;
        }
        default: {
          if (frame.ended) {
            this.#closeFrame(frame, "]");
            break;
          }
          frame.current = frame.index;
          this.#resume = RESUME_READ;
          this.#resumeFrame = frame;
          if (frame.reader !== null) this.#waiting = frame.reader.read();
          else {
            try {
              this.#waiting = frame.iterator!.next();
            } catch (error) {
              frame.ended = true; // an iterator whose next() threw is done: no return()
              throw error;
            }
          }
        }
      }
    }
  }

  /**
   * Serialises one member: SerializeJSONProperty of the standard, with Promises
   * awaited (by handing them to {@linkcode fill}'s caller and resuming).
   */
  #member(frame: Frame | null, key: string, value: unknown, stage: number): void {
    if (stage === RESUME_RAW) {
      // A Promise never resolves to a Promise, so the awaited value comes back here once.
      if (this.#async && isPromise(value)) {
        this.#wait(value, frame, key, RESUME_RAW);
        return;
      }
      // A plain sub-tree goes to the native JSON.stringify before its toJSON is read here:
      // the native call reads it, and a Proxy's get trap must run as many times as there.
      if (this.#replacer === null && typeof value === "object" && value !== null && this.#writePlain(frame, key, value)) return;
      const holder = frame === null ? this.#root : frame.holder;
      // Functions are Objects too: SerializeJSONProperty reads their toJSON.
      if ((typeof value === "object" && value !== null) || typeof value === "bigint" || typeof value === "function") {
        const toJSON = (value as { toJSON?: unknown }).toJSON;
        if (typeof toJSON === "function") value = toJSON.call(value, key);
      }
      if (this.#replacer !== null) value = this.#replacer.call(holder, key, value);
      if (this.#async && isPromise(value)) {
        this.#wait(value, frame, key, RESUME_FINAL);
        return;
      }
    }
    this.#write(frame, key, value);
  }

  #wait(promise: Promise<unknown>, frame: Frame | null, key: string, resume: number): void {
    this.#resume = resume;
    this.#resumeFrame = frame;
    this.#resumeKey = key;
    this.#waiting = promise;
  }

  #write(frame: Frame | null, key: string, value: unknown): void {
    const isItem = frame !== null && frame.kind !== OBJECT;
    let type = typeof value;
    if (type === "object" && value !== null) {
      const proto = getPrototypeOf(value);
      if (proto !== ObjectPrototype && proto !== null && !Array.isArray(value)) {
        const v = value as object;
        if (hasSlot(numberValueOf, v)) value = Number(v);
        else if (hasSlot(stringValueOf, v)) value = String(v);
        else if (hasSlot(booleanValueOf, v)) value = booleanValueOf.call(v);
        else if (bigintValueOf !== undefined && hasSlot(bigintValueOf, v)) value = bigintValueOf.call(v);
        type = typeof value;
      }
    }
    let text: string | undefined;
    switch (type) {
      case "string":
        text = nativeStringify(value);
        break;
      case "number":
        text = Number.isFinite(value) ? String(value) : "null";
        break;
      case "boolean":
        text = value ? "true" : "false";
        break;
      case "bigint":
        throw new TypeError(`Do not know how to serialize a BigInt at ${this.path()}`);
      case "object":
        if (value === null) text = "null";
        break;
      default:
        // undefined, functions and symbols
        if (frame === null) {
          throw new TypeError(`jsonStream: the value serialises to nothing (JSON.stringify would return undefined for ${describeValue(value)})`);
        }
        if (!isItem) return;
        text = "null";
    }
    const indent = this.#prefix(frame, key);
    if (text !== undefined) {
      this.#text += text;
      return;
    }
    this.#container(value as object, indent);
  }

  /** Writes a member's prefix (separator, indentation and key) and returns the indentation of its value. */
  #prefix(frame: Frame | null, key: string): string {
    if (frame === null) return "";
    const pretty = this.#pretty;
    const indent = frame.indent;
    let prefix = frame.members++ === 0 ? "" : ",";
    if (pretty) prefix += "\n" + indent;
    if (frame.kind === OBJECT) prefix += pretty ? nativeStringify(key) + ": " : nativeStringify(key) + ":";
    if (prefix !== "") this.#text += prefix;
    return indent;
  }

  /**
   * Writes `value` with one native `JSON.stringify` when it is a plain sub-tree
   * (see #plain), and returns whether it did.
   */
  #writePlain(frame: Frame | null, key: string, value: object): boolean {
    if (!this.#isPlain(value)) return false;
    this.#writeNative(value, this.#prefix(frame, key));
    return true;
  }

  /** #plain for a sub-tree's root, skipping the levels inside a chain too deep for one walk. */
  #isPlain(value: object): boolean {
    const level = this.#stack.length;
    if (level > this.#deepFrom && level < this.#deepTo) return false;
    this.#walkNodes = 0;
    this.#walkBytes = 0;
    this.#walkTooDeep = false;
    this.#walkBase = level + 1;
    const plain = !this.#open.has(value) && this.#plain(value, 0);
    if (this.#walkTooDeep) {
      // A chain deeper than a walk: the next levels would walk (most of) it again, so skip some.
      this.#deepFrom = level;
      this.#deepTo = level + (WALK_DEPTH >> 1);
    }
    return plain;
  }

  #writeNative(value: object, indent: string): void {
    let text: string;
    if (!this.#pretty) text = this.#list === null ? nativeStringify(value) : nativeStringify(value, this.#list);
    else {
      text = nativeStringify(value, this.#list, this.#nativeSpace);
      if (indent !== "") text = indentLines(text, indent, this.#gap);
    }
    this.#text += text;
  }

  #container(value: object, indent: string): void {
    const open = this.#open;
    if (open.has(value)) throw new TypeError(`Converting circular structure to JSON at ${this.path()}`);
    // Checked before a reader or iterator is taken, so that nothing is left open.
    if (this.#stack.length >= this.#maxDepth) {
      throw new RangeError(
        `jsonStream: the value nests deeper than maxDepth (${this.#maxDepth} levels) at ${pathOf(this.#stack, true)}` +
          " (a replacer or toJSON that makes a new object for every value never ends; pass maxDepth: Infinity to lift the bound)",
      );
    }
    if (this.#async) {
      let reader: ReadableStreamDefaultReader<unknown> | null = null;
      let iterator: AsyncIterator<unknown> | null = null;
      if (isReadableStream(value)) reader = value.getReader();
      else {
        // `in` first: a Proxy's get trap must not run for a property JSON.stringify never reads.
        const method = Symbol.asyncIterator in value ? (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] : undefined;
        if (typeof method === "function") {
          iterator = method.call(value);
          if (typeof iterator !== "object" || iterator === null) {
            throw new TypeError(`jsonStream: [Symbol.asyncIterator]() returned ${describeValue(iterator)}, not an iterator`);
          }
        }
      }
      if (reader !== null || iterator !== null) {
        this.#push(reader !== null ? READER : ITERATOR, value, null, 0, indent, reader, iterator);
        this.#text += "[";
        return;
      }
    }
    // No native JSON.stringify of `value` itself here: it would read `value.toJSON`, which JSON.stringify
    // reads only on raw values (#writePlain), not on what toJSON or the replacer returned.
    if (Array.isArray(value)) {
      this.#push(ARRAY, value, null, toLength((value as unknown[]).length), indent, null, null);
      this.#text += "[";
    } else {
      const keys = this.#list ?? objectKeys(value);
      this.#push(OBJECT, value, keys, 0, indent, null, null);
      this.#text += "{";
    }
  }

  #push(
    kind: number,
    holder: object,
    keys: readonly string[] | null,
    length: number,
    outer: string,
    reader: ReadableStreamDefaultReader<unknown> | null,
    iterator: AsyncIterator<unknown> | null,
  ): void {
    this.#open.add(holder);
    this.#stack.push({
      kind,
      holder,
      keys,
      length,
      index: 0,
      current: undefined,
      members: 0,
      indent: this.#gap === "" ? "" : outer + this.#gap,
      outer,
      reader,
      iterator,
      ended: false,
    });
  }

  #closeFrame(frame: Frame, bracket: string): void {
    this.#text += frame.members !== 0 && this.#pretty ? "\n" + frame.outer + bracket : bracket;
    this.#stack.pop();
    this.#open.delete(frame.holder);
    if (frame.reader !== null) frame.reader.releaseLock();
  }

  /**
   * Whether native `JSON.stringify` would serialise `value` exactly as sluice
   * must, observing nothing more than it does: no toJSON, BigInt, async value,
   * cycle or accessor property inside, and small. Reads property values
   * through descriptors, so that no getter runs here.
   */
  #plain(value: object, depth: number): boolean {
    if (++this.#walkNodes > WALK_NODES) return false;
    if (depth > WALK_DEPTH) {
      this.#walkTooDeep = true;
      return false;
    }
    // Past maxDepth: the exact path throws at the right place.
    if (this.#walkBase + depth > this.#maxDepth) return false;
    if ("toJSON" in value) return false;
    if (this.#async && Symbol.asyncIterator in value) return false;
    if (Array.isArray(value)) {
      // The length through its descriptor: a Proxy's get trap runs only in the native call.
      const length: unknown = getOwnPropertyDescriptor(value, "length")?.value;
      if (typeof length !== "number" || length > WALK_NODES) return false;
      for (let i = 0; i < length; i++) {
        const descriptor = getOwnPropertyDescriptor(value, i);
        let item: unknown;
        if (descriptor === undefined) {
          if (i in value) return false; // inherited: leave it to the exact path
        } else {
          if (descriptor.get !== undefined) return false;
          item = descriptor.value;
        }
        if (!this.#plainItem(item, depth)) return false;
      }
      this.#walkBytes += length + 2;
    } else {
      const proto = getPrototypeOf(value);
      if (proto !== ObjectPrototype && proto !== null) {
        if (this.#async && (value instanceof Promise || isReadableStream(value))) return false;
        if (bigintValueOf !== undefined && value instanceof BigInt) return false;
      }
      // With a replacer array, the native call reads the listed keys, own or inherited, enumerable or not.
      const list = this.#list;
      const keys = list ?? objectKeys(value);
      const length = keys.length;
      for (let i = 0; i < length; i++) {
        const key = keys[i]!;
        const descriptor = getOwnPropertyDescriptor(value, key);
        if (descriptor === undefined) {
          if (list !== null && !(key in value)) continue;
          return false; // inherited (or gone): leave it to the exact path
        }
        if (descriptor.get !== undefined) return false;
        this.#walkBytes += key.length + 4;
        if (!this.#plainItem(descriptor.value, depth)) return false;
      }
    }
    return this.#walkBytes <= WALK_BYTES;
  }

  /**
   * Writes the next items of an array frame with one native `JSON.stringify`
   * of a copy of them, while they are plain (see #plain). Each item is read
   * once with a real Get, in order, as `JSON.stringify` reads it (so a Proxy's
   * `get` trap runs and its answer is what is written); an item that turns out
   * not to be plain is handed, as read, to the exact path. Returns whether it
   * consumed any item.
   */
  #plainRun(frame: Frame): boolean {
    const array = frame.holder as unknown[];
    // The run is copied into a plain Array (not sliced: slice would read a Proxy's traps and run a
    // subclass's species constructor), so a toJSON inherited from Array.prototype would run on it.
    if ("toJSON" in ArrayPrototype) return false;
    const run = this.#run;
    const start = frame.index;
    const length = frame.length;
    this.#walkNodes = 0;
    this.#walkBytes = 0;
    this.#walkBase = this.#stack.length;
    let end = start;
    let taken = false;
    let rest: unknown;
    while (end < length && this.#walkBytes < WALK_BYTES) {
      // A getter (or an inherited item) is left to the exact path, which runs it in its turn.
      const descriptor = getOwnPropertyDescriptor(array, end);
      if (descriptor === undefined ? end in array : descriptor.get !== undefined) break;
      const item = array[end];
      if (!this.#plainItem(item, 0)) {
        taken = true;
        rest = item;
        break;
      }
      run.push(item);
      end++;
    }
    if (end === start && !taken) return false;
    if (end > start) {
      let text: string;
      if (!this.#pretty) {
        text = this.#list === null ? nativeStringify(run) : nativeStringify(run, this.#list);
        text = text.slice(1, -1);
      } else {
        text = nativeStringify(run, this.#list, this.#nativeSpace);
        if (frame.outer !== "") text = indentLines(text, frame.outer, this.#gap);
        // Drop "[" and "\n<outer>]": what is left starts with "\n<indent>", as a member's prefix does.
        text = text.slice(1, text.length - 2 - frame.outer.length);
      }
      run.length = 0;
      this.#text += frame.members === 0 ? text : "," + text;
      frame.members += end - start;
      frame.index = end;
      frame.current = end - 1;
    }
    if (taken) {
      const index = frame.index++;
      frame.current = index;
      this.#member(frame, String(index), rest, RESUME_RAW);
    }
    return true;
  }

  #plainItem(item: unknown, depth: number): boolean {
    switch (typeof item) {
      case "string":
        this.#walkBytes += item.length + 2;
        return true;
      case "object":
        if (item === null) return true;
        return !this.#open.has(item) && this.#plain(item, depth + 1);
      case "bigint":
        return false;
      case "function":
        // Written as nothing (null in arrays) natively, unless it has a toJSON: then the exact path.
        return !("toJSON" in (item as object));
      default:
        this.#walkBytes += 8;
        return true;
    }
  }
}

/**
 * Serialises `value` as a stream of UTF-8 JSON bytes: the same bytes as
 * `new TextEncoder().encode(JSON.stringify(value, replacer, space))`, made a
 * chunk at a time as the reader pulls, so that a value of hundreds of
 * megabytes streams in a few tens of megabytes of memory without stopping the
 * event loop.
 *
 * Exact to `JSON.stringify` in everything it serialises: `toJSON(key)` before
 * the replacer, the replacer's holder and keys (starting with `""` on a
 * wrapper object), replacer arrays, `space`, boxed primitives, `NaN`,
 * `Infinity`, `-0`, holes, key order, lone surrogates, getters (each run
 * once, in the same order), Proxies and null-prototype objects. User code
 * (getters, `toJSON`, the replacer, `valueOf`/`toString` of boxed primitives
 * and of replacer-list entries and `space`) and a Proxy's `get` traps run
 * exactly as in `JSON.stringify`: as many times, in the same order. A Proxy's
 * `ownKeys` and `getOwnPropertyDescriptor` traps may run once more, for the
 * check of a small sub-tree before the native `JSON.stringify` (standard
 * JavaScript cannot tell a Proxy without running one of its traps), and its
 * `has` and `getPrototypeOf` traps run for the checks of async values and
 * boxed primitives. With a replacer function there is no such check. One
 * case of order differs: when an array that is itself a Proxy holds Proxies,
 * its `get` traps for a run of plain items (up to 32 KiB of them) run before
 * the `get` traps of the Proxies inside those items (counts and bytes are the
 * same; keeping that order too would halve the speed on arrays of objects).
 *
 * Beyond `JSON.stringify`, unless `async: false`:
 * - a Promise (a real one, not any thenable) is awaited and the value it
 *   resolves to is serialised in its place. A Promise found as a property
 *   value or item is awaited first, so `toJSON` and the replacer see what it
 *   resolves to; a Promise returned by `toJSON` or the replacer is awaited and
 *   its value written as it is (the rules ran once for that key already).
 * - a ReadableStream or an async iterable is serialised as a JSON array of its
 *   items, read one at a time as the output is pulled. Each item goes through
 *   `toJSON(index)` and the replacer (with the stream or iterable as `this`),
 *   and `undefined` items become `null`, as in arrays.
 *
 * Each pull produces at most `chunkSize` bytes and nothing is made before the
 * first read. Memory is bounded by the chunk size, the nesting depth and the
 * longest single string, not by the size of the document. The depth is
 * bounded by `maxDepth` (100,000 levels by default, about 23 MiB of the
 * serialiser's own memory at most, measured in Node 20 on a replacer that
 * wraps every value), so a value that never ends, such as a replacer or
 * `toJSON` that builds a new object for every value, errors instead of
 * growing until the process dies. With `space`, output grows with the square
 * of the depth (each line is indented by its level), memory does not. Nesting is walked
 * with an explicit stack, so a value nested deeper than `JSON.stringify`
 * can handle streams without overflowing the call stack. Small sub-trees
 * (and runs of array items) that hold nothing `JSON.stringify` would treat
 * differently here (no `toJSON`, getter, BigInt, async value or cycle; checked
 * through property descriptors, so no getter runs twice) are written by the
 * native `JSON.stringify` itself, which is where the speed comes from.
 *
 * The value must not change while it streams. If it does, each part is
 * written as it is when the stream reaches it, so the output may match no
 * single moment of the value (a cycle made meanwhile is still detected).
 *
 * **Cancellation behavior:** cancelling the returned stream cancels every
 * open inner ReadableStream (with the same reason) and calls `return()` on
 * every open async iterator; nothing more is read from the value.
 *
 * **Error behavior:** wherever `JSON.stringify` would throw, the stream
 * errors instead; it never closes normally on a partial document. A cycle or
 * a BigInt without `toJSON` gives a `TypeError` whose message names the path
 * (`Do not know how to serialize a BigInt at $.orders[3].amount`). An error
 * thrown by user code (a getter, `toJSON`, the replacer), a rejected Promise
 * and an inner stream's error are passed on as the same object, with the path
 * added as its `jsonPath` property when it is an extensible object. A value
 * that `JSON.stringify` turns into `undefined` (a function, a symbol,
 * `undefined`) errors the stream with a `TypeError`. Nesting past `maxDepth`
 * errors it with a `RangeError` naming the depth and the path (its first and
 * last eight steps when longer). Bad options throw at the call:
 * `TypeError`/`RangeError` naming the option.
 *
 * @example Stream a value as JSON bytes
 * ```ts
 * import { jsonStream } from "sluice/json";
 *
 * const value = { id: 1, items: [1, 2, 3], later: Promise.resolve("done") };
 * const text = await new Response(jsonStream(value)).text();
 * console.log(text); // '{"id":1,"items":[1,2,3],"later":"done"}'
 * ```
 */
export function jsonStream(value: unknown, options?: JsonStreamOptions): ReadableStream<Uint8Array> {
  const parsed = parseOptions(options, "jsonStream");
  const serializer = new Serializer(value, parsed);
  const chunkSize = parsed.chunkSize;
  // The serializer fills whole UTF-8 sequences, so it needs room for the longest (4 bytes);
  // a smaller chunkSize cuts what it filled into pieces of that size.
  const fillSize = Math.max(chunkSize, 4);
  const fail = (error: unknown): unknown => {
    const path = serializer.path();
    if ((typeof error === "object" && error !== null) || typeof error === "function") {
      try {
        if (!Object.prototype.hasOwnProperty.call(error, JSON_PATH_PROPERTY)) {
          (error as Record<string, unknown>)[JSON_PATH_PROPERTY] = path;
        }
      } catch {
        /* frozen errors are passed on without the path */
      }
    }
    serializer.close(error);
    return error;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const buffer = new Uint8Array(fillSize);
          let filled: number | PromiseLike<unknown>;
          try {
            filled = serializer.fill(buffer);
          } catch (error) {
            throw fail(error);
          }
          if (typeof filled === "number") {
            if (filled === fillSize && fillSize === chunkSize) controller.enqueue(buffer);
            else for (let at = 0; at < filled; at += chunkSize) controller.enqueue(buffer.subarray(at, Math.min(at + chunkSize, filled)));
            if (serializer.finished) controller.close();
            return;
          }
          let settled: unknown;
          try {
            settled = await filled;
          } catch (error) {
            if (serializer.cancelled) return;
            serializer.failedRead();
            throw fail(error);
          }
          if (serializer.cancelled) return;
          try {
            serializer.resume(settled);
          } catch (error) {
            throw fail(error);
          }
        }
      },
      cancel(reason) {
        serializer.close(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
