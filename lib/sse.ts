/**
 * Server-sent events (`text/event-stream`): an encoder that turns messages into
 * the bytes a server sends, with an idle keep-alive, and a decoder that follows
 * the HTML standard's event-stream interpretation exactly, for untrusted peers.
 * @module
 */

import { describeValue, enqueueAll, optionsObject } from "./_internal.ts";
import { LineSplitter } from "./_lines.ts";

/** One message for {@linkcode SseEncoderStream}. */
export interface SseMessage {
  /** The payload. Line breaks (CRLF, CR or LF) become several `data:` lines and arrive as LF. */
  data: string;
  /** The event type; the receiver's default is `"message"`. Must not contain CR, LF. */
  event?: string;
  /** Sets the receiver's last event ID. Must not contain CR, LF or NUL. */
  id?: string;
  /** The reconnection time in milliseconds the receiver should use: a non-negative safe integer. */
  retry?: number;
}

/** One event emitted by {@linkcode SseDecoderStream}. */
export interface SseEvent {
  /** The `data:` lines of the event joined with LF. */
  data: string;
  /** The event type: the last `event:` field of the event, or `"message"` when there was none or it was empty. */
  event: string;
  /**
   * The last event ID after this event: set by the most recent `id:` field of
   * this or any earlier event (an `id:` field with an empty value resets it to
   * `""`). This is what `MessageEvent.lastEventId` holds in a browser.
   */
  lastEventId: string;
  /** The value of the `id:` field of this event, when it had one (and it was not ignored for holding a NUL). */
  id?: string;
  /** The reconnection time of a valid `retry:` field of this event, when it had one. */
  retry?: number;
}

/** Options of {@linkcode SseEncoderStream}. */
export interface SseEncoderOptions {
  /**
   * Send the comment {@linkcode SSE_KEEP_ALIVE} when a reader has waited
   * this many milliseconds for a message, so that proxies and load balancers
   * do not close an idle connection. A positive number of at most 2147483647
   * (the longest delay `setTimeout` keeps: a longer one fires at once, which
   * would send a comment every millisecond), or `undefined` for no keep-alive.
   * @default undefined
   */
  keepAliveMs?: number;
}

/**
 * The keep-alive comment that {@linkcode SseEncoderStream} sends when idle:
 * a comment line (receivers ignore lines starting with `:`) and a blank line.
 * The blank line dispatches nothing, since every encoded message already ends
 * with one, but it makes the keep-alive visible as one "event" in tools that
 * split the stream on blank lines.
 */
export const SSE_KEEP_ALIVE = ": keep-alive\n\n";

/** The longest delay timers keep: browsers, Node and Deno fire a longer one at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const lineBreak = /\r\n|\r|\n/;

function checkField(name: "event" | "id", value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(`SseEncoderStream: ${name} must be a string, got ${describeValue(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 10 || c === 13 || (c === 0 && name === "id")) {
      throw new TypeError(
        `SseEncoderStream: ${name} must not contain ${c === 0 ? "NUL" : c === 10 ? "LF" : "CR"}, got ${describeValue(value)}`,
      );
    }
  }
  return value;
}

/** Encodes one message (or a bare data string) as event-stream text ending in a blank line. */
function encodeMessage(message: SseMessage | string): string {
  let data: unknown;
  let out = "";
  if (typeof message === "string") {
    data = message;
  } else if (typeof message === "object" && message !== null) {
    data = message.data;
    const event = checkField("event", message.event);
    const id = checkField("id", message.id);
    const retry: unknown = message.retry;
    if (event !== undefined) out += "event: " + event + "\n";
    if (id !== undefined) out += "id: " + id + "\n";
    if (retry !== undefined) {
      if (typeof retry !== "number" || !Number.isSafeInteger(retry) || retry < 0) {
        throw new TypeError(`SseEncoderStream: retry must be a non-negative safe integer, got ${describeValue(retry)}`);
      }
      out += "retry: " + retry + "\n";
    }
  } else {
    throw new TypeError(`SseEncoderStream expects an SseMessage or a string, got ${describeValue(message)}`);
  }
  if (typeof data !== "string") {
    throw new TypeError(`SseEncoderStream: data must be a string, got ${describeValue(data)}`);
  }
  if (data.indexOf("\n") === -1 && data.indexOf("\r") === -1) return out + "data: " + data + "\n\n";
  for (const line of data.split(lineBreak)) out += "data: " + line + "\n";
  return out + "\n";
}

