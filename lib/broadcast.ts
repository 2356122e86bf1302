/**
 * One source, many readers that come and go: an event feed served to every
 * connected client, where a client that falls behind is dropped instead of
 * holding the feed (or the server's memory) back, and a client that comes
 * back can be given what it missed.
 * @module
 */

import { describeValue, optionsObject } from "./_internal.ts";
import { BranchOverflowError, type BranchReport } from "./tee.ts";

/** Options of {@linkcode broadcast}. */
export interface BroadcastOptions<T = unknown> {
  /**
   * How many of the latest chunks to keep for subscribers that come back
   * (`subscribe({ after })`), for example an `EventSource` reconnecting with
   * `Last-Event-ID`. A non-negative safe integer.
   * @default 0
   */
  replay?: number;
  /**
   * The id of a chunk, compared with `subscribe({ after })`. Called only
   * when a subscriber asks for a replay, on the chunks of the window.
   * @default the chunk's `id` property when it is a string (as in an `SseMessage`), else none
   */
  id?: (chunk: T) => string | undefined;
  /**
   * The size of one chunk, in the units of the subscribers' `highWaterMark`;
   * must return a finite non-negative number. Called once per chunk read.
   * @default `byteLength` for `ArrayBufferView` chunks, 1 otherwise
   */
  size?: (chunk: T) => number;
  /**
   * What happens to the source while no subscriber is there:
   * `"pause"` reads nothing until one subscribes (the source's producer
   * then feels backpressure); `"drain"` keeps reading, so the producer never
   * waits and the replay window stays current; `"cancel"` cancels the source
   * when the last subscriber leaves (once one has subscribed), which ends
   * the broadcast.
   * @default "pause"
   */
  whenIdle?: "pause" | "drain" | "cancel";
}

/** Options of {@linkcode Broadcast.subscribe}. */
export interface SubscribeOptions {
  /**
   * How far this subscriber may fall behind the source, in the units of the
   * broadcast's `size` (bytes for byte chunks, chunks otherwise), not
   * counting the chunks it was given as a replay. A subscriber that would
   * fall further behind is dropped (see {@linkcode SubscriberOverflowError}).
   * `0` means it must keep up: it is dropped when a chunk arrives while it is
   * not waiting for one. A non-negative number; `Infinity` never drops it
   * (and lets it hold the source's chunks without bound).
   * @default 65536 (64 KiB) when the source's chunks are `ArrayBufferView`s, 16 otherwise
   */
  highWaterMark?: number;
  /**
   * Start with the chunks that came after the chunk with this id (see
   * {@linkcode BroadcastOptions.id}), for example a `Last-Event-ID` header.
   * When the id is not among the chunks kept, the subscriber gets every chunk
   * kept and its `gap` is `true`.
   */
  after?: string;
}

/** A subscriber's stream, with what it needs to know about itself. */
export interface Subscriber<T> extends ReadableStream<T> {
  /** This subscriber's position among all subscribers of the broadcast so far (0 first). */
  readonly index: number;
  /**
   * `true` when `after` was given and not found among the chunks kept: the
   * subscriber may have missed chunks before its first one.
   */
  readonly gap: boolean;
  /** Resolves once the subscriber has ended, with the same report as a `tee` branch. Never rejects. */
  readonly report: Promise<BranchReport>;
}

/** How a broadcast's source ended; see {@linkcode Broadcast.done}. */
export interface BroadcastReport {
  /**
   * - `closed`: the source closed.
   * - `errored`: the source errored, or `size` failed; `reason` says why.
   * - `cancelled`: the broadcast was cancelled (`cancel()`, or
   *   `whenIdle: "cancel"` when its last subscriber left); `reason` is the cancel reason.
   */
  status: "closed" | "errored" | "cancelled";
  /** Why the source ended, unless it closed. */
  reason?: unknown;
  /** Chunks read from the source. */
  chunks: number;
  /** Subscribers there had been when `done` resolved. */
  subscribers: number;
}

