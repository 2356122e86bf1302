/**
 * JSON Lines (newline-delimited JSON) both ways: values to lines of UTF-8
 * JSON, and lines of JSON back to values.
 * @module
 */

import { describeValue, enqueueAll, readerCaughtUp, optionsObject } from "./_internal.ts";
import { LineSplitter } from "./_lines.ts";
import { jsonStream, type JsonReplacer } from "./json.ts";

/** Options of {@linkcode JsonLinesStream}. */
export interface JsonLinesStreamOptions {
  /** As the replacer of `JSON.stringify` (and {@linkcode jsonStream}), applied to each value. @default null */
  replacer?: JsonReplacer;
  /** The largest emitted chunk in bytes, a positive integer (see {@linkcode JsonStreamOptions.chunkSize}). @default 65536 */
  chunkSize?: number;
  /** Whether Promises, async iterables and ReadableStreams inside values are awaited and read (see {@linkcode jsonStream}). @default true */
  async?: boolean;
  /**
   * The deepest nesting allowed in one value, the outermost container counting as 1; deeper
   * errors the stream with a `RangeError` naming the depth and the path (see
   * {@linkcode JsonStreamOptions.maxDepth}). `Infinity` lifts the bound.
   * @default 100000
   */
  maxDepth?: number;
}

const NEWLINE = new Uint8Array([10]);

/** Chunks of one value queued unread past which JsonLinesStream waits for its reader. */
const MAX_QUEUED_CHUNKS = 16;

/**
 * A `TransformStream` that writes each value as one line of JSON followed by
 * `\n`, as UTF-8 bytes. Each line is exactly `JSON.stringify(value, replacer)`
 * (see {@linkcode jsonStream} for the rules, the async values and the errors).
 * A value's bytes are made as the output is read (at most 16 chunks are
 * queued ahead of the reader), also within one large value.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the value
 * being serialised (its inner streams and iterators) and the writable side.
 *
 * **Error behavior:** a value that `JSON.stringify` cannot serialise errors
 * the stream with the same error as `jsonStream` (a `TypeError` naming the
 * path, or the user's error with a `jsonPath` property); a value that
 * serialises to nothing (`undefined`, a function, a symbol) is a `TypeError`,
 * since a JSON Lines line cannot be empty.
 *
 * @example Write values as JSON Lines
 * ```ts
 * import { JsonLinesStream } from "sluice/json-lines";
 *
 * const values = new ReadableStream({
 *   start(c) {
 *     c.enqueue({ id: 1 });
 *     c.enqueue([2, "two"]);
 *     c.close();
 *   },
 * });
 * const text = await new Response(values.pipeThrough(new JsonLinesStream())).text();
 * console.log(text); // '{"id":1}\n[2,"two"]\n'
 * ```
 */
export class JsonLinesStream extends TransformStream<unknown, Uint8Array> {
  /**
   * Creates the encoder; bad options throw here, before any stream exists.
   * @param options The replacer, chunk size, async detection and depth bound, as for {@linkcode jsonStream}.
   * @throws {TypeError | RangeError} on a bad option, naming it.
   */
  constructor(options: JsonLinesStreamOptions = {}) {
    options = optionsObject(options, "Cannot construct JsonLinesStream");
    const jsonOptions = { replacer: options.replacer, chunkSize: options.chunkSize, async: options.async, maxDepth: options.maxDepth };
    // Checks the options now (throwing at `new`), on a value that needs no work.
    try {
      jsonStream(null, jsonOptions).cancel().catch(() => {});
    } catch (error) {
      if (error instanceof Error) error.message = error.message.replace(/^jsonStream:/, "Cannot construct JsonLinesStream:");
      throw error;
    }
    const chunkSize = options.chunkSize ?? 65536;
    let current: ReadableStreamDefaultReader<Uint8Array> | null = null;
    // `cancel` is the newer transformer hook (run when the readable side is cancelled); DOM typings lack it.
    const transformer: Transformer<unknown, Uint8Array> & { cancel(reason: unknown): Promise<void> | undefined } = {
      async transform(value, controller) {
        const reader = jsonStream(value, jsonOptions).getReader();
        current = reader;
        try {
          let first: Uint8Array | undefined;
          for (let r = await reader.read(); !r.done; r = await reader.read()) {
            if (first === undefined) {
              first = r.value;
              continue;
            }
            controller.enqueue(first);
            first = r.value;
            // A large value (say one with a long inner stream) is read as the output is, not queued whole.
            if (controller.desiredSize !== null && controller.desiredSize < -MAX_QUEUED_CHUNKS) await readerCaughtUp(controller, MAX_QUEUED_CHUNKS);
          }
          if (first === undefined) return; // cancelled meanwhile
          if (first.length < chunkSize) {
            // The common small value: one chunk with its newline.
            const line = new Uint8Array(first.length + 1);
            line.set(first);
            line[first.length] = 10;
            controller.enqueue(line);
          } else {
            controller.enqueue(first);
            controller.enqueue(NEWLINE.slice());
          }
        } finally {
          current = null;
        }
      },
      cancel(reason: unknown) {
        return current?.cancel(reason);
      },
    };
    super(transformer);
  }
}

