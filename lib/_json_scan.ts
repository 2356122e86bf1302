/**
 * The byte scanner under JsonItemStream: a resumable, validating JSON state
 * machine over UTF-8 chunks. It follows the path, finds where selected values
 * start and end, and checks everything else without building it. Internal.
 * @module
 */

import { concatBytes } from "./_internal.ts";

/** What was wrong with the text, in {@linkcode JsonParseError.kind}. */
export type JsonParseErrorKind =
  | "unexpected-byte"
  | "unterminated-string"
  | "bad-escape"
  | "invalid-utf8"
  | "trailing-data"
  | "truncated";

const KIND_TEXT: Record<JsonParseErrorKind, string> = {
  "unexpected-byte": "unexpected byte",
  "unterminated-string": "unterminated string",
  "bad-escape": "bad escape",
  "invalid-utf8": "invalid UTF-8",
  "trailing-data": "trailing data",
  "truncated": "truncated text",
};

/** Where in the text an error was found. */
export interface JsonTextPosition {
  /** Bytes before the error, from the start of the text (a leading BOM included). */
  offset: number;
  /** 1-based line: line feeds before the error, plus one. */
  line: number;
  /** 1-based column, in bytes from the start of the line. */
  column: number;
  /** The path of the value being read, as `$.orders[1042].price`; `$` for the top-level value. */
  path: string;
}

/**
 * A `SyntaxError` for a text that is not JSON, saying what was wrong and
 * where: `kind`, `offset` (bytes), `line`, `column` and `path`, all also in
 * the message.
 *
 * @example Tell a truncated body from a malformed one
 * ```ts
 * import { JsonItemStream, JsonParseError } from "sluice/json-items";
 *
 * const body = new Response('{"orders":[{"id":1},{"id":').body!;
 * const reader = body.pipeThrough(new JsonItemStream("$.orders[*]")).getReader();
 * try {
 *   for (let r = await reader.read(); !r.done; r = await reader.read()) console.log(r.value.value);
 * } catch (error) {
 *   if (error instanceof JsonParseError) console.log(error.kind, error.offset, error.path); // "truncated", 26, "$.orders[1].id"
 * }
 * ```
 */
export class JsonParseError extends SyntaxError implements JsonTextPosition {
  /** What was wrong. */
  readonly kind: JsonParseErrorKind;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly path: string;

  /**
   * Makes the error with its message: the owner, the kind in words, the
   * position, the path and the detail.
   * @param owner Names the parser in the message, e.g. `"JsonItemStream"`.
   * @param detail What was expected or found, for the message.
   */
  constructor(owner: string, kind: JsonParseErrorKind, detail: string, position: JsonTextPosition) {
    super(`${owner}: ${KIND_TEXT[kind]} at offset ${position.offset} (line ${position.line}, column ${position.column}) in ${position.path}: ${detail}`);
    this.name = "JsonParseError";
    this.kind = kind;
    this.offset = position.offset;
    this.line = position.line;
    this.column = position.column;
    this.path = position.path;
  }
}

/** The limit that a {@linkcode JsonLimitError} reports. */
export type JsonLimit = "maxDepth" | "maxStringLength" | "maxNumberLength" | "maxValueBytes" | "maxTotalBytes";

/**
 * A `RangeError` for a text that passed one of the limits set for untrusted
 * input: `limit` names the option, `max` its value; `offset`, `line`,
 * `column` and `path` say where the value that passed it starts.
 */
export class JsonLimitError extends RangeError implements JsonTextPosition {
  /** The option whose limit was passed. */
  readonly limit: JsonLimit;
  /** That option's value. */
  readonly max: number;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly path: string;

  /**
   * Makes the error with its message: the owner, what passed the limit, the
   * limit and its value, the position and the path.
   * @param detail What passed the limit, for the message: `"a string"`, `"a selected value"`.
   */
  constructor(owner: string, limit: JsonLimit, max: number, detail: string, position: JsonTextPosition) {
    super(`${owner}: ${detail} exceeds ${limit} (${max}) at offset ${position.offset} (line ${position.line}, column ${position.column}) in ${position.path}`);
    this.name = "JsonLimitError";
    this.limit = limit;
    this.max = max;
    this.offset = position.offset;
    this.line = position.line;
    this.column = position.column;
    this.path = position.path;
  }
}