/** What {@linkcode broadcast} returns. */
export interface Broadcast<T> {
  /**
   * A new subscriber: a stream of the source's chunks from now on (or, with
   * `after`, from the replay window on), in order.
   * @throws {TypeError} or {RangeError} for bad options.
   */
  subscribe(options?: SubscribeOptions): Subscriber<T>;
  /** Subscribers that have not ended. */
  readonly subscribers: number;
  /**
   * Cancels the source with `reason` and errors every subscriber that has not
   * ended with it. Resolves when the source's cancel has.
   */
  cancel(reason?: unknown): Promise<void>;
  /** Resolves once the source has ended and every subscriber has ended. Never rejects. */
  readonly done: Promise<BroadcastReport>;
}

/**
 * The error a subscriber is errored with when it fell more than its
 * `highWaterMark` behind the source. An {@linkcode BranchOverflowError}, as
 * for a `tee` branch; `branch` is the subscriber's `index`.
 */
export class SubscriberOverflowError extends BranchOverflowError {
  /**
   * The error a subscriber that fell behind its bound is dropped with.
   * @param subscriber The subscriber's `index`.
   * @param highWaterMark The bound it passed.
   */
  constructor(subscriber: number, highWaterMark: number) {
    super(subscriber, highWaterMark);
    this.name = "SubscriberOverflowError";
    this.message =
      `broadcast subscriber ${subscriber} fell more than its highWaterMark of ${highWaterMark} behind the source, so it was dropped`;
  }
}

interface Sub<T> {
  readonly index: number;
  /** Negative until decided by the first chunk (the default depends on its type). */
  hwm: number;
  controller: ReadableStreamDefaultController<T>;
  /** The sequence number of the next chunk to hand to it. */
  cursor: number;
  /** Where its replay ends: chunks before this do not count against its bound. */
  liveFrom: number;
  waiting: boolean;
  chunks: number;
  bytes: number;
  resolve: (report: BranchReport) => void;
}

const DEFAULT_BYTES_HWM = 65536;
const DEFAULT_OBJECTS_HWM = 16;

function defaultSize(chunk: unknown): number {
  return ArrayBuffer.isView(chunk) ? chunk.byteLength : 1;
}

function defaultId(chunk: unknown): string | undefined {
  const id = typeof chunk === "object" && chunk !== null ? (chunk as { id?: unknown }).id : undefined;
  return typeof id === "string" ? id : undefined;
}

function checkBroadcastOptions<T>(options: unknown): Required<BroadcastOptions<T>> {
  const { replay = 0, id = defaultId, size = defaultSize, whenIdle = "pause" } = optionsObject(options as BroadcastOptions<T> | undefined, "Cannot broadcast");
  if (typeof replay !== "number" || !Number.isSafeInteger(replay) || replay < 0) {
    throw new RangeError(`Cannot broadcast: replay must be a non-negative safe integer, got ${describeValue(replay)}`);
  }
  if (typeof id !== "function") throw new TypeError(`Cannot broadcast: id must be a function, got ${describeValue(id)}`);
  if (typeof size !== "function") throw new TypeError(`Cannot broadcast: size must be a function, got ${describeValue(size)}`);
  if (whenIdle !== "pause" && whenIdle !== "drain" && whenIdle !== "cancel") {
    throw new RangeError(`Cannot broadcast: whenIdle must be "pause", "drain" or "cancel", got ${describeValue(whenIdle)}`);
  }
  return { replay, id, size, whenIdle };
}

function checkSubscribeOptions(given: unknown): SubscribeOptions {
  const options = optionsObject(given as SubscribeOptions | undefined, "Cannot subscribe");
  const { highWaterMark, after } = options;
  if (highWaterMark !== undefined) {
    if (typeof highWaterMark !== "number") {
      throw new TypeError(`Cannot subscribe: highWaterMark must be a number, got ${describeValue(highWaterMark)}`);
    }
    if (Number.isNaN(highWaterMark) || highWaterMark < 0) {
      throw new RangeError(`Cannot subscribe: highWaterMark must be a non-negative number, got ${describeValue(highWaterMark)}`);
    }
  }
  if (after !== undefined && typeof after !== "string") {
    throw new TypeError(`Cannot subscribe: after must be a string, got ${describeValue(after)}`);
  }
  return options;
}

/**
 * The chunks read from the source that someone may still need: those a
 * subscriber has not been handed yet, and the replay window. Sequence
 * numbers count every chunk ever read; `sizeBefore` holds, for each chunk
 * kept, the total size of all chunks before it, so a subscriber's distance
 * behind the source is one subtraction.
 */