/** Options of {@linkcode JsonLinesParseStream}. */
export interface JsonLinesParseStreamOptions {
  /**
   * The longest line accepted, in UTF-16 code units; a longer line errors the
   * stream with a `RangeError` instead of growing without bound.
   * @default 16777216
   */
  maxLineLength?: number;
}

/**
 * A `TransformStream` that parses JSON Lines: text or UTF-8 bytes in, one
 * `JSON.parse`d value out per line. Lines end with `\n` or `\r\n`, also
 * across chunk boundaries; blank lines (only spaces or tabs) are skipped; the
 * last line may lack its newline.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side with the same reason; a partial line is dropped.
 *
 * **Error behavior:** an invalid line errors the stream with a `SyntaxError`
 * that names its line number (counting from 1, blank lines included); a line
 * longer than `maxLineLength` errors it with a `RangeError`; a chunk that is
 * neither a string nor a `Uint8Array` with a `TypeError`. Invalid UTF-8 is
 * decoded to U+FFFD, as `TextDecoder` does. A UTF-8 byte order mark is
 * skipped only at the very start of the input, when that starts with bytes;
 * a U+FEFF anywhere else is text (kept inside a string, a `SyntaxError`
 * elsewhere, as for `JSON.parse`). The line limit holds however the input is
 * cut: the CR of a CRLF is never counted, also when it ends a chunk.
 *
 * @example Parse JSON Lines
 * ```ts
 * import { JsonLinesParseStream } from "sluice/json-lines";
 *
 * const text = new ReadableStream<string>({
 *   start(c) {
 *     c.enqueue('{"id":1}\n[2,');
 *     c.enqueue('"two"]\r\n\n3');
 *     c.close();
 *   },
 * });
 * const reader = text.pipeThrough(new JsonLinesParseStream()).getReader();
 * for (let r = await reader.read(); !r.done; r = await reader.read()) console.log(r.value);
 * // { id: 1 }, [ 2, "two" ], 3
 * ```
 */
export class JsonLinesParseStream extends TransformStream<Uint8Array | string, unknown> {
  /** The longest line accepted, in UTF-16 code units. */
  readonly maxLineLength: number;

  /**
   * Creates the parser; bad options throw here, before any stream exists.
   * @throws {RangeError} when `maxLineLength` is not a positive safe integer.
   */
  constructor(options: JsonLinesParseStreamOptions = {}) {
    options = optionsObject(options, "Cannot construct JsonLinesParseStream");
    const { maxLineLength = 16 * 2 ** 20 } = options;
    if (typeof maxLineLength !== "number" || !Number.isSafeInteger(maxLineLength) || maxLineLength <= 0) {
      throw new RangeError(
        `Cannot construct JsonLinesParseStream: maxLineLength must be a positive safe integer, got ${describeValue(maxLineLength)}`,
      );
    }
    const splitter = new LineSplitter({ cr: false, maxLineLength, owner: "JsonLinesParseStream" });
    // The BOM is stripped here, not by the decoder: a decoder strips one after every reset
    // (each string chunk flushes it), and only the very first bytes of the stream may hold one.
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    let atStart = true;
    let lineNumber = 0;
    // The lines split from the current chunk, parsed one by one as they are enqueued.
    let lines: string[] = [];
    const collect = (line: string): void => void lines.push(line);
    function* parsed(batch: string[]): Generator<unknown, void, undefined> {
      for (const line of batch) {
        lineNumber++;
        if (isBlank(line)) continue;
        try {
          yield JSON.parse(line);
        } catch (error) {
          throw new SyntaxError(
            `JsonLinesParseStream: invalid JSON on line ${lineNumber}: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    }
    // One chunk may hold tens of thousands of short lines; enqueueAll waits for the reader
    // past a bound instead of queueing them all at once.
    const emit = (controller: TransformStreamDefaultController<unknown>): void | Promise<void> => {
      if (lines.length === 0) return;
      const batch = lines;
      lines = [];
      return enqueueAll(controller, parsed(batch));
    };
    super({
      transform(chunk, controller) {
        if (typeof chunk === "string") {
          const pending = decoder.decode();
          if (pending !== "") splitter.push(pending, collect);
          splitter.push(chunk, collect);
          if (chunk !== "" || pending !== "") atStart = false;
        } else if (chunk instanceof Uint8Array) {
          let text = decoder.decode(chunk, { stream: true });
          if (atStart && text !== "") {
            atStart = false;
            if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
          }
          splitter.push(text, collect);
        } else {
          throw new TypeError(`JsonLinesParseStream expects Uint8Array or string chunks, got ${describeValue(chunk)}`);
        }
        return emit(controller);
      },
      flush(controller) {
        let pending = decoder.decode();
        if (atStart && pending.charCodeAt(0) === 0xfeff) pending = pending.slice(1);
        if (pending !== "") splitter.push(pending, collect);
        const rest = splitter.end();
        if (rest !== "") collect(rest.charCodeAt(rest.length - 1) === 13 ? rest.slice(0, -1) : rest);
        return emit(controller);
      },
    });
    this.maxLineLength = maxLineLength;
  }
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}
