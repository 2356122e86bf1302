/**
 * Splitting one stream into several with a memory bound: required branches
 * that must all get everything, and best-effort branches (an archive copy, a
 * progress view) that may fall behind or go away without harming the rest.
 * @module
 */

import { describeValue, optionsObject } from "./_internal.ts";

/** How one branch of {@linkcode tee} behaves. */
export interface BranchOptions<T = unknown> {
  /**
   * A best-effort branch may go away (its reader cancels, or it overflows)
   * while the source and the other branches go on. A required branch going
   * away ends everything.
   * @default false
   */
  bestEffort?: boolean;
  /**
   * How much this branch may hold unread, in the units of `size`. While a
   * pacing branch (a required one, or a best-effort one with `overflow:
   * "wait"`) holds this much or more, the source is not pulled; a best-effort
   * branch with `overflow: "detach"` that would hold more is detached.
   * `0` means the branch holds nothing: the source is pulled for it only while
   * its reader is waiting.
   * @default 65536 (64 KiB) when the source's first chunk is an `ArrayBufferView`, 16 otherwise
   */
  highWaterMark?: number;
  /**
   * The size of one chunk, in the units of `highWaterMark`; must return a
   * finite non-negative number. Called once for each chunk the branch queues
   * (not for a chunk handed straight to a waiting reader).
   * @default `byteLength` for `ArrayBufferView` chunks, 1 otherwise
   */
  size?: (chunk: T) => number;
  /**
   * Best-effort branches only: what happens when the branch is full. `"wait"`
   * holds the source back like a required branch; `"detach"` never slows the
   * others: the branch is errored with a {@linkcode BranchOverflowError} and
   * dropped.
   * @default "wait"
   */
  overflow?: "wait" | "detach";
}

/** How one branch of {@linkcode tee} ended. */
export interface BranchReport {
  /** The branch's position in `branches`. */
  index: number;
  /**
   * - `closed`: the branch's reader got every chunk of the source and the end.
   * - `errored`: the source errored, or a required branch was cancelled (or
   *   its `size` function failed); `reason` says why.
   * - `cancelled`: the branch's own reader cancelled it (a required branch
   *   cancelled by a pipe also says `cancelled`); `reason` is the cancel reason.
   * - `detached`: the best-effort branch was cut off while the others went on:
   *   it overflowed (`reason` is a {@linkcode BranchOverflowError}), its
   *   `size` function failed (`reason` is what it threw), or the pipe reading
   *   it (`pipeTo`/`pipeThrough`) gave up because its destination errored
   *   or closed, or its signal aborted (`reason` is what the pipe cancelled
   *   the branch with: the destination's error or the abort reason).
   */
  status: "closed" | "errored" | "cancelled" | "detached";
  /** Why the branch ended, unless it closed. */
  reason?: unknown;
  /** Chunks handed to the branch's reader. */
  chunks: number;
  /** Bytes in those chunks: the `byteLength` of `ArrayBufferView` chunks (other chunks count 0). */
  bytes: number;
}

/** What {@linkcode tee} returns. */
export interface TeeResult<T> {
  /** One stream per branch, in the order of the `branches` argument. */
  branches: ReadableStream<T>[];
  /** Resolves once every branch has ended, with one report per branch in order. Never rejects. */
  done: Promise<BranchReport[]>;
}

/**
 * The error a best-effort branch with `overflow: "detach"` is errored with
 * when its reader fell more than its `highWaterMark` behind.
 */
export class BranchOverflowError extends Error {
  /** The branch's position in `branches`. */
  readonly branch: number;
  /** The bound it passed. */
  readonly highWaterMark: number;

  /**
   * Creates the error for branch `branch`, which passed `highWaterMark`.
   *
   * @param branch The branch's position in `branches`.
   * @param highWaterMark The bound it passed.
   */
  constructor(branch: number, highWaterMark: number) {
    super(
      `tee branch ${branch} overflowed: its reader fell more than its highWaterMark of ${highWaterMark} behind, so it was detached`,
    );
    this.name = "BranchOverflowError";
    this.branch = branch;
    this.highWaterMark = highWaterMark;
  }
}

const DEFAULT_BYTES_HWM = 65536;
const DEFAULT_OBJECTS_HWM = 16;

function defaultSize(chunk: unknown): number {
  return ArrayBuffer.isView(chunk) ? chunk.byteLength : 1;
}

