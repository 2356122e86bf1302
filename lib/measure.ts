/**
 * Measuring a transfer where it passes: bytes, time to the first chunk, and
 * how long the data waited for its consumer, which tells a slow producer from
 * a slow consumer.
 * @module
 */

import { callSafely, checkInterval, describeValue, optionsObject, unrefTimer } from "./_internal.ts";

/** What a {@linkcode MeasureStream} saw. */
export interface TransferReport {
  /** How the transfer ended: the writable side closed, the stream errored (or was aborted), or the readable side was cancelled. */
  status: "closed" | "errored" | "cancelled";
  /** The error or cancel reason, unless it closed. */
  reason?: unknown;
  /** `byteLength` of `ArrayBufferView` chunks plus the UTF-8 length of string chunks; other chunks count 0. */
  bytes: number;
  /** Chunks that passed through to the consumer. */
  chunks: number;
  /** Milliseconds from construction to the first chunk written (time to first byte); `-1` if none came. */
  firstChunkMs: number;
  /** Milliseconds from the first chunk to the end; `0` if no chunk came. */
  durationMs: number;
  /**
   * Milliseconds during which the stream held a chunk its consumer had not
   * yet asked for: the time spent waiting on backpressure. Close to 0 when
   * the producer is the slow side; close to `durationMs` when the consumer is.
   */
  stalledMs: number;
}

/**
 * What a {@linkcode MeasureStream} has seen so far, as `onProgress` receives it
 * while the transfer runs (and once more when it ends).
 */
export interface TransferProgress {
  /** Bytes passed to the consumer so far, counted as in {@linkcode TransferReport}. */
  bytes: number;
  /** Chunks passed to the consumer so far. */
  chunks: number;
  /** Milliseconds since the first chunk was written; `0` before it. */
  durationMs: number;
  /**
   * Bytes per second since the previous progress report (for the first one,
   * since the first chunk); `0` when no time has passed.
   */
  bytesPerSecond: number;
  /**
   * Milliseconds the stream has held a chunk its consumer had not yet asked
   * for, so far, including a chunk it holds now (see `TransferReport.stalledMs`).
   */
  stalledMs: number;
  /** `true` on the last report, made when the transfer ends (closed, errored or cancelled). */
  done: boolean;
}

/** Options of {@linkcode MeasureStream}. */
export interface MeasureOptions {
  /**
   * Called once with the report when the transfer ends (closed, errored or
   * cancelled), just before `report` resolves.
   * @default undefined
   */
  onReport?: (report: TransferReport) => void;
  /**
   * Called while the transfer runs with what has passed so far: at most once
   * per `interval` milliseconds, after a chunk passes or while a chunk waits
   * for the consumer (so a stall shows as it grows), and once more, with
   * `done: true`, when the transfer ends, just before `onReport`. Nothing is
   * reported before the first chunk but that final report.
   * @default undefined
   */
  onProgress?: (progress: TransferProgress) => void;
  /**
   * The least time between two progress reports, in milliseconds. `0`
   * reports every change; `Infinity` only the final report.
   * @default 100
   */
  interval?: number;
}
/** UTF-8 length of a string without encoding it. Lone surrogates count 3, as TextEncoder writes U+FFFD. */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 2 code units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** The counts and clocks of one transfer: what passed, when, and how long chunks waited. */
class TransferMeter {
  readonly started = performance.now();
  first = -1;
  bytes = 0;
  chunks = 0;
  /** Stall time of chunks already released. */
  private stalled = 0;
  /** When the chunk held now started to wait, or -1. */
  private heldSince = -1;

  get holding(): boolean {
    return this.heldSince >= 0;
  }

  written(now: number): void {
    if (this.first < 0) this.first = now;
  }

  count(chunk: unknown): void {
    this.chunks++;
    if (ArrayBuffer.isView(chunk)) this.bytes += chunk.byteLength;
    else if (typeof chunk === "string") this.bytes += utf8Length(chunk);
  }

  hold(now: number): void {
    this.heldSince = now;
  }

  release(now: number): void {
    if (this.heldSince >= 0) this.stalled += now - this.heldSince;
    this.heldSince = -1;
  }

  stalledMs(now: number): number {
    return this.stalled + (this.heldSince >= 0 ? now - this.heldSince : 0);
  }

  durationMs(now: number): number {
    return this.first < 0 ? 0 : now - this.first;
  }

  report(status: TransferReport["status"], reason: unknown, now: number): TransferReport {
    const report: TransferReport = {
      status,
      bytes: this.bytes,
      chunks: this.chunks,
      firstChunkMs: this.first < 0 ? -1 : this.first - this.started,
      durationMs: this.durationMs(now),
      stalledMs: this.stalledMs(now),
    };
    if (status !== "closed") report.reason = reason;
    return report;
  }
}