/**
 * A `TransformStream` that encodes messages as a `text/event-stream` body:
 * each {@linkcode SseMessage} (or a string, taken as its `data`) becomes one
 * UTF-8 chunk ending in a blank line, so a receiver sees it at once.
 *
 * Fields are written in the order `event`, `id`, `retry`, `data`, each as
 * `name: value`. Data with line breaks becomes several `data:` lines (the
 * receiver joins them with LF, so CRLF and CR arrive as LF).
 *
 * With `keepAliveMs`, the comment {@linkcode SSE_KEEP_ALIVE} is sent when a
 * reader has waited that many milliseconds and no message came: the timer
 * runs only while a reader waits (from the moment it asks for more) and no
 * message waits for it. So a keep-alive never takes the place of a queued
 * message, never queues up behind a slow consumer (at most one per read,
 * none while nobody reads), and none is sent while messages come faster than
 * `keepAliveMs`.
 *
 * Backpressure is that of a `TransformStream` with the default strategies: a
 * write resolves once its message is handed to a reader, and until then the
 * writer's `ready` waits (the writable side's high-water mark is one message).
 *
 * **Cancellation behavior:** cancelling the readable side errors the
 * writable side with the same reason (so a pipe into it cancels its source
 * with that reason), rejects a write still waiting for a reader, and stops
 * the keep-alive timer. Aborting the writable side errors the readable side
 * with the abort reason and stops the timer; the abort settles at once, also
 * while a write waits for a reader that never comes (a plain
 * `TransformStream` would wait for that reader): the waiting write is
 * rejected with the reason. Closing the writable side closes the readable
 * side once every message has been read.
 *
 * **Error behavior:** a chunk that is neither a string nor an object with a
 * string `data`, an `event` or `id` with a line break (or an `id` with NUL,
 * which receivers would ignore), and a `retry` that is not a non-negative
 * safe integer error both sides with a `TypeError`.
 *
 * @example Encode messages for a response body
 * ```ts
 * import { SseEncoderStream } from "sluice/sse";
 *
 * const encoder = new SseEncoderStream();
 * const writer = encoder.writable.getWriter();
 * void writer.write({ event: "price", id: "7", data: "{\"bid\":12}" });
 * void writer.write("line one\nline two");
 * void writer.close();
 * const text = await new Response(encoder.readable).text();
 * console.log(text);
 * // "event: price\nid: 7\ndata: {\"bid\":12}\n\n" +
 * // "data: line one\ndata: line two\n\n"
 * ```
 *
 * @example Serve events with a keep-alive and backpressure (Node)
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { pipeToNode } from "sluice/node";
 * import { SseEncoderStream } from "sluice/sse";
 *
 * createServer((req, res) => {
 *   res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
 *   const sse = new SseEncoderStream({ keepAliveMs: 15_000 });
 *   // Waits for 'drain', so a stalled client holds only what its socket buffers;
 *   // a client that leaves cancels the stream, which rejects the pending write.
 *   void pipeToNode(sse.readable, res).catch(() => {});
 *   const writer = sse.writable.getWriter();
 *   void writer.write({ data: "hello" });
 * }).listen(8080);
 * ```
 */
export class SseEncoderStream extends TransformStream<SseMessage | string, Uint8Array> {
  /** The keep-alive interval, or `undefined` when there is none. */
  readonly keepAliveMs: number | undefined;

  /**
   * Creates an encoder; bad options throw here, before any stream exists.
   * @param options See {@linkcode SseEncoderOptions}.
   * @throws {RangeError} when `keepAliveMs` is not a positive number of at most 2147483647.
   * @throws {TypeError} when `options` is not an object.
   */
  constructor(options: SseEncoderOptions = {}) {
    options = optionsObject(options, "Cannot construct SseEncoderStream");
    const { keepAliveMs } = options;
    if (keepAliveMs !== undefined && (typeof keepAliveMs !== "number" || !(keepAliveMs > 0 && keepAliveMs <= MAX_TIMEOUT_MS))) {
      throw new RangeError(
        `Cannot construct SseEncoderStream: keepAliveMs must be a positive number of at most ${MAX_TIMEOUT_MS}, got ${describeValue(keepAliveMs)}`,
      );
    }
    super();
    // A transformer is told neither when a reader waits (which the keep-alive needs) nor, while a
    // write is held by backpressure, that the writable side was aborted (which an abort that settles
    // needs). So the two sides are built from a ReadableStream and a WritableStream and take the
    // place of the ones the TransformStream made: pipeThrough and every caller read the properties.
    const { readable, writable } = encoderSides(keepAliveMs);
    Object.defineProperties(this, {
      readable: { value: readable, enumerable: true },
      writable: { value: writable, enumerable: true },
    });
    this.keepAliveMs = keepAliveMs;
  }
}