/**
 * One branch: its options, its queue and what it has handed to its reader.
 * It knows nothing of the source or of the other branches; the pump below
 * decides when to read and what each branch gets. The queue is a list with a
 * moving head, compacted now and then.
 */
class TeeBranch<T> {
  readonly required: boolean;
  /** Holds the source back when full (required, or best-effort with overflow "wait"). */
  readonly pacing: boolean;
  /** A negative value is a default not yet decided: it depends on the source's first chunk. */
  hwm: number;
  readonly size: ((chunk: T) => number) | undefined;
  controller!: ReadableStreamDefaultController<T>;
  /** Unread amount in `size` units. */
  unread = 0;
  /** Its reader is waiting and the queue is empty. */
  waiting = false;
  /** A pipe that cancels on failure (no `preventCancel`) has it locked: a cancel now comes from that pipe. */
  piped = false;
  live = true;
  report: BranchReport | undefined;
  private queue: T[] = [];
  /** The sizes of the queued chunks, when `size` is the user's (it is called once per queued chunk). */
  private sizes: number[] = [];
  private head = 0;
  private chunks = 0;
  private bytes = 0;

  constructor(readonly index: number, options: BranchOptions<T>) {
    this.required = options.bestEffort !== true;
    this.pacing = this.required || options.overflow !== "detach";
    this.hwm = options.highWaterMark ?? -1;
    this.size = options.size;
  }

  /** Nothing queued. */
  get drained(): boolean {
    return this.head === this.queue.length;
  }

  hasRoom(): boolean {
    // An undecided default hwm means the branch has seen no chunk yet: it is empty.
    return this.waiting || this.unread < this.hwm || this.hwm < 0;
  }

  /** Settles a default high-water mark on the source's first chunk. */
  decideDefault(isView: boolean): void {
    if (this.hwm < 0) this.hwm = isView ? DEFAULT_BYTES_HWM : DEFAULT_OBJECTS_HWM;
  }

  /** The size of `chunk` in this branch's units; throws what the user's `size` throws, or a RangeError for a bad result. */
  sizeOf(chunk: T, plainSize: number): number {
    if (!this.size) return plainSize;
    const n = this.size(chunk);
    if (typeof n !== "number" || !(n >= 0) || n === Infinity) {
      throw new RangeError(
        `tee: branches[${this.index}].size must return a finite non-negative number, got ${describeValue(n)}`,
      );
    }
    return n;
  }

  push(chunk: T, n: number): void {
    this.queue.push(chunk);
    if (this.size) this.sizes.push(n);
    this.unread += n;
  }

  /** Takes the oldest queued chunk (the queue must not be drained). */
  shift(): T {
    const chunk = this.queue[this.head]!;
    const n = this.size ? this.sizes[this.head]! : defaultSize(chunk);
    this.queue[this.head++] = undefined as T;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.sizes.length = 0;
      this.head = 0;
      this.unread = 0;
    } else {
      this.unread -= n;
      if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        if (this.size) this.sizes = this.sizes.slice(this.head);
        this.head = 0;
      }
    }
    return chunk;
  }

  /** Gives a chunk to the branch's reader, and counts it. */
  hand(chunk: T): void {
    this.chunks++;
    if (ArrayBuffer.isView(chunk)) this.bytes += chunk.byteLength;
    this.controller.enqueue(chunk);
  }

  /** Writes the branch's report and drops its queue. Returns whether it was live until now. */
  settle(status: BranchReport["status"], reason: unknown): boolean {
    const report: BranchReport = { index: this.index, status, chunks: this.chunks, bytes: this.bytes };
    if (status !== "closed") report.reason = reason;
    this.report = report;
    const wasLive = this.live;
    this.live = false;
    this.queue = [];
    this.sizes = [];
    this.head = 0;
    this.unread = 0;
    this.waiting = false;
    return wasLive;
  }
}

/**
 * The source pump: reads the source one chunk at a time while every pacing
 * branch has room and some branch wants a chunk, hands each chunk to every
 * live branch, and ends branches (and the source) as readers and the source
 * come and go.
 */