/** One step of a compiled path: a member name, an array index, or any child. */
export type Segment = { name: string } | { index: number } | { any: true };

/** The limits the scanner enforces; `Infinity` turns one off. */
export interface ScanLimits {
  maxDepth: number;
  maxStringLength: number;
  maxNumberLength: number;
  maxValueBytes: number;
}

/**
 * Receives each selected value when it is complete: the index of the path
 * that selected it, its key (member name, array index, or null for the
 * top-level value) and its text, decoded from its bytes.
 */
export type OnValue = (selector: number, key: string | number | null, text: string) => void;

// Scanner states.
const START = 0; // before the top-level value, a BOM possible
const VALUE = 1; // a value expected
const VALUE_OR_CLOSE = 2; // after `[`
const KEY = 3; // after `,` in an object
const KEY_OR_CLOSE = 4; // after `{`
const COLON = 5;
const AFTER = 6; // after a value inside a container
const DONE = 7; // after the top-level value
const STRING = 8;
const ESCAPE = 9;
const UNICODE = 10;
const UTF8 = 11;
const N_MINUS = 12;
const N_ZERO = 13;
const N_INT = 14;
const N_DOT = 15;
const N_FRAC = 16;
const N_EXP_MARK = 17;
const N_EXP_SIGN = 18;
const N_EXP = 19;
const LITERAL = 20;
const BOM = 21; // inside a leading BOM

const OBJECT = 1;
const ARRAY = 2;

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

const EMPTY = new Uint8Array(0);

/** Whether a member name can follow a `.` in a path as written by {@linkcode formatPath}. */
const SHORTHAND = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*$/;

/** Appends one step to a path: `.name`, `["odd name"]` or `[3]`. */
export function appendPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return SHORTHAND.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function describeByte(c: number): string {
  const hex = `0x${c.toString(16).padStart(2, "0")}`;
  return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}' (${hex})` : hex;
}

/**
 * The state machine. Feed it with {@linkcode JsonScanner.run} chunk by chunk
 * (it may stop early, after `pauseAfter` values, to let the caller wait for
 * its reader), call {@linkcode JsonScanner.endChunk} when a chunk is done and
 * {@linkcode JsonScanner.end} after the last.
 */
export class JsonScanner {
  /** Values emitted so far. */
  emitted = 0;

  readonly #owner: string;
  readonly #limits: ScanLimits;
  readonly #selectors: readonly (readonly Segment[])[];
  readonly #onValue: OnValue;
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  /**
   * Bytes minus UTF-16 code units of the text so far (what multi-byte
   * sequences save), so that a byte offset maps to an index in decoded text.
   */
  #u16 = 0;
  // The current chunk decoded once, from its first selected value on, for the values inside it.
  #text = "";
  #textBuf: Uint8Array | null = null;
  #textChunk = -1; // the chunk's offset in the text
  #textEnd = 0; // where in the chunk the decoded window ends
  #textStart = 0; // text offset of its first character
  #textU16 = 0; // #u16 there
  /** The selector that takes the top-level value, or -1. */
  readonly #rootSelector: number;
  /** The selectors still alive inside the top-level value, or null. */
  readonly #rootLive: number[] | null;

  #state = START;
  /** Offset of the current chunk's first byte in the text. */
  #base = 0;
  #line = 1;
  /** Offset of the current line's first byte. */
  #lineStart = 0;

  // The open containers, outermost first.
  #depth = 0;
  readonly #kinds: number[] = [];
  /** Per array: the index of the current element. */
  readonly #counts: number[] = [];
  /** Per object: the current member's name, once read (undefined while only its offsets are known). */
  readonly #keys: (string | undefined)[] = [];
  /** Per object: where the current member's name starts and ends (inside the quotes), as text offsets. */
  readonly #keyStart: number[] = [];
  readonly #keyEnd: number[] = [];
  /** Per object: whether the current member's name is plain ASCII without escapes. */
  readonly #keySimple: boolean[] = [];
  /** Per container: the selectors alive for its children, or null. */
  readonly #lives: (number[] | null)[] = [];

