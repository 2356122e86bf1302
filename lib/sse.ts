/**
 * Server-sent events (`text/event-stream`): an encoder that turns messages into
 * the bytes a server sends, with an idle keep-alive, and a decoder that follows
 * the HTML standard's event-stream interpretation exactly, for untrusted peers.
 * @module
 */

import { describeValue, enqueueAll } from "./_internal.ts";
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

/**
 * The timer functions {@linkcode SseEncoderStream} uses for its keep-alive.
 * Tests pass a fake clock here; the default uses the global `setTimeout` and
 * `clearTimeout`, looked up at each call (so `vi.useFakeTimers()` also works).
 */
export interface SseTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@linkcode SseEncoderStream}. */
export interface SseEncoderOptions {
  /**
   * Send the comment {@linkcode SSE_KEEP_ALIVE} after this many milliseconds
   * without output, so that proxies and load balancers do not close an idle
   * connection. A positive number of at most 2147483647 (the longest delay
   * `setTimeout` keeps: a longer one fires at once, which would send a
   * comment every millisecond), or `undefined` for no keep-alive.
   * @default undefined
   */
  keepAliveMs?: number;
  /**
   * The timer functions used for the keep-alive.
   * @default the global setTimeout and clearTimeout
   */
  timers?: SseTimers;
}

/**
 * The keep-alive comment that {@linkcode SseEncoderStream} sends when idle:
 * a comment line (receivers ignore lines starting with `:`) and a blank line.
 * The blank line dispatches nothing, since every encoded message already ends
 * with one, but it makes the keep-alive visible as one "event" in tools that
 * split the stream on blank lines.
 */
export const SSE_KEEP_ALIVE = ": keep-alive\n\n";