class TeePump<T> {
  private reading = false;
  /** True while a chunk is handed out, so that re-entrant pulls do not read on a half-updated state. */
  private distributing = false;
  /** The source ended, errored or was cancelled: nothing more will be read. */
  private finished = false;
  private sourceDone = false;
  private liveCount: number;
  private endedCount = 0;
  private resolveDone!: (reports: BranchReport[]) => void;
  readonly done = new Promise<BranchReport[]>((resolve) => (this.resolveDone = resolve));

  constructor(private readonly reader: ReadableStreamDefaultReader<T>, private readonly branches: TeeBranch<T>[]) {
    this.liveCount = branches.length;
    // The source may error while no read is pending (every branch full): tell the branches at once.
    reader.closed.catch((reason: unknown) => this.onSourceError(reason));
  }

  /** The branch's reader asks for a chunk. */
  branchPull(b: TeeBranch<T>): void {
    if (!b.live) return;
    if (!b.drained) {
      b.hand(b.shift());
      if (this.sourceDone && b.drained && b.live) this.closeBranch(b);
    } else {
      b.waiting = true;
    }
    this.pull();
  }

  /**
   * A branch that can no longer be served: best-effort ones are dropped, required ones end the tee.
   * `cancelled` says the branch's stream is already closed by a cancel, so it is not errored.
   */
  fail(b: TeeBranch<T>, reason: unknown, status: "cancelled" | "detached" | "errored", cancelled = false): Promise<void> {
    if (b.report) return Promise.resolve();
    if (!cancelled) b.controller.error(reason);
    this.end(b, status, reason);
    if (b.required) {
      this.errorAll(reason);
      return this.cancelSource(reason);
    }
    if (this.liveCount === 0) return this.cancelSource(reason);
    this.pull();
    return Promise.resolve();
  }

  private end(b: TeeBranch<T>, status: BranchReport["status"], reason?: unknown): void {
    if (b.report) return;
    if (b.settle(status, reason)) this.liveCount--;
    if (++this.endedCount === this.branches.length) this.resolveDone(this.branches.map((x) => x.report!));
  }

  private cancelSource(reason: unknown): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.finished = true;
    return this.reader.cancel(reason);
  }

  private errorAll(reason: unknown): void {
    for (const b of this.branches) {
      if (b.report) continue;
      b.controller.error(reason);
      this.end(b, "errored", reason);
    }
  }

  private closeBranch(b: TeeBranch<T>): void {
    b.controller.close();
    this.end(b, "closed");
  }

  private pull(): void {
    if (this.reading || this.distributing || this.finished) return;
    let wanted = false;
    for (const b of this.branches) {
      if (!b.live) continue;
      const room = b.hasRoom();
      if (b.pacing && !room) return;
      if (room) wanted = true;
    }
    if (!wanted) return;
    this.reading = true;
    this.reader.read().then((result) => this.onRead(result), (reason: unknown) => this.onSourceError(reason));
  }

  private onSourceError(reason: unknown): void {
    this.reading = false;
    if (this.finished) return;
    this.finished = true;
    this.errorAll(reason);
  }

  private onRead(result: ReadableStreamReadResult<T>): void {
    this.reading = false;
    if (this.finished) return;
    if (result.done) {
      this.finished = true;
      this.sourceDone = true;
      for (const b of this.branches) if (b.live && b.drained) this.closeBranch(b);
      return;
    }
    const chunk = result.value;
    const isView = ArrayBuffer.isView(chunk);
    const plainSize = isView ? (chunk as ArrayBufferView).byteLength : 1;
    this.distributing = true;
    for (const b of this.branches) {
      if (!b.live) continue;
      b.decideDefault(isView);
      if (b.waiting) {
        // Straight to the waiting reader: never counted as unread.
        b.waiting = false;
        b.hand(chunk);
        continue;
      }
      let n: number;
      try {
        n = b.sizeOf(chunk, plainSize);
      } catch (e) {
        void this.fail(b, e, b.required ? "errored" : "detached").catch(() => {});
        if (this.finished) break;
        continue;
      }
      if (!b.pacing && b.unread + n > b.hwm) {
        void this.fail(b, new BranchOverflowError(b.index, b.hwm), "detached").catch(() => {});
        if (this.finished) break;
        continue;
      }
      b.push(chunk, n);
    }
    this.distributing = false;
    this.pull();
  }
}

function isReadableStream(value: unknown): value is ReadableStream<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as ReadableStream).getReader === "function" &&
    typeof (value as ReadableStream).locked === "boolean";
}