/**
 * Turns a meter's changes into progress reports, at most one per `interval`
 * ms: the first change after a quiet spell is reported at once, later ones
 * together when the interval is over; while a chunk is held the stall grows,
 * so reports go on every `interval` until it is released.
 */
class ProgressReporter {
  private lastAt = -Infinity;
  private lastBytes = 0;
  private changed = false;
  private ended = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly meter: TransferMeter,
    private readonly onProgress: (progress: TransferProgress) => void,
    private readonly interval: number,
  ) {}

  /** Something was counted, or a chunk started to wait. */
  change(): void {
    this.changed = true;
    this.schedule();
  }

  /** The transfer has ended: one last report, and no more. */
  end(now: number): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.emit(now, true);
  }

  private schedule(): void {
    if (this.ended || this.timer !== undefined || this.interval === Infinity) return;
    const holding = this.meter.holding && this.interval > 0;
    if (!this.changed && !holding) return;
    const now = performance.now();
    const wait = this.lastAt + this.interval - now;
    if (wait <= 0 && this.changed) {
      this.emit(now, false);
      if (holding) this.arm(this.interval);
    } else {
      this.arm(Math.max(wait, 0));
    }
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.ended) return;
      this.emit(performance.now(), false);
      this.schedule();
    }, ms);
    unrefTimer(this.timer);
  }

  private emit(now: number, done: boolean): void {
    const { meter } = this;
    const since = this.lastAt === -Infinity ? meter.first : this.lastAt;
    const elapsed = since < 0 ? 0 : now - since;
    const progress: TransferProgress = {
      bytes: meter.bytes,
      chunks: meter.chunks,
      durationMs: meter.durationMs(now),
      bytesPerSecond: elapsed > 0 ? ((meter.bytes - this.lastBytes) * 1000) / elapsed : 0,
      stalledMs: meter.stalledMs(now),
      done,
    };
    this.lastAt = now;
    this.lastBytes = meter.bytes;
    this.changed = false;
    callSafely(this.onProgress, progress);
  }
}

/**
 * A pass-through stream that counts what passes and reports, when the
 * transfer ends, how long it took and how long the data waited for its
 * consumer (`stalledMs`). Chunks pass unchanged (the same objects).
 *
 * The stream holds at most one chunk. A chunk written while the consumer is
 * waiting for one goes straight through; a chunk written while the consumer
 * is busy is held until it asks (reads, or its pipe is ready), and that wait
 * is what `stalledMs` adds up. So a slow producer gives a `stalledMs` near 0
 * and a slow consumer a `stalledMs` near the whole duration.
 *
 * **Cancellation behavior:** cancelling the readable side errors the writable
 * side with the reason (so a pipe into it cancels its source), drops the held
 * chunk, and ends the report as `cancelled` with the reason, in every runtime
 * (it does not depend on the transformer `cancel` hook, which some runtimes
 * lack).
 *
 * **Error behavior:** aborting the writable side (as a pipe does when its
 * source errors) errors the readable side with the reason at once, even while
 * a chunk is held, and ends the report as `errored`. The report is delivered
 * on close, error and cancel alike; `report` never rejects. An `onReport` or
 * `onProgress` that throws does not disturb the stream: its error is rethrown
 * in a microtask.
 *
 * **Progress:** with `onProgress`, the counts so far (bytes, chunks, rate,
 * stall time) are reported while the transfer runs, at most once per
 * `interval` ms, and finally once with `done: true`. Its timer does not keep
 * a runtime alive.
 *
 * @example Tell a slow consumer from a slow producer
 * ```ts
 * import { MeasureStream } from "sluice/measure";
 *
 * const measure = new MeasureStream({
 *   onReport: (r) => console.log(`${r.bytes} B in ${r.durationMs.toFixed(0)} ms, ${r.stalledMs.toFixed(0)} ms waiting on the consumer`),
 * });
 * const body = new Blob(["some ", "bytes"]).stream();
 * await body.pipeThrough(measure).pipeTo(new WritableStream());
 * const report = await measure.report;
 * console.log(report.status, report.bytes); // "closed", 10
 * ```
 *
 * @example Show upload progress while the body is sent
 * ```ts
 * import { MeasureStream } from "sluice/measure";
 *
 * const seen: number[] = [];
 * const measure = new MeasureStream({
 *   interval: 250,
 *   onProgress: (p) => seen.push(p.bytes), // for example: bar.value = p.bytes
 * });
 * const body = new Blob(["a large ", "body"]).stream().pipeThrough(measure);
 * await new Response(body).arrayBuffer(); // or: fetch(url, { method: "POST", body, duplex: "half" })
 * console.log(seen.at(-1)); // 12
 * ```
 */