  // The string being read.
  #strStart = 0; // offset of its opening quote
  #strKey = false;
  /** Bytes minus UTF-16 code units so far: what escapes and multi-byte sequences save. */
  #strAdjust = 0;
  /** Pieces of a member name that spans chunks. */
  #keyParts: Uint8Array[] = [];
  #hexLeft = 0;
  #utf8Need = 0;
  #utf8Lo = 0x80;
  #utf8Hi = 0xbf;
  // The number or literal being read.
  #numStart = 0;
  #literal: number[] = TRUE;
  #literalPos = 0;

  // The selected value being captured.
  #capDepth = -1; // depth of the container holding it (0: the top level), -1 when none
  #capSelector = -1;
  #capKey: string | number | null = null;
  #capStart = 0;
  #capParts: Uint8Array[] = [];
  #capLine = 1;
  #capLineStart = 0;
  #capU16 = 0;
  #pauseAt = Infinity;

  constructor(owner: string, selectors: readonly (readonly Segment[])[], limits: ScanLimits, onValue: OnValue) {
    this.#owner = owner;
    this.#selectors = selectors;
    this.#limits = limits;
    this.#onValue = onValue;
    this.#rootSelector = selectors.findIndex((s) => s.length === 0);
    const live = selectors.map((_, i) => i).filter((i) => selectors[i]!.length > 0);
    this.#rootLive = live.length > 0 ? live : null;
  }

  /** Text bytes consumed so far (through the end of the last chunk passed to `endChunk`). */
  get offset(): number {
    return this.#base;
  }