function checkOptions<T>(branches: unknown): BranchOptions<T>[] {
  if (typeof branches === "number") {
    if (!Number.isSafeInteger(branches) || branches <= 0) {
      throw new RangeError(`Cannot tee: branches must be a positive integer, got ${describeValue(branches)}`);
    }
    return Array.from({ length: branches }, () => ({}));
  }
  if (!Array.isArray(branches)) {
    throw new TypeError(
      `Cannot tee: branches must be a positive integer or a non-empty array of BranchOptions, got ${describeValue(branches)}`,
    );
  }
  if (branches.length === 0) {
    throw new RangeError("Cannot tee: branches must be a non-empty array, got an empty array");
  }
  // Array.from, not map: a hole in a sparse array is a branch with default options too.
  return Array.from(branches as unknown[], (options: unknown, i) => {
    const name = `branches[${i}]`;
    const checked = optionsObject(options as BranchOptions<T> | undefined, "Cannot tee", name, "a BranchOptions object");
    const { bestEffort, highWaterMark, size, overflow } = checked;
    if (bestEffort !== undefined && typeof bestEffort !== "boolean") {
      throw new TypeError(`Cannot tee: ${name}.bestEffort must be a boolean, got ${describeValue(bestEffort)}`);
    }
    if (highWaterMark !== undefined) {
      if (typeof highWaterMark !== "number") {
        throw new TypeError(`Cannot tee: ${name}.highWaterMark must be a number, got ${describeValue(highWaterMark)}`);
      }
      if (Number.isNaN(highWaterMark) || highWaterMark < 0) {
        throw new RangeError(
          `Cannot tee: ${name}.highWaterMark must be a non-negative number, got ${describeValue(highWaterMark)}`,
        );
      }
    }
    if (size !== undefined && typeof size !== "function") {
      throw new TypeError(`Cannot tee: ${name}.size must be a function, got ${describeValue(size)}`);
    }
    if (overflow !== undefined) {
      if (bestEffort !== true) {
        throw new TypeError(
          `Cannot tee: ${name}.overflow applies only to best-effort branches (bestEffort: true), got ${describeValue(overflow)} on a required branch`,
        );
      }
      if (overflow !== "wait" && overflow !== "detach") {
        throw new RangeError(`Cannot tee: ${name}.overflow must be "wait" or "detach", got ${describeValue(overflow)}`);
      }
    }
    return checked;
  });
}

type PipeMethod = (this: ReadableStream, ...args: unknown[]) => unknown;

/**
 * Marks the branch as piped when a `pipeTo`/`pipeThrough` on its stream
 * starts (the stream becomes locked) and may cancel it on failure. The
 * standard gives an underlying source no way to tell a pipe's cancel from a
 * reader's, so the branch's own methods note it; they call the platform's
 * methods unchanged. With `preventCancel` a pipe never cancels the branch,
 * and without it a pipe ends only by cancelling the branch or with the branch
 * ended, so the mark never outlives the pipe it stands for.
 */