class Log<T> {
  chunks: T[] = [];
  sizeBefore: number[] = [];
  /** Sequence number of `chunks[start]`. */
  first = 0;
  start = 0;
  /** Total size of every chunk read. */
  total = 0;

  /** Sequence number of the next chunk to be read. */
  get head(): number {
    return this.first + this.chunks.length - this.start;
  }

  push(chunk: T, size: number): void {
    this.chunks.push(chunk);
    this.sizeBefore.push(this.total);
    this.total += size;
  }

  at(seq: number): T {
    return this.chunks[this.start + seq - this.first]!;
  }

  /** Size of the chunks from `seq` to the head. */
  behind(seq: number): number {
    return seq >= this.head ? 0 : this.total - this.sizeBefore[this.start + seq - this.first]!;
  }

  /** Drops the chunks before `seq`. */
  dropBefore(seq: number): void {
    const n = Math.min(seq, this.head) - this.first;
    if (n <= 0) return;
    for (let i = this.start; i < this.start + n; i++) this.chunks[i] = undefined as T;
    this.start += n;
    this.first += n;
    if (this.start === this.chunks.length) {
      this.chunks = [];
      this.sizeBefore = [];
      this.start = 0;
    } else if (this.start >= 1024 && this.start * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.start);
      this.sizeBefore = this.sizeBefore.slice(this.start);
      this.start = 0;
    }
  }

  /** The sequence number of the last kept chunk whose id is `id`, or -1. */
  find(id: string, idOf: (chunk: T) => string | undefined): number {
    for (let seq = this.head - 1; seq >= this.first; seq--) if (idOf(this.at(seq)) === id) return seq;
    return -1;
  }
}

/**
 * Serves one source to subscribers that come and go: each `subscribe()` is
 * a new `ReadableStream` of the source's chunks from then on, in order. Every
 * subscriber is a best-effort branch in the sense of `tee`'s `overflow:
 * "detach"`, with its own bound: the source is read as fast as the fastest
 * subscriber reads, and a subscriber that would fall more than its
 * `highWaterMark` behind is dropped, so a stalled client never slows the
 * others or holds the server's memory.
 *
 * - Every subscriber receives the same chunk objects (no copies): a consumer
 *   must not write into a chunk it reads. A subscriber that closes normally
 *   got every chunk from its start to the source's end, in order.
 * - The source is read one chunk at a time, only while some subscriber waits
 *   for a chunk (or, with `whenIdle: "drain"`, while none is subscribed).
 * - Memory: the chunks held are those some subscriber has not read yet
 *   (never more than its `highWaterMark` behind the newest) and the last
 *   `replay` chunks, shared by all subscribers: at most the largest
 *   `highWaterMark` plus one chunk, plus the replay window.
 * - With `replay`, `subscribe({ after: id })` starts after the chunk with that
 *   id, if it is still kept: a client reconnecting with `Last-Event-ID` gets
 *   what it missed. Replayed chunks do not count against its bound.
 * - Reports: each subscriber's `report` resolves when it ends, in the shape
 *   of a `tee` branch's report: `closed` (it got everything to the source's
 *   end), `errored` (the source errored, or the broadcast was cancelled),
 *   `cancelled` (its own reader, or a pipe reading it, cancelled it),
 *   `detached` (it fell behind its bound: `reason` is a
 *   {@linkcode SubscriberOverflowError}). The broadcast keeps no report of a
 *   subscriber that has ended, so a long-lived broadcast does not grow with
 *   the number of subscribers it has had.
 *
 * **Cancellation behavior:** a subscriber cancelled by its reader (or by the
 * pipe reading it) is dropped: the source and the others go on. When no
 * subscriber is left, `whenIdle` decides: `"pause"` (the default) stops
 * reading the source until someone subscribes, `"drain"` keeps reading into
 * the replay window, `"cancel"` cancels the source with the last
 * subscriber's reason. `cancel(reason)` cancels the source and errors every
 * subscriber that has not ended with `reason`. After the source has ended,
 * a new subscriber gets the replay it asked for and closes (source closed)
 * or is errored with the source's reason (errored or cancelled).
 *
 * **Error behavior:** the source erroring errors every subscriber that has
 * not ended with the same reason: no subscriber closes normally on a
 * truncated sequence. A `size` function that throws or returns something
 * other than a finite non-negative number cancels the source and errors every
 * subscriber with that error (a `RangeError` for a bad result). `done` never
 * rejects.
 *
 * @example Serve one event feed to many clients; a stalled one is dropped
 * ```ts
 * import { broadcast } from "sluice/broadcast";
 *
 * let n = 0;
 * const feed = new ReadableStream<{ id: string; data: string }>({
 *   pull(c) {
 *     if (n < 100) c.enqueue({ id: String(n), data: `tick ${n++}` });
 *     else c.close();
 *   },
 * });
 * const hub = broadcast(feed, { replay: 10 });
 * const fast = hub.subscribe({ highWaterMark: 16 });
 * const stalled = hub.subscribe({ highWaterMark: 16 }); // never read
 * const reader = fast.getReader();
 * let got = 0;
 * while (!(await reader.read()).done) got++;
 * console.log(got, (await stalled.report).status); // 100, "detached"
 * // A client coming back with Last-Event-ID: 95 gets 96..99, then the end.
 * const back = hub.subscribe({ after: "95" }).getReader();
 * console.log((await back.read()).value?.id); // "96"
 * ```
 *
 * @param source The stream to serve; it is locked by the broadcast.
 * @param options See {@linkcode BroadcastOptions}.
 * @throws {TypeError} when `source` is not a `ReadableStream` or is locked, or an option has the wrong type.
 * @throws {RangeError} when an option is out of range.
 */