/** A message encoded and waiting for a reader, and how to settle the write that brought it. */
interface HeldMessage {
  bytes: Uint8Array;
  settle(error?: { reason: unknown }): void;
}

/**
 * The sides of an {@linkcode SseEncoderStream}: a hand-over of one message at
 * a time from the writable side to a waiting reader, with the keep-alive timer
 * armed only while a reader waits and no message does.
 */
function encoderSides(keepAliveMs: number | undefined): ReadableWritablePair<Uint8Array, SseMessage | string> {
  const encoder = new TextEncoder();
  const keepAlive = encoder.encode(SSE_KEEP_ALIVE);
  let output!: ReadableStreamDefaultController<Uint8Array>;
  let input!: WritableStreamDefaultController;
  /** A reader has asked for more and was given nothing yet. */
  let waiting = false;
  let held: HeldMessage | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ended = false;

  const disarm = (): void => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
  };
  const end = (reason?: unknown): void => {
    ended = true;
    waiting = false;
    disarm();
    const h = held;
    held = undefined;
    h?.settle({ reason });
  };
  const hand = (bytes: Uint8Array): void => {
    waiting = false;
    disarm();
    output.enqueue(bytes);
  };
  const keepAliveDue = (): void => {
    timer = undefined;
    // A copy each time: the reader owns what it is given.
    if (waiting && !ended) hand(keepAlive.slice());
  };

  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      output = controller;
    },
    // With a highWaterMark of 0, called only when a reader waits and nothing is queued.
    pull() {
      if (held) {
        const h = held;
        held = undefined;
        hand(h.bytes);
        h.settle();
        return;
      }
      waiting = true;
      // Looked up at each call, so a test runner's fake clock applies.
      if (keepAliveMs !== undefined && !ended && timer === undefined) timer = setTimeout(keepAliveDue, keepAliveMs);
    },
    cancel(reason) {
      end(reason);
      input.error(reason);
    },
  }, { highWaterMark: 0 });

  const writable = new WritableStream<SseMessage | string>({
    start(controller) {
      input = controller;
    },
    write(chunk, controller) {
      let bytes: Uint8Array;
      try {
        bytes = encoder.encode(encodeMessage(chunk));
      } catch (error) {
        end(error);
        output.error(error);
        throw error;
      }
      if (waiting) return hand(bytes);
      return new Promise<void>((resolve, reject) => {
        // The standard lets an abort wait for the write in flight; this write may wait for a reader
        // that never comes, so the abort signal (given as the abort starts) rejects it at once.
        const signal = controller.signal as AbortSignal | undefined;
        const onAbort = (): void => end(signal!.reason);
        signal?.addEventListener("abort", onAbort);
        held = {
          bytes,
          settle(error) {
            signal?.removeEventListener("abort", onAbort);
            if (error) reject(error.reason);
            else resolve();
          },
        };
      });
    },
    close() {
      end();
      output.close();
    },
    abort(reason) {
      end(reason);
      output.error(reason);
    },
  });
  return { readable, writable };
}

/** Options of {@linkcode SseDecoderStream}. */
export interface SseDecoderOptions {
  /**
   * The longest event accepted, in UTF-16 code units of its joined data (one
   * LF per `data:` line included); a longer one errors the stream.
   * @default 4194304 (4 Mi)
   */
  maxEventLength?: number;
  /**
   * The former name of `maxEventLength` (the limit is in UTF-16 code units,
   * not bytes); still accepted.
   * @deprecated Use `maxEventLength`.
   */
  maxEventSize?: number;
  /**
   * The longest line accepted, in UTF-16 code units, without its line end; a
   * longer one errors the stream as soon as it is seen, even before its line
   * end arrives, so a peer that never sends one cannot exhaust memory.
   * @default maxEventLength + 16 (room for a field name before a data line as long as an event)
   */
  maxLineLength?: number;
}

const DEFAULT_MAX_EVENT_LENGTH = 4 * 1024 * 1024;
function checkLimit(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(
      `Cannot construct SseDecoderStream: ${name} must be a positive safe integer, got ${describeValue(value)}`,
    );
  }
  return value;
}