const globalTimers: SseTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

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
 * With `keepAliveMs`, the comment {@linkcode SSE_KEEP_ALIVE} is sent after
 * that many milliseconds without output. The timer runs only while the
 * stream is idle: every message re-arms it, so no comment is sent while
 * messages flow faster than `keepAliveMs`. A keep-alive is skipped (and the
 * timer re-armed) while earlier output still waits in the readable side's
 * queue, since the connection is then not idle but slow.
 *
 * **Cancellation behavior:** cancelling the readable side cancels the
 * writable side (and so, through a pipe, the source) with the same reason
 * and stops the keep-alive timer.
 *
 * **Error behavior:** a chunk that is neither a string nor an object with a
 * string `data`, an `event` or `id` with a line break (or an `id` with NUL,
 * which receivers would ignore), and a `retry` that is not a non-negative
 * safe integer error the stream with a `TypeError`. Closing, aborting or
 * erroring the stream stops the keep-alive timer.
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
 * @example Keep an idle connection open (Node)
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { Writable } from "node:stream";
 * import { SseEncoderStream } from "sluice/sse";
 *
 * createServer((req, res) => {
 *   res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
 *   const sse = new SseEncoderStream({ keepAliveMs: 15_000 });
 *   const ac = new AbortController();
 *   req.on("close", () => ac.abort());
 *   void sse.readable.pipeTo(Writable.toWeb(res), { signal: ac.signal }).catch(() => {});
 *   const writer = sse.writable.getWriter();
 *   void writer.write({ data: "hello" });
 * }).listen(8080);
 * ```
 */
export class SseEncoderStream extends TransformStream<SseMessage | string, Uint8Array> {
  /** The keep-alive interval, or `undefined` when there is none. */
  readonly keepAliveMs: number | undefined;

  /**
   * @param options See {@linkcode SseEncoderOptions}.
   * @throws {RangeError} when `keepAliveMs` is not a positive number of at most 2147483647.
   */
  constructor(options: SseEncoderOptions = {}) {
    const { keepAliveMs, timers = globalTimers } = options;
    if (keepAliveMs !== undefined && (typeof keepAliveMs !== "number" || !(keepAliveMs > 0 && keepAliveMs <= MAX_TIMEOUT_MS))) {
      throw new RangeError(
        `Cannot construct SseEncoderStream: keepAliveMs must be a positive number of at most ${MAX_TIMEOUT_MS}, got ${describeValue(keepAliveMs)}`,
      );
    }
    if (typeof timers?.setTimeout !== "function" || typeof timers.clearTimeout !== "function") {
      throw new TypeError(
        `Cannot construct SseEncoderStream: timers must have setTimeout and clearTimeout functions, got ${describeValue(timers)}`,
      );
    }
    const encoder = new TextEncoder();
    const keepAlive = encoder.encode(SSE_KEEP_ALIVE);
    let handle: unknown;
    let armed = false;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      if (armed) timers.clearTimeout(handle);
      armed = false;
    };
    const arm = (controller: TransformStreamDefaultController<Uint8Array>): void => {
      if (keepAliveMs === undefined || stopped) return;
      if (armed) timers.clearTimeout(handle);
      armed = true;
      handle = timers.setTimeout(() => {
        armed = false;
        if (stopped) return;
        const queued = controller.desiredSize;
        try {
          // A copy each time: the reader owns what it is given.
          if (queued === null || queued >= 0) controller.enqueue(keepAlive.slice());
        } catch {
          // The stream has ended without telling us (a runtime without transformer.cancel).
          stop();
          return;
        }
        arm(controller);
      }, keepAliveMs);
    };
    // `cancel` (called when the readable side is cancelled or the writable side aborted) is
    // newer than TypeScript's DOM types; runtimes without it stop at the next tick instead.
    const transformer: Transformer<SseMessage | string, Uint8Array> & { cancel(reason: unknown): void } = {
      start(controller) {
        arm(controller);
      },
      transform(chunk, controller) {
        let bytes: Uint8Array;
        try {
          bytes = encoder.encode(encodeMessage(chunk));
        } catch (e) {
          stop();
          throw e;
        }
        controller.enqueue(bytes);
        arm(controller);
      },
      flush() {
        stop();
      },
      cancel() {
        stop();
      },
    };
    super(transformer);
    this.keepAliveMs = keepAliveMs;
  }
}

/** Options of {@linkcode SseDecoderStream}. */
export interface SseDecoderOptions {
  /**
   * The longest event accepted, in UTF-16 code units of its joined data (one
   * LF per `data:` line included); a longer one errors the stream.
   * @default 4194304 (4 Mi)
   */
  maxEventSize?: number;
  /**
   * The longest line accepted, in UTF-16 code units, without its line end; a
   * longer one errors the stream as soon as it is seen, even before its line
   * end arrives, so a peer that never sends one cannot exhaust memory.
   * @default maxEventSize + 16 (room for a field name before a data line as long as an event)
   */
  maxLineLength?: number;
}

const DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024;
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
 * an event larger than `maxEventSize` errors it with a `RangeError`. Bytes
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
  readonly maxEventSize: number;
  /** The longest line accepted, in UTF-16 code units. */
  readonly maxLineLength: number;
  #state: { lastEventId: string; retry: number | undefined };

  /**
   * @param options See {@linkcode SseDecoderOptions}.
   * @throws {RangeError} when a limit is not a positive safe integer.
   */
  constructor(options: SseDecoderOptions = {}) {
    const maxEventSize = checkLimit("maxEventSize", options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE);
    const maxLineLength = checkLimit("maxLineLength", options.maxLineLength ?? maxEventSize + 16);
    const state = { lastEventId: "", retry: undefined as number | undefined };
    const lines = new LineSplitter({ cr: true, maxLineLength, owner: "SseDecoderStream" });
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    let started = false;
    let pendingBytes = false;
    // The event being built.
    let data = "";
    let type = "";
    let id: string | undefined;
    let retry: number | undefined;
    // Kept across events, as the standard's "last event ID buffer".
    let lastEventIdBuffer = "";
    let controller!: TransformStreamDefaultController<SseEvent>;
    // Events dispatched while splitting the current chunk, enqueued once it is split.
    let ready: SseEvent[] = [];
    const reset = (): void => {
      data = "";
      type = "";
      id = undefined;
      retry = undefined;
    };
    const onLine = (line: string): void => {
      if (line.length === 0) {
        state.lastEventId = lastEventIdBuffer;
        if (data.length === 0) {
          reset();
          return;
        }
        const event: SseEvent = { data: data.slice(0, -1), event: type === "" ? "message" : type, lastEventId: lastEventIdBuffer };
        if (id !== undefined) event.id = id;
        if (retry !== undefined) event.retry = retry;
        reset();
        ready.push(event);
        return;
      }
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
        case "data":
          if (data.length + value.length + 1 > maxEventSize) {
            throw new RangeError(
              `SseDecoderStream: an event exceeded maxEventSize (${maxEventSize} characters) at ${data.length + value.length + 1} characters of data`,
            );
          }
          data = data.length === 0 ? value + "\n" : data + value + "\n";
          break;
        case "event":
          type = value;
          break;
        case "id":
          if (value.indexOf("\0") === -1) lastEventIdBuffer = id = value;
          break;
        case "retry":
          if (isAsciiDigits(value)) state.retry = retry = Number(value);
          break;
      }
    };
    const push = (text: string): void => {
      if (text.length === 0) return;
      if (!started) {
        started = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      lines.push(text, onLine);
    };

    super({
      start(c) {
        controller = c;
      },
      transform(chunk): void | Promise<void> {
        if (chunk instanceof Uint8Array) {
          if (chunk.length === 0) return;
          pendingBytes = true;
          push(decoder.decode(chunk, { stream: true }));
        } else if (typeof chunk === "string") {
          if (pendingBytes) {
            // An incomplete UTF-8 sequence before a string chunk becomes U+FFFD, as at the end of input.
            pendingBytes = false;
            push(decoder.decode());
          }
          push(chunk);
        } else {
          throw new TypeError(`SseDecoderStream expects Uint8Array or string chunks, got ${describeValue(chunk)}`);
        }
        if (ready.length === 0) return;
        const events = ready;
        ready = [];
        return enqueueAll(controller, events.values());
      },
      flush() {
        // A last line without a line end, and a last event without a blank line, are dropped.
        if (pendingBytes) push(decoder.decode());
        lines.end();
        reset();
      },
    });
    this.maxEventSize = maxEventSize;
    this.maxLineLength = maxLineLength;
    this.#state = state;
  }

  /**
   * The last event ID string of the stream so far: what a reconnecting
   * client sends as the `Last-Event-ID` header. Updated at each blank line
   * after an `id:` field, whether or not an event was dispatched.
   */
  get lastEventId(): string {
    return this.#state.lastEventId;
  }

  /** The reconnection time in milliseconds set by the latest valid `retry:` field, or `undefined`. */
  get retry(): number | undefined {
    return this.#state.retry;
  }
}