  /**
   * Scans `buf` from `i`. Returns the index reached: `buf.length` when the
   * chunk is done, less when `pauseAfter` values were emitted first.
   * @throws {JsonParseError | JsonLimitError} at the first error.
   */
  run(buf: Uint8Array, i: number, pauseAfter: number): number {
    const n = buf.length;
    const base = this.#base;
    const kinds = this.#kinds;
    const counts = this.#counts;
    const maxNumber = this.#limits.maxNumberLength;
    let state = this.#state;
    let depth = this.#depth;
    let c = 0;
    // The chunk as 32-bit words from its first 4-aligned byte, to pass plain string bytes four at a time.
    const head = (4 - (buf.byteOffset & 3)) & 3;
    const words = n - head >= 8 ? new Int32Array(buf.buffer, buf.byteOffset + head, (n - head) >> 2) : null;
    const wordsEnd = words === null ? 0 : head + (words.length << 2);
    this.#pauseAt = this.emitted + pauseAfter;
    try {
      outer: while (i < n) {
        switch (state) {
          case STRING: {
            while (i < n) {
              if (words !== null && ((i - head) & 3) === 0 && i >= head && i < wordsEnd) {
                // A word holds a byte that needs a look (below 0x20, from 0x80, '"' or '\\') when one of
                // these has its byte's top bit set: the byte itself, byte - 0x20, and the XORs' zero tests.
                let k = (i - head) >> 2;
                const end = words.length;
                while (k < end) {
                  const w = words[k]!;
                  const q = w ^ 0x22222222;
                  const b = w ^ 0x5c5c5c5c;
                  if (((w | (((w - 0x20202020) | 0) & ~w) | (((q - 0x01010101) | 0) & ~q) | (((b - 0x01010101) | 0) & ~b)) & 0x80808080) !== 0) break;
                  k++;
                }
                i = head + (k << 2);
                if (i >= n) break;
              }
              c = buf[i]!;
              if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80) break;
              i++;
            }
            if (i === n) break outer;
            if (c === 0x22) {
              i++;
              const end = base + i;
              if (end - 2 - this.#strStart - this.#strAdjust > this.#limits.maxStringLength) this.#stringTooLong(buf, depth, state);
              if (this.#strKey) {
                const top = depth - 1;
                this.#keyStart[top] = this.#strStart + 1;
                this.#keyEnd[top] = end - 1;
                this.#keySimple[top] = this.#strAdjust === 0;
                this.#keys[top] = this.#lives[top] !== null || this.#keyParts.length > 0 ? this.#keyText(buf, top, true) : undefined;
                state = COLON;
                continue;
              }
              state = depth === 0 ? DONE : AFTER;
              if (depth === this.#capDepth) {
                this.#emit(buf, i);
                if (this.emitted >= this.#pauseAt) break outer;
              }
              continue;
            }
            if (c === 0x5c) {
              i++;
              state = ESCAPE;
              continue;
            }
            if (c >= 0x80) {
              // The lead byte of a UTF-8 sequence: how many continuation bytes follow, and the range of the first.
              if (c < 0xc2 || c > 0xf4) this.#fail(buf, base + i, depth, state, "invalid-utf8", `byte ${describeByte(c)} cannot start a UTF-8 sequence`);
              if (c < 0xe0) {
                this.#utf8Need = 1;
                this.#utf8Lo = 0x80;
                this.#utf8Hi = 0xbf;
                this.#strAdjust += 1;
                this.#u16 += 1;
              } else if (c < 0xf0) {
                this.#utf8Need = 2;
                this.#utf8Lo = c === 0xe0 ? 0xa0 : 0x80;
                this.#utf8Hi = c === 0xed ? 0x9f : 0xbf;
                this.#strAdjust += 2;
                this.#u16 += 2;
              } else {
                this.#utf8Need = 3;
                this.#utf8Lo = c === 0xf0 ? 0x90 : 0x80;
                this.#utf8Hi = c === 0xf4 ? 0x8f : 0xbf;
                this.#strAdjust += 2;
                this.#u16 += 2;
              }
              i++;
              state = UTF8;
              continue;
            }
            if (c === 0x0a || c === 0x0d) this.#fail(buf, base + i, depth, state, "unterminated-string", "a line break inside a string (write it as \\n or \\r)");
            this.#fail(buf, base + i, depth, state, "unexpected-byte", `control character ${describeByte(c)} inside a string (escape it as \\u00${c.toString(16).padStart(2, "0")})`);
          }
          // falls through only by a thrown error
          case UTF8: {
            c = buf[i]!;
            if (c < this.#utf8Lo || c > this.#utf8Hi) {
              this.#fail(buf, base + i, depth, state, "invalid-utf8", `byte ${describeByte(c)} where a UTF-8 continuation byte (0x${this.#utf8Lo.toString(16)}–0x${this.#utf8Hi.toString(16)}) was expected`);
            }
            i++;
            this.#utf8Lo = 0x80;
            this.#utf8Hi = 0xbf;
            if (--this.#utf8Need === 0) state = STRING;
            continue;
          }
          case ESCAPE: {
            c = buf[i]!;
            if (c === 0x75) {
              this.#hexLeft = 4;
              this.#strAdjust += 5;
              state = UNICODE;
            } else if (c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) {
              this.#strAdjust += 1;
              state = STRING;
            } else {
              this.#fail(buf, base + i, depth, state, "bad-escape", `\\ followed by ${describeByte(c)}; a string escape is one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`);
            }
            i++;
            continue;
          }
          case UNICODE: {
            c = buf[i]!;
            if (!((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66))) {
              this.#fail(buf, base + i, depth, state, "bad-escape", `${describeByte(c)} where \\u needs a hex digit`);
            }
            i++;
            if (--this.#hexLeft === 0) state = STRING;
            continue;
          }
          case AFTER: {
            c = buf[i]!;
            if (c === 0x2c) {
              i++;
              if (kinds[depth - 1] === ARRAY) {
                counts[depth - 1]!++;
                state = VALUE;
              } else state = KEY;
              continue;
            }
            if (c === 0x7d || c === 0x5d) {
              if (kinds[depth - 1] !== (c === 0x7d ? OBJECT : ARRAY)) {
                this.#fail(buf, base + i, depth, state, "unexpected-byte", `${describeByte(c)} closes ${kinds[depth - 1] === OBJECT ? "an object" : "an array"}`);
              }
              i++;
              depth--;
              state = depth === 0 ? DONE : AFTER;
              if (depth === this.#capDepth) {
                this.#depth = depth;
                this.#emit(buf, i);
                if (this.emitted >= this.#pauseAt) break outer;
              }
              continue;
            }
            if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
              i = this.#skipSpace(buf, i);
              continue;
            }
            this.#fail(buf, base + i, depth, state, "unexpected-byte", kinds[depth - 1] === OBJECT ? "expected ',' or '}' after a member" : "expected ',' or ']' after an element");
          }
          // falls through only by a thrown error
          case N_INT:
          case N_FRAC:
          case N_EXP: {
            while (i < n && (c = buf[i]!) >= 0x30 && c <= 0x39) i++;
            if (i === n) break outer;
            if (state !== N_EXP) {
              if (c === 0x65 || c === 0x45) {
                state = N_EXP_MARK;
                i++;
                continue;
              }
              if (c === 0x2e && state === N_INT) {
                state = N_DOT;
                i++;
                continue;
              }
            }
            if (base + i - this.#numStart > maxNumber) this.#numberTooLong(buf, depth, state);
            state = depth === 0 ? DONE : AFTER;
            if (depth === this.#capDepth) {
              this.#emit(buf, i);
              if (this.emitted >= this.#pauseAt) break outer;
            }
            continue;
          }
          case KEY_OR_CLOSE:
          case KEY: {
            c = buf[i]!;
            if (c === 0x22) {
              this.#strStart = base + i;
              this.#strKey = true;
              this.#strAdjust = 0;
              state = STRING;
              i++;
              continue;
            }
            if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
              i = this.#skipSpace(buf, i);
              continue;
            }
            if (c === 0x7d && state === KEY_OR_CLOSE) {
              i++;
              depth--;
              state = depth === 0 ? DONE : AFTER;
              if (depth === this.#capDepth) {
                this.#depth = depth;
                this.#emit(buf, i);
                if (this.emitted >= this.#pauseAt) break outer;
              }
              continue;
            }
            this.#fail(buf, base + i, depth, state, "unexpected-byte", state === KEY_OR_CLOSE ? "expected a member name in double quotes or '}'" : "expected a member name in double quotes");
          }
          // falls through only by a thrown error
          case COLON: {
            c = buf[i]!;
            if (c === 0x3a) {
              i++;
              state = VALUE;
              continue;
            }
            if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
              i = this.#skipSpace(buf, i);
              continue;
            }
            this.#fail(buf, base + i, depth, state, "unexpected-byte", "expected ':' after a member name");
          }
          // falls through only by a thrown error
          case START:
            if (buf[i] === 0xef) {
              state = BOM;
              this.#literal = [0xef, 0xbb, 0xbf];
              this.#literalPos = 0;
              continue;
            }
            state = VALUE;
            continue;
          case VALUE:
          case VALUE_OR_CLOSE: {
            c = buf[i]!;
            if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
              i = this.#skipSpace(buf, i);
              continue;
            }
            if (c === 0x5d && state === VALUE_OR_CLOSE) {
              i++;
              depth--;
              state = depth === 0 ? DONE : AFTER;
              if (depth === this.#capDepth) {
                this.#depth = depth;
                this.#emit(buf, i);
                if (this.emitted >= this.#pauseAt) break outer;
              }
              continue;
            }
            // A value starts: is it selected, and which selectors live on inside it?
            let live: number[] | null = null;
            if (this.#capDepth < 0) {
              const parentLive = depth === 0 ? null : this.#lives[depth - 1]!;
              if (depth === 0) {
                if (this.#rootSelector >= 0) this.#capture(base + i, 0, this.#rootSelector, null);
                else live = this.#rootLive;
              } else if (parentLive !== null) {
                live = this.#match(parentLive, depth, base + i);
              }
            }
            if (c === 0x22) {
              this.#strStart = base + i;
              this.#strKey = false;
              this.#strAdjust = 0;
              state = STRING;
              i++;
              continue;
            }
            if (c === 0x7b || c === 0x5b) {
              if (depth >= this.#limits.maxDepth) {
                this.#limit(buf, base + i, depth, state, "maxDepth", this.#limits.maxDepth, `nesting deeper than ${this.#limits.maxDepth} levels`);
              }
              kinds[depth] = c === 0x7b ? OBJECT : ARRAY;
              counts[depth] = 0;
              this.#keys[depth] = undefined;
              this.#keyStart[depth] = -1;
              this.#lives[depth] = live;
              depth++;
              state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
              i++;
              continue;
            }
            this.#numStart = base + i;
            if (c >= 0x31 && c <= 0x39) {
              state = N_INT;
              i++;
              continue;
            }
            if (c === 0x30) {
              state = N_ZERO;
              i++;
              continue;
            }
            if (c === 0x2d) {
              state = N_MINUS;
              i++;
              continue;
            }
            if (c === 0x74 || c === 0x66 || c === 0x6e) {
              const literal = c === 0x74 ? TRUE : c === 0x66 ? FALSE : NULL;
              const length = literal.length;
              // The whole literal in this chunk: compare at once.
              if (i + length <= n) {
                let k = 1;
                while (k < length && buf[i + k] === literal[k]) k++;
                if (k < length) this.#fail(buf, base + i + k, depth, state, "unexpected-byte", `expected ${String.fromCharCode(...literal)}`);
                i += length;
                state = depth === 0 ? DONE : AFTER;
                if (depth === this.#capDepth) {
                  this.#emit(buf, i);
                  if (this.emitted >= this.#pauseAt) break outer;
                }
                continue;
              }
              this.#literal = literal;
              this.#literalPos = 1;
              state = LITERAL;
              i++;
              continue;
            }
            this.#fail(buf, base + i, depth, state, "unexpected-byte", "expected a value");
          }
          // falls through only by a thrown error
          case N_MINUS:
          case N_DOT:
          case N_EXP_SIGN: {
            c = buf[i]!;
            if (c >= 0x30 && c <= 0x39) {
              state = state === N_MINUS ? (c === 0x30 ? N_ZERO : N_INT) : state === N_DOT ? N_FRAC : N_EXP;
              i++;
              continue;
            }
            this.#fail(buf, base + i, depth, state, "unexpected-byte", state === N_MINUS ? "expected a digit after '-'" : state === N_DOT ? "expected a digit after '.'" : "expected a digit in the exponent");
          }
          // falls through only by a thrown error
          case N_EXP_MARK: {
            c = buf[i]!;
            if (c === 0x2b || c === 0x2d) {
              state = N_EXP_SIGN;
              i++;
              continue;
            }
            if (c >= 0x30 && c <= 0x39) {
              state = N_EXP;
              i++;
              continue;
            }
            this.#fail(buf, base + i, depth, state, "unexpected-byte", "expected a sign or digit in the exponent");
          }
          // falls through only by a thrown error
          case N_ZERO: {
            c = buf[i]!;
            if (c === 0x2e) {
              state = N_DOT;
              i++;
              continue;
            }
            if (c === 0x65 || c === 0x45) {
              state = N_EXP_MARK;
              i++;
              continue;
            }
            if (c >= 0x30 && c <= 0x39) this.#fail(buf, base + i, depth, state, "unexpected-byte", "a number cannot have a leading zero");
            state = depth === 0 ? DONE : AFTER;
            if (depth === this.#capDepth) {
              this.#emit(buf, i);
              if (this.emitted >= this.#pauseAt) break outer;
            }
            continue;
          }
          case LITERAL:
          case BOM: {
            const literal = this.#literal;
            c = buf[i]!;
            if (c !== literal[this.#literalPos]) {
              if (state === BOM) this.#fail(buf, base + i - this.#literalPos, depth, state, "unexpected-byte", "expected a value");
              this.#fail(buf, base + i, depth, state, "unexpected-byte", `expected ${String.fromCharCode(...literal)}`);
            }
            i++;
            if (++this.#literalPos < literal.length) continue;
            if (state === BOM) {
              state = VALUE;
              continue;
            }
            state = depth === 0 ? DONE : AFTER;
            if (depth === this.#capDepth) {
              this.#emit(buf, i);
              if (this.emitted >= this.#pauseAt) break outer;
            }
            continue;
          }
          case DONE: {
            c = buf[i]!;
            if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
              i = this.#skipSpace(buf, i);
              continue;
            }
            this.#fail(buf, base + i, depth, state, "trailing-data", `${describeByte(c)} after the end of the top-level value`);
          }
        }
      }
    } finally {
      this.#state = state;
      this.#depth = depth;
    }
    return i;
  }

  /**
   * Ends a chunk that `run` finished: keeps what later chunks need of it (the
   * member names read in it, a selected value or a member name begun in it)
   * and checks the limits on what is still open.
   */
  endChunk(buf: Uint8Array): void {
    const n = buf.length;
    const state = this.#state;
    const depth = this.#depth;
    const base = this.#base;
    for (let l = 0; l < depth; l++) {
      if (this.#kinds[l] === OBJECT && this.#keys[l] === undefined && this.#keyStart[l] >= base) this.#keys[l] = this.#keyText(buf, l, false);
    }
    const inString = state === STRING || state === ESCAPE || state === UNICODE || state === UTF8;
    if (inString) {
      // Bytes so far minus what escapes and sequences save: at most 6 more than the code units.
      if (base + n - this.#strStart - 1 - this.#strAdjust - 6 > this.#limits.maxStringLength) this.#stringTooLong(buf, depth, state);
      if (this.#strKey) this.#keyParts.push(buf.slice(Math.max(0, this.#strStart + 1 - base)));
    }
    if (state >= N_MINUS && state <= N_EXP && base + n - this.#numStart > this.#limits.maxNumberLength) this.#numberTooLong(buf, depth, state);
    if (this.#capDepth >= 0) {
      if (base + n - this.#capStart > this.#limits.maxValueBytes) this.#valueTooLarge(buf);
      this.#capParts.push(buf.slice(Math.max(0, this.#capStart - base)));
    }
    this.#base = base + n;
    this.#text = "";
    this.#textBuf = null;
  }

  /**
   * Ends the text: completes a top-level number, or throws if the text
   * stopped before its top-level value did.
   */
  end(): void {
    const state = this.#state;
    const offset = this.#base;
    if (state === DONE) return;
    if (this.#depth === 0 && (state === N_ZERO || state === N_INT || state === N_FRAC || state === N_EXP)) {
      if (offset - this.#numStart > this.#limits.maxNumberLength) this.#numberTooLong(EMPTY, 0, state);
      this.#state = DONE;
      if (this.#capDepth === 0) this.#emit(EMPTY, 0);
      return;
    }
    if (state === STRING || state === ESCAPE || state === UNICODE || state === UTF8) {
      this.#fail(EMPTY, offset, this.#depth, state, "unterminated-string", `the text ended inside a string that starts at offset ${this.#strStart}`);
    }
    const detail = state === START || (state === VALUE && this.#depth === 0) ? "the text ended before any value" : "the text ended inside a value";
    this.#fail(EMPTY, offset, this.#depth, state, "truncated", detail);
  }

  /** Throws the error for a text longer than `max` bytes, at the current offset (which is `max`). */
  totalTooLarge(max: number): never {
    const offset = this.#base;
    this.#limit(EMPTY, offset, this.#depth, this.#state, "maxTotalBytes", max, "the text");
  }

  #skipSpace(buf: Uint8Array, i: number): number {
    const n = buf.length;
    while (i < n) {
      const c = buf[i]!;
      if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else if (c === 0x0a) {
        i++;
        this.#line++;
        this.#lineStart = this.#base + i;
      } else break;
    }
    return i;
  }

  /** Matches the value starting at `depth` (inside a live container) against the selectors alive there. */
  #match(parentLive: readonly number[], depth: number, start: number): number[] | null {
    const l = depth - 1;
    const key: string | number = this.#kinds[l] === ARRAY ? this.#counts[l]! : this.#keys[l]!;
    let live: number[] | null = null;
    for (const s of parentLive) {
      const segments = this.#selectors[s]!;
      const segment = segments[l]!;
      const hit = "any" in segment || ("name" in segment ? segment.name === key : segment.index === key);
      if (!hit) continue;
      if (segments.length === depth) {
        this.#capture(start, depth, s, key);
        return null;
      }
      (live ??= []).push(s);
    }
    return live;
  }

  #capture(start: number, depth: number, selector: number, key: string | number | null): void {
    this.#capDepth = depth;
    this.#capSelector = selector;
    this.#capKey = key;
    this.#capStart = start;
    this.#capLine = this.#line;
    this.#capLineStart = this.#lineStart;
    this.#capU16 = this.#u16;
    this.#capParts = [];
  }

  /** Hands the captured value, ending at `end` in `buf`, to onValue. */
  #emit(buf: Uint8Array, end: number): void {
    const startInBuf = this.#capStart - this.#base;
    if (this.#base + end - this.#capStart > this.#limits.maxValueBytes) this.#valueTooLarge(buf);
    let text: string;
    if (this.#capParts.length === 0) {
      // Within this chunk: a slice of text decoded once for the values of up to 64 KiB of it.
      // (The window may end inside a UTF-8 sequence; no value that ends before it is affected.)
      if (this.#textBuf !== buf || this.#textChunk !== this.#base || end > this.#textEnd) {
        this.#textEnd = Math.min(buf.length, Math.max(end, startInBuf + 65536));
        this.#text = this.#decoder.decode(buf.subarray(startInBuf, this.#textEnd));
        this.#textBuf = buf;
        this.#textChunk = this.#base;
        this.#textStart = this.#capStart;
        this.#textU16 = this.#capU16;
      }
      const from = this.#capStart - this.#textStart - (this.#capU16 - this.#textU16);
      text = this.#text.slice(from, from + (this.#base + end - this.#capStart) - (this.#u16 - this.#capU16));
    } else {
      this.#capParts.push(buf.subarray(0, end));
      const bytes = concatBytes(this.#capParts);
      this.#capParts = [];
      text = this.#decoder.decode(bytes);
    }
    this.#capDepth = -1;
    this.emitted++;
    this.#onValue(this.#capSelector, this.#capKey, text);
  }

  /** The member name of object `l`, whose offsets are known and whose bytes are in `buf` or in the pieces kept. */
  #keyText(buf: Uint8Array, l: number, withParts: boolean): string {
    let start = this.#keyStart[l]! - this.#base;
    let end = this.#keyEnd[l]! - this.#base;
    let bytes = buf;
    if (withParts && this.#keyParts.length > 0) {
      const parts = this.#keyParts;
      this.#keyParts = [];
      let length = end;
      for (const p of parts) length += p.length;
      bytes = new Uint8Array(length);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      bytes.set(buf.subarray(0, end), at);
      start = 0;
      end = length;
    }
    // Without escapes or multi-byte sequences (the usual name) the bytes are the code units.
    if (this.#keySimple[l] && end - start <= 64) {
      let s = "";
      for (let k = start; k < end; k++) s += String.fromCharCode(bytes[k]!);
      return s;
    }
    return JSON.parse(`"${this.#decoder.decode(bytes.subarray(start, end))}"`) as string;
  }

  /** The path of the value being read at `depth` in `state`, for an error. */
  #path(buf: Uint8Array, depth: number, state: number): string {
    let path = "$";
    // Inside a member name, or before one, the path is the object's.
    const inName = state === KEY || state === KEY_OR_CLOSE || (this.#strKey && (state === STRING || state === ESCAPE || state === UNICODE || state === UTF8));
    for (let l = 0; l < depth; l++) {
      if (this.#kinds[l] === ARRAY) path = appendPath(path, this.#counts[l]!);
      else {
        if (l === depth - 1 && inName) break;
        let key = this.#keys[l];
        if (key === undefined && this.#keyStart[l]! >= this.#base) {
          try {
            key = this.#keyText(buf, l, false);
          } catch {
            key = undefined;
          }
        }
        path = key === undefined ? `${path}.?` : appendPath(path, key);
      }
    }
    return path;
  }

  #position(buf: Uint8Array, offset: number, depth: number, state: number, line = this.#line, lineStart = this.#lineStart): JsonTextPosition {
    return { offset, line, column: offset - lineStart + 1, path: this.#path(buf, depth, state) };
  }

  #fail(buf: Uint8Array, offset: number, depth: number, state: number, kind: JsonParseErrorKind, detail: string): never {
    throw new JsonParseError(this.#owner, kind, detail, this.#position(buf, offset, depth, state));
  }

  #limit(buf: Uint8Array, offset: number, depth: number, state: number, limit: JsonLimit, max: number, detail: string, line?: number, lineStart?: number): never {
    throw new JsonLimitError(this.#owner, limit, max, detail, this.#position(buf, offset, depth, state, line, lineStart));
  }

  #stringTooLong(buf: Uint8Array, depth: number, state: number): never {
    this.#limit(buf, this.#strStart, depth, state, "maxStringLength", this.#limits.maxStringLength, "a string");
  }

  #numberTooLong(buf: Uint8Array, depth: number, state: number): never {
    this.#limit(buf, this.#numStart, depth, state, "maxNumberLength", this.#limits.maxNumberLength, "a number");
  }

  /** The selected value being captured passed maxValueBytes: reported at its start, with its path. */
  #valueTooLarge(buf: Uint8Array): never {
    const max = this.#limits.maxValueBytes;
    this.#limit(buf, this.#capStart, this.#capDepth, VALUE, "maxValueBytes", max, "a selected value", this.#capLine, this.#capLineStart);
  }
}