function isAsciiDigits(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * A `TransformStream` that parses a `text/event-stream` body into
 * {@linkcode SseEvent}s, following the HTML standard's "interpreting an event
 * stream" exactly, as `EventSource` does:
 *
 * - bytes are decoded as UTF-8 (invalid sequences become U+FFFD, also across
 *   chunk boundaries) and one BOM at the very start of the stream is dropped;
 *   string chunks are taken as already decoded;
 * - lines end in CRLF, LF or CR, also when a CR ends one chunk and an LF
 *   starts the next;
 * - a line starting with `:` is a comment; a line without `:` is a field
 *   with an empty value; one space after the colon is removed;
 * - `data` lines are joined with LF; `event` sets the type (default
 *   `"message"`); `id` sets the last event ID unless it contains NUL; `retry`
 *   counts only when it is all ASCII digits; other fields are ignored;
 * - an event is dispatched at a blank line only, and not at all when it has
 *   no `data` line; an unterminated event at the end of the stream is
 *   dropped; the last event ID carries over from event to event.
 *
 * The decoder also exposes what the standard keeps outside events: the
 * {@linkcode SseDecoderStream.lastEventId | lastEventId} (updated even by
 * events without data, which a reconnecting client sends as
 * `Last-Event-ID`) and the {@linkcode SseDecoderStream.retry | retry}
 * reconnection time (set by any valid `retry:` field).
 *
 * Backpressure holds within a chunk too: when one chunk holds more than
 * 4096 events, the rest are enqueued as the reader takes the first.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason;
 * the partial event held is dropped.
 *
 * **Error behavior:** a chunk that is neither a `Uint8Array` nor a string
 * errors the stream with a `TypeError`; a line longer than `maxLineLength` or
 * an event longer than `maxEventLength` errors it with a `RangeError`. Bytes
 * that are not valid UTF-8 are not an error (the standard replaces them).
 *
 * @example Parse an event stream
 * ```ts
 * import { SseDecoderStream } from "sluice/sse";
 *
 * const body = new Response("event: price\nid: 7\ndata: {\"bid\":12}\n\ndata: a\ndata: b\n\n").body!;
 * const reader = body.pipeThrough(new SseDecoderStream()).getReader();
 * for (let r = await reader.read(); !r.done; r = await reader.read()) console.log(r.value);
 * // { data: '{"bid":12}', event: "price", lastEventId: "7", id: "7" },
 * // { data: "a\nb", event: "message", lastEventId: "7" }
 * ```
 */
export class SseDecoderStream extends TransformStream<Uint8Array | string, SseEvent> {
  /** The longest event accepted, in UTF-16 code units. */
  readonly maxEventLength: number;
  /** The longest line accepted, in UTF-16 code units. */
  readonly maxLineLength: number;
  #parser: EventParser;

  /**
   * Creates a decoder; bad options throw here, before any stream exists.
   * @param options See {@linkcode SseDecoderOptions}.
   * @throws {RangeError} when a limit is not a positive safe integer.
   * @throws {TypeError} when `options` is not an object, or gives both `maxEventLength` and `maxEventSize` with different values.
   */
  constructor(options: SseDecoderOptions = {}) {
    const { maxEventLength, maxLineLength } = decoderLimits(options);
    const parser = new EventParser(maxEventLength, options.maxEventSize !== undefined && options.maxEventLength === undefined);
    const input = new TextInput(new LineSplitter({ cr: true, maxLineLength, owner: "SseDecoderStream" }), (line) => parser.line(line));
    let controller!: TransformStreamDefaultController<SseEvent>;
    super({
      start(c) {
        controller = c;
      },
      transform(chunk): void | Promise<void> {
        input.push(chunk);
        const events = parser.take();
        if (events !== undefined) return enqueueAll(controller, events.values());
      },
      flush() {
        // A last line without a line end, and a last event without a blank line, are dropped.
        input.end();
        parser.reset();
      },
    });
    this.maxEventLength = maxEventLength;
    this.maxLineLength = maxLineLength;
    this.#parser = parser;
  }

  /**
   * The longest event accepted, in UTF-16 code units.
   * @deprecated Use {@linkcode SseDecoderStream.maxEventLength}.
   */
  get maxEventSize(): number {
    return this.maxEventLength;
  }

  /**
   * The last event ID string of the stream so far: what a reconnecting
   * client sends as the `Last-Event-ID` header. Updated at each blank line
   * after an `id:` field, whether or not an event was dispatched.
   */
  get lastEventId(): string {
    return this.#parser.lastEventId;
  }

  /** The reconnection time in milliseconds set by the latest valid `retry:` field, or `undefined`. */
  get retry(): number | undefined {
    return this.#parser.retry;
  }
}

function decoderLimits(options: SseDecoderOptions): { maxEventLength: number; maxLineLength: number } {
  options = optionsObject(options, "Cannot construct SseDecoderStream");
  const { maxEventLength: length, maxEventSize: size } = options;
  if (length !== undefined && size !== undefined && length !== size) {
    throw new TypeError(
      `Cannot construct SseDecoderStream: maxEventSize is the deprecated name of maxEventLength; give one of them, got ${describeValue(length)} and ${describeValue(size)}`,
    );
  }
  const maxEventLength = length !== undefined
    ? checkLimit("maxEventLength", length)
    : checkLimit("maxEventSize", size ?? DEFAULT_MAX_EVENT_LENGTH);
  const maxLineLength = checkLimit("maxLineLength", options.maxLineLength ?? maxEventLength + 16);
  return { maxEventLength, maxLineLength };
}

/**
 * The text side of the decoder: chunks (bytes as UTF-8, or strings) into
 * lines. Invalid UTF-8 becomes U+FFFD, also across chunks; one BOM at the very
 * start of the stream is dropped.
 */
class TextInput {
  readonly #lines: LineSplitter;
  readonly #onLine: (line: string) => void;
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #started = false;
  /** The decoder may hold the start of a UTF-8 sequence. */
  #pendingBytes = false;

  constructor(lines: LineSplitter, onLine: (line: string) => void) {
    this.#lines = lines;
    this.#onLine = onLine;
  }

  push(chunk: unknown): void {
    if (chunk instanceof Uint8Array) {
      if (chunk.length === 0) return;
      this.#pendingBytes = true;
      this.#text(this.#decoder.decode(chunk, { stream: true }));
    } else if (typeof chunk === "string") {
      // An incomplete UTF-8 sequence before a string chunk becomes U+FFFD, as at the end of input.
      this.#flushBytes();
      this.#text(chunk);
    } else {
      throw new TypeError(`SseDecoderStream expects Uint8Array or string chunks, got ${describeValue(chunk)}`);
    }
  }

  end(): void {
    this.#flushBytes();
    this.#lines.end();
  }

  #flushBytes(): void {
    if (!this.#pendingBytes) return;
    this.#pendingBytes = false;
    this.#text(this.#decoder.decode());
  }

  #text(text: string): void {
    if (text.length === 0) return;
    if (!this.#started) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#lines.push(text, this.#onLine);
  }
}

/**
 * The event side of the decoder: the standard's field interpretation and
 * dispatch, line by line. Events dispatched while one chunk is split wait in
 * `ready` until the chunk is done.
 */
class EventParser {
  /** What `SseDecoderStream.lastEventId` shows: set at each blank line. */
  lastEventId = "";
  retry: number | undefined;
  readonly #maxEventLength: number;
  /** The option's name in messages: the one the caller gave. */
  readonly #limitName: string;
  // The event being built.
  #data = "";
  #type = "";
  #id: string | undefined;
  #retry: number | undefined;
  /** Kept across events, as the standard's "last event ID buffer". */
  #lastEventIdBuffer = "";
  #ready: SseEvent[] = [];

  constructor(maxEventLength: number, deprecatedName: boolean) {
    this.#maxEventLength = maxEventLength;
    this.#limitName = deprecatedName ? "maxEventSize" : "maxEventLength";
  }

  /** The events dispatched since the last call, if any. */
  take(): SseEvent[] | undefined {
    if (this.#ready.length === 0) return undefined;
    const events = this.#ready;
    this.#ready = [];
    return events;
  }

  reset(): void {
    this.#data = "";
    this.#type = "";
    this.#id = undefined;
    this.#retry = undefined;
  }

  line(line: string): void {
    if (line.length === 0) return this.#dispatch();
    const colon = line.indexOf(":");
    if (colon === 0) return;
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case "data": {
        const length = this.#data.length + value.length + 1;
        if (length > this.#maxEventLength) {
          throw new RangeError(
            `SseDecoderStream: an event exceeded ${this.#limitName} (${this.#maxEventLength} characters) at ${length} characters of data`,
          );
        }
        this.#data = this.#data.length === 0 ? value + "\n" : this.#data + value + "\n";
        break;
      }
      case "event":
        this.#type = value;
        break;
      case "id":
        if (value.indexOf("\0") === -1) this.#lastEventIdBuffer = this.#id = value;
        break;
      case "retry":
        if (isAsciiDigits(value)) this.retry = this.#retry = Number(value);
        break;
    }
  }

  #dispatch(): void {
    this.lastEventId = this.#lastEventIdBuffer;
    if (this.#data.length === 0) return this.reset();
    const event: SseEvent = {
      data: this.#data.slice(0, -1),
      event: this.#type === "" ? "message" : this.#type,
      lastEventId: this.#lastEventIdBuffer,
    };
    if (this.#id !== undefined) event.id = this.#id;
    if (this.#retry !== undefined) event.retry = this.#retry;
    this.reset();
    this.#ready.push(event);
  }
}