export function broadcast<T>(source: ReadableStream<T>, options?: BroadcastOptions<T>): Broadcast<T> {
  if (typeof (source as ReadableStream | null)?.getReader !== "function" || typeof source.locked !== "boolean") {
    throw new TypeError(`Cannot broadcast: source must be a ReadableStream, got ${describeValue(source)}`);
  }
  if (source.locked) throw new TypeError("Cannot broadcast: source is locked (it already has a reader or is being piped)");
  const { replay, id: idOf, size: sizeOf, whenIdle } = checkBroadcastOptions<T>(options);
  const reader = source.getReader();
  const log = new Log<T>();
  const live = new Set<Sub<T>>();
  let waitingCount = 0;
  let everSubscribed = 0;
  let reading = false;
  let chunksRead = 0;
  /** Set once the source has ended: how. */
  let ending: { status: BroadcastReport["status"]; reason?: unknown } | undefined;
  /** Decided by the first chunk when no subscriber gave a highWaterMark. */
  let defaultHwm = -1;
  let resolveDone!: (report: BroadcastReport) => void;
  const done = new Promise<BroadcastReport>((resolve) => (resolveDone = resolve));

  function checkDone(): void {
    if (!ending || live.size > 0) return;
    const report: BroadcastReport = { status: ending.status, chunks: chunksRead, subscribers: everSubscribed };
    if (ending.status !== "closed") report.reason = ending.reason;
    resolveDone(report);
  }

  function end(s: Sub<T>, status: BranchReport["status"], reason?: unknown): void {
    if (!live.delete(s)) return;
    if (s.waiting) waitingCount--;
    s.waiting = false;
    const report: BranchReport = { index: s.index, status, chunks: s.chunks, bytes: s.bytes };
    if (status !== "closed") report.reason = reason;
    s.resolve(report);
    if (live.size === 0 && !ending && whenIdle === "cancel" && status !== "errored") {
      void stopSource("cancelled", reason).catch(() => {});
    }
    checkDone();
  }

  function hand(s: Sub<T>, chunk: T): void {
    s.cursor++;
    s.chunks++;
    if (ArrayBuffer.isView(chunk)) s.bytes += chunk.byteLength;
    s.controller.enqueue(chunk);
  }

  /** Ends the source (a cancel, or a failed `size`) and errors every subscriber with `reason`. */
  function stopSource(status: "cancelled" | "errored", reason: unknown): Promise<void> {
    if (ending) return Promise.resolve();
    ending = { status, reason };
    const cancelled = reader.cancel(reason);
    errorAll(reason);
    checkDone();
    return cancelled;
  }

  function errorAll(reason: unknown): void {
    for (const s of [...live]) {
      s.controller.error(reason);
      end(s, "errored", reason);
    }
  }

  function read(): void {
    if (reading || ending) return;
    if (waitingCount === 0 && !(live.size === 0 && whenIdle === "drain")) return;
    reading = true;
    reader.read().then(onRead, onSourceError);
  }

  function onSourceError(reason: unknown): void {
    reading = false;
    if (ending) return;
    ending = { status: "errored", reason };
    errorAll(reason);
    checkDone();
  }

  function onRead(result: ReadableStreamReadResult<T>): void {
    reading = false;
    if (ending) return;
    if (result.done) {
      ending = { status: "closed" };
      for (const s of [...live]) {
        if (s.cursor === log.head) {
          s.controller.close();
          end(s, "closed");
        }
      }
      checkDone();
      return;
    }
    const chunk = result.value;
    let n: number;
    try {
      n = sizeOf(chunk);
      if (typeof n !== "number" || !(n >= 0) || n === Infinity) {
        throw new RangeError(`broadcast: size must return a finite non-negative number, got ${describeValue(n)}`);
      }
    } catch (error) {
      void stopSource("errored", error).catch(() => {});
      return;
    }
    chunksRead++;
    if (defaultHwm < 0) defaultHwm = ArrayBuffer.isView(chunk) ? DEFAULT_BYTES_HWM : DEFAULT_OBJECTS_HWM;
    log.push(chunk, n);
    let oldest = log.head - replay;
    for (const s of [...live]) {
      if (s.hwm < 0) s.hwm = defaultHwm;
      if (s.waiting) {
        s.waiting = false;
        waitingCount--;
        hand(s, chunk);
      } else if (log.behind(Math.max(s.cursor, s.liveFrom)) > s.hwm) {
        const overflow = new SubscriberOverflowError(s.index, s.hwm);
        s.controller.error(overflow);
        end(s, "detached", overflow);
        continue;
      }
      if (s.cursor < oldest) oldest = s.cursor;
    }
    log.dropBefore(oldest);
    read();
  }

  function pull(s: Sub<T>): void {
    if (!live.has(s)) return;
    if (s.cursor < log.head) {
      hand(s, log.at(s.cursor));
    } else if (!s.waiting) {
      s.waiting = true;
      waitingCount++;
    }
    if (ending?.status === "closed" && s.cursor === log.head) {
      s.controller.close();
      end(s, "closed");
      return;
    }
    read();
  }

  function subscribe(options?: SubscribeOptions): Subscriber<T> {
    const { highWaterMark, after } = checkSubscribeOptions(options);
    let cursor = log.head;
    let gap = false;
    if (after !== undefined) {
      const seq = log.find(after, idOf);
      if (seq >= 0) cursor = seq + 1;
      else {
        // Not kept (or never seen): everything kept is the best that can be given.
        cursor = Math.max(log.first, log.head - replay);
        gap = true;
      }
    }
    let resolve!: (report: BranchReport) => void;
    const report = new Promise<BranchReport>((r) => (resolve = r));
    const s: Sub<T> = {
      index: everSubscribed++,
      hwm: highWaterMark ?? defaultHwm,
      controller: undefined as unknown as ReadableStreamDefaultController<T>,
      cursor,
      liveFrom: log.head,
      waiting: false,
      chunks: 0,
      bytes: 0,
      resolve,
    };
    const stream = new ReadableStream<T>({
      start(controller) {
        s.controller = controller;
      },
      pull() {
        pull(s);
      },
      cancel(reason) {
        end(s, "cancelled", reason);
      },
    }, { highWaterMark: 0 });
    live.add(s);
    if (ending && ending.status !== "closed") {
      s.controller.error(ending.reason);
      end(s, "errored", ending.reason);
    }
    Object.defineProperties(stream, {
      index: { value: s.index, enumerable: true },
      gap: { value: gap, enumerable: true },
      report: { value: report, enumerable: true },
    });
    return stream as Subscriber<T>;
  }

  // The source may error while no read is pending (nobody waiting): tell the subscribers at once.
  reader.closed.catch((reason: unknown) => onSourceError(reason));
  read();

  return {
    subscribe,
    get subscribers() {
      return live.size;
    },
    cancel(reason?: unknown) {
      return stopSource("cancelled", reason);
    },
    done,
  };
}