function watchPipes(stream: ReadableStream, branch: { piped: boolean }): void {
  for (const name of ["pipeTo", "pipeThrough"] as const) {
    const method = stream[name] as unknown as PipeMethod;
    Object.defineProperty(stream, name, {
      value: function (this: ReadableStream, ...args: unknown[]): unknown {
        if (this !== stream || this.locked) return method.apply(this, args);
        const options = args[1] as StreamPipeOptions | null | undefined;
        // Marked before the call: a pipe whose signal is already aborted may cancel the branch within it.
        branch.piped = !options?.preventCancel;
        try {
          return method.apply(this, args);
        } finally {
          // Not locked now: the pipe did not start (bad arguments), or it already ended.
          if (!this.locked) branch.piped = false;
        }
      },
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/**
 * Splits `source` into branches that each get the source's chunks, in order,
 * with the memory of the whole tee bounded whatever the readers do.
 *
 * Unlike `ReadableStream.prototype.tee()`, which has two branches and buffers
 * without limit for the slower one, every branch here has a `highWaterMark`,
 * and a branch may be best-effort: allowed to fall behind (`overflow:
 * "detach"`) or to go away without harming the others.
 *
 * - Every branch receives the same chunk objects (no copies), so a consumer
 *   must not write into a chunk it reads. A branch that closes normally got
 *   exactly the source's chunks, in order.
 * - The source is read one chunk at a time, and only while every pacing
 *   branch (required ones and best-effort ones with `overflow: "wait"`)
 *   holds less than its `highWaterMark` unread, and some branch has room or
 *   a waiting reader (nothing is read before some branch's reader reads).
 *   A detaching branch never holds more than its
 *   `highWaterMark`. So the chunks held by the tee never amount to more than
 *   the largest `highWaterMark` plus one chunk (the branches share the
 *   objects), and in any case not more than the sum of the high-water marks
 *   plus one chunk, whatever the readers do.
 * - A best-effort branch with `overflow: "detach"` whose unread amount would
 *   pass its `highWaterMark` is errored with a {@linkcode BranchOverflowError},
 *   its queue is dropped, and it is detached. A chunk handed straight to a
 *   waiting reader does not count, so `highWaterMark: 0` means "keep up".
 *
 * **Cancellation behavior:** a best-effort branch cancelled by its reader
 * is dropped: its report says `cancelled` with the reason, and the source and
 * the other branches go on. A best-effort branch whose pipe (`pipeTo` or
 * `pipeThrough` on the branch) gives up on it, because the pipe's destination
 * errored (a dropped connection) or closed or the pipe's signal aborted, is
 * detached the same way: the source and the other branches go on, and its
 * report says `detached` with the reason the pipe cancelled it with. A
 * required branch cancelled by its reader (or by its pipe) cancels the source
 * with that reason and errors every other branch that has not ended yet with
 * the same reason. When every branch is gone (only possible when all are
 * best-effort), the source is cancelled with the last branch's reason.
 *
 * **Error behavior:** the source erroring errors every branch that has not
 * ended with the same reason: no branch ever closes on a truncated sequence.
 * A `size` function that throws or returns something other than a finite
 * non-negative number fails its branch with that error (a `RangeError` for a
 * bad result): a best-effort branch is detached, a required one fails the
 * whole tee as if it had been cancelled with that error. `done` never
 * rejects; it resolves once every branch has ended.
 *
 * @example Upload a body and archive it; a dropped connection must not lose the archive
 * ```ts
 * import { tee } from "sluice/tee";
 *
 * const body = new Blob(["hello, ", "world"]).stream();
 * const { branches: [upload, archive], done } = tee(body, [
 *   { bestEffort: true, highWaterMark: 1 << 20 }, // the upload may fail; the archive goes on
 *   { highWaterMark: 1 << 20 }, // required: every chunk, or an error
 * ]);
 * const connection = new WritableStream<Uint8Array>({
 *   write() {
 *     throw new Error("connection reset");
 *   },
 * });
 * const [sent, kept] = await Promise.allSettled([upload.pipeTo(connection), new Response(archive).text()]);
 * console.log(sent.status, kept.status === "fulfilled" && kept.value); // "rejected", "hello, world"
 * console.log((await done).map((r) => r.status)); // ["detached", "closed"]
 * ```
 *
 * @param source The stream to split; it is locked by the tee.
 * @param branches How many required branches, or the options of each branch.
 * @throws {TypeError} when `source` is not a `ReadableStream` or is locked, or an option has the wrong type.
 * @throws {RangeError} when `branches` is not a positive integer or a non-empty array, or an option is out of range.
 */
export function tee<T>(source: ReadableStream<T>, branches: number | readonly BranchOptions<T>[]): TeeResult<T> {
  if (!isReadableStream(source)) {
    throw new TypeError(`Cannot tee: source must be a ReadableStream, got ${describeValue(source)}`);
  }
  if (source.locked) {
    throw new TypeError("Cannot tee: source is locked (it already has a reader or is being piped)");
  }
  const branchStates = checkOptions<T>(branches).map((options, index) => new TeeBranch<T>(index, options));
  const pump = new TeePump<T>(source.getReader(), branchStates);
  const streams = branchStates.map((b) => {
    const stream = new ReadableStream<T>({
      start(controller) {
        b.controller = controller;
      },
      pull() {
        pump.branchPull(b);
      },
      cancel(reason) {
        return pump.fail(b, reason, !b.required && b.piped ? "detached" : "cancelled", true);
      },
    }, { highWaterMark: 0 });
    watchPipes(stream, b);
    return stream;
  });
  return { branches: streams, done: pump.done };
}
