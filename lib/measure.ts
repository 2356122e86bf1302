/**
 * Measuring a transfer where it passes: bytes, time to the first chunk, and
 * how long the data waited for its consumer, which tells a slow producer from
 * a slow consumer.
 * @module
 */

import { describeValue } from "./_internal.ts";

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

/** Options of {@linkcode MeasureStream}. */
export interface MeasureOptions {
  /**
   * Called once with the report when the transfer ends (closed, errored or
   * cancelled), just before `report` resolves.
   * @default undefined
   */
  onReport?: (report: TransferReport) => void;
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
 * on close, error and cancel alike; `report` never rejects. An `onReport` that
 * throws does not disturb the stream: its error is rethrown in a microtask.
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
 * console.log(report.status, report.bytes); // "closed" 10
 * ```
 */
export class MeasureStream<T = Uint8Array> extends TransformStream<T, T> {
  /** Resolves with the report once the transfer has ended. Never rejects. */
  readonly report: Promise<TransferReport>;

  /**
   * @param options See {@linkcode MeasureOptions}.
   * @throws {TypeError} when `options` is not an object or `onReport` is not a function.
   */
  constructor(options: MeasureOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot construct MeasureStream: options must be an object, got ${describeValue(options)}`);
    }
    const { onReport } = options;
    if (onReport !== undefined && typeof onReport !== "function") {
      throw new TypeError(
        `Cannot construct MeasureStream: onReport must be a function, got ${describeValue(onReport)}`,
      );
    }
    super();
    const started = performance.now();
    let first = -1;
    let bytes = 0;
    let chunks = 0;
    let stalled = 0;
    let ended = false;
    let resolveReport!: (r: TransferReport) => void;
    this.report = new Promise<TransferReport>((resolve) => (resolveReport = resolve));

    // The chunk waiting for the consumer, and the write that waits with it.
    let held: { chunk: T; since: number; resolve: () => void; reject: (e: unknown) => void } | undefined;
    let consumerWaiting = false;
    let readableController!: ReadableStreamDefaultController<T>;
    let writableController!: WritableStreamDefaultController;

    const finish = (status: TransferReport["status"], reason?: unknown): void => {
      if (ended) return;
      ended = true;
      const now = performance.now();
      if (held) stalled += now - held.since;
      const report: TransferReport = {
        status,
        bytes,
        chunks,
        firstChunkMs: first < 0 ? -1 : first - started,
        durationMs: first < 0 ? 0 : now - first,
        stalledMs: stalled,
      };
      if (status !== "closed") report.reason = reason;
      if (onReport) {
        try {
          onReport(report);
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
      resolveReport(report);
    };

    const pass = (chunk: T): void => {
      chunks++;
      if (ArrayBuffer.isView(chunk)) bytes += chunk.byteLength;
      else if (typeof chunk === "string") bytes += utf8Length(chunk);
      readableController.enqueue(chunk);
    };

    // Our own readable/writable pair instead of the TransformStream's: only a
    // readable source of our own sees when the consumer asks (and a cancel,
    // in runtimes without the transformer cancel hook).
    const readable = new ReadableStream<T>({
      start(c) {
        readableController = c;
      },
      pull() {
        if (held) {
          const h = held;
          held = undefined;
          stalled += performance.now() - h.since;
          pass(h.chunk);
          h.resolve();
        } else {
          consumerWaiting = true;
        }
      },
      cancel(reason) {
        const h = held;
        finish("cancelled", reason);
        held = undefined;
        writableController.error(reason);
        h?.reject(reason);
      },
    }, { highWaterMark: 0 });

    const writable = new WritableStream<T>({
      start(c) {
        writableController = c;
        // Abort must not wait for a held chunk to be read: settle it now.
        c.signal?.addEventListener("abort", () => {
          const h = held;
          held = undefined;
          if (h) {
            finish("errored", c.signal.reason);
            readableController.error(c.signal.reason);
            h.reject(c.signal.reason);
          }
        });
      },
      write(chunk) {
        if (first < 0) first = performance.now();
        if (consumerWaiting) {
          consumerWaiting = false;
          pass(chunk);
          return;
        }
        return new Promise<void>((resolve, reject) => {
          held = { chunk, since: performance.now(), resolve, reject };
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

    Object.defineProperty(this, "readable", { value: readable, enumerable: true });
    Object.defineProperty(this, "writable", { value: writable, enumerable: true });
  }
}