export class MeasureStream<T = Uint8Array> extends TransformStream<T, T> {
  /** Resolves with the report once the transfer has ended. Never rejects. */
  readonly report: Promise<TransferReport>;

  /**
   * Creates a pass-through stream that measures what passes, reporting on the way with `onProgress`
   * and at the end with `report` and `onReport`.
   *
   * @param options See {@linkcode MeasureOptions}.
   * @throws {TypeError} when `options` is not an object, `onReport` or `onProgress` is not a function, or `interval` is not a number.
   * @throws {RangeError} when `interval` is negative or NaN.
   */
  constructor(options: MeasureOptions = {}) {
    const { onReport, onProgress, interval } = measureOptions(options);
    super();
    const meter = new TransferMeter();
    const progress = onProgress ? new ProgressReporter(meter, onProgress, interval) : undefined;
    let resolveReport!: (r: TransferReport) => void;
    this.report = new Promise<TransferReport>((resolve) => (resolveReport = resolve));
    let ended = false;
    const finish = (status: TransferReport["status"], reason?: unknown): void => {
      if (ended) return;
      ended = true;
      const now = performance.now();
      progress?.end(now);
      const report = meter.report(status, reason, now);
      if (onReport) callSafely(onReport, report);
      resolveReport(report);
    };
    const { readable, writable } = measuredPair<T>(meter, finish, () => progress?.change());
    Object.defineProperty(this, "readable", { value: readable, enumerable: true });
    Object.defineProperty(this, "writable", { value: writable, enumerable: true });
  }
}

function measureOptions(options: MeasureOptions): Required<Pick<MeasureOptions, "interval">> & MeasureOptions {
  const owner = "Cannot construct MeasureStream";
  const { onReport, onProgress, interval = 100 } = optionsObject(options, owner);
  for (const [name, value] of [["onReport", onReport], ["onProgress", onProgress]] as const) {
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(`${owner}: ${name} must be a function, got ${describeValue(value)}`);
    }
  }
  return { onReport, onProgress, interval: checkInterval(owner, interval) };
}

/**
 * The stream's own readable/writable pair instead of the TransformStream's:
 * only a readable source of its own sees when the consumer asks (and a
 * cancel, in runtimes without the transformer cancel hook). At most one chunk
 * is held, with the write that waits for it to be read.
 */
function measuredPair<T>(
  meter: TransferMeter,
  finish: (status: TransferReport["status"], reason?: unknown) => void,
  changed: () => void,
): { readable: ReadableStream<T>; writable: WritableStream<T> } {
  let held: { chunk: T; resolve: () => void; reject: (e: unknown) => void } | undefined;
  let consumerWaiting = false;
  let readableController!: ReadableStreamDefaultController<T>;
  let writableController!: WritableStreamDefaultController;

  const pass = (chunk: T): void => {
    meter.count(chunk);
    readableController.enqueue(chunk);
    changed();
  };
  /** Drops the held chunk (the transfer ended), failing its write with `reason`. */
  const drop = (reason: unknown): void => {
    const h = held;
    held = undefined;
    h?.reject(reason);
  };

  const readable = new ReadableStream<T>({
    start(c) {
      readableController = c;
    },
    pull() {
      if (held) {
        const h = held;
        held = undefined;
        meter.release(performance.now());
        pass(h.chunk);
        h.resolve();
      } else {
        consumerWaiting = true;
      }
    },
    cancel(reason) {
      finish("cancelled", reason);
      writableController.error(reason);
      drop(reason);
    },
  }, { highWaterMark: 0 });

  const writable = new WritableStream<T>({
    start(c) {
      writableController = c;
      // Abort must not wait for a held chunk to be read: settle it now.
      c.signal?.addEventListener("abort", () => {
        if (!held) return;
        finish("errored", c.signal.reason);
        readableController.error(c.signal.reason);
        drop(c.signal.reason);
      });
    },
    write(chunk) {
      meter.written(performance.now());
      if (consumerWaiting) {
        consumerWaiting = false;
        pass(chunk);
        return;
      }
      return new Promise<void>((resolve, reject) => {
        held = { chunk, resolve, reject };
        meter.hold(performance.now());
        changed();
      });
    },
    close() {
      readableController.close();
      finish("closed");
    },
    abort(reason) {
      finish("errored", reason);
      readableController.error(reason);
    },
  });
  return { readable, writable };
}
