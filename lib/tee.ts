/**
 * Splitting one stream into several with a memory bound: required branches
 * that must all get everything, and best-effort branches (an archive copy, a
 * progress view) that may fall behind or go away without harming the rest.
 * @module
 */

import { describeValue } from "./_internal.ts";

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

/** One branch's state. The queue is a list with a moving head, compacted now and then. */
interface Branch<T> {
  readonly index: number;
  readonly required: boolean;
  /** Holds the source back when full (required, or best-effort with overflow "wait"). */
  readonly pacing: boolean;
  hwm: number;
  readonly size: ((chunk: T) => number) | undefined;
  controller: ReadableStreamDefaultController<T>;
  queue: T[];
  /** The sizes of the queued chunks, when `size` is the user's (it is called once per queued chunk). */
  sizes: number[];
  head: number;
  /** Unread amount in `size` units. */
  unread: number;
  /** Its reader is waiting and the queue is empty. */
  waiting: boolean;
  /** A pipe that cancels on failure (no `preventCancel`) has it locked: a cancel now comes from that pipe. */
  piped: boolean;
  live: boolean;
  report: BranchReport | undefined;
}

const DEFAULT_BYTES_HWM = 65536;
const DEFAULT_OBJECTS_HWM = 16;

function defaultSize(chunk: unknown): number {
  return ArrayBuffer.isView(chunk) ? chunk.byteLength : 1;
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
    if (options === undefined) return {};
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot tee: ${name} must be a BranchOptions object, got ${describeValue(options)}`);
    }
    const { bestEffort, highWaterMark, size, overflow } = options as BranchOptions<T>;
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
    return options as BranchOptions<T>;
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
  const options = checkOptions<T>(branches);
  const reader = source.getReader();

  let reading = false;
  /** True while a chunk is handed out, so that re-entrant pulls do not read on a half-updated state. */
  let distributing = false;
  /** The source ended, errored or was cancelled: nothing more will be read. */
  let finished = false;
  let sourceDone = false;
  let liveCount = options.length;
  let endedCount = 0;
  let resolveDone!: (reports: BranchReport[]) => void;
  const done = new Promise<BranchReport[]>((resolve) => (resolveDone = resolve));
  const state: Branch<T>[] = [];
  const delivered: number[] = options.map(() => 0);
  const deliveredBytes: number[] = options.map(() => 0);

  function end(b: Branch<T>, status: BranchReport["status"], reason?: unknown): void {
    if (b.report) return;
    const report: BranchReport = { index: b.index, status, chunks: delivered[b.index]!, bytes: deliveredBytes[b.index]! };
    if (status !== "closed") report.reason = reason;
    b.report = report;
    if (b.live) {
      b.live = false;
      liveCount--;
    }
    b.queue = [];
    b.sizes = [];
    b.head = 0;
    b.unread = 0;
    b.waiting = false;
    if (++endedCount === state.length) resolveDone(state.map((x) => x.report!));
  }

  function hand(b: Branch<T>, chunk: T): void {
    delivered[b.index]!++;
    if (ArrayBuffer.isView(chunk)) deliveredBytes[b.index]! += chunk.byteLength;
    b.controller.enqueue(chunk);
  }

  function cancelSource(reason: unknown): Promise<void> {
    if (finished) return Promise.resolve();
    finished = true;
    return reader.cancel(reason);
  }

  function errorAll(reason: unknown, except?: Branch<T>): void {
    for (const b of state) {
      if (b === except || b.report) continue;
      b.controller.error(reason);
      end(b, "errored", reason);
    }
  }

  /**
   * A branch that can no longer be served: best-effort ones are dropped, required ones end the tee.
   * `cancelled` says the branch's stream is already closed by a cancel, so it is not errored.
   */
  function fail(
    b: Branch<T>,
    reason: unknown,
    status: "cancelled" | "detached" | "errored",
    cancelled = false,
  ): Promise<void> {
    if (b.report) return Promise.resolve();
    if (!cancelled) b.controller.error(reason);
    end(b, status, reason);
    if (b.required) {
      errorAll(reason);
      return cancelSource(reason);
    }
    if (liveCount === 0) return cancelSource(reason);
    pull();
    return Promise.resolve();
  }

  function closeBranch(b: Branch<T>): void {
    b.controller.close();
    end(b, "closed");
  }

  function hasRoom(b: Branch<T>): boolean {
    // A negative hwm is a default not yet decided (it depends on the first chunk): the branch is empty.
    return b.waiting || b.unread < b.hwm || b.hwm < 0;
  }

  function pull(): void {
    if (reading || distributing || finished) return;
    let wanted = false;
    for (const b of state) {
      if (!b.live) continue;
      const room = hasRoom(b);
      if (b.pacing && !room) return;
      if (room) wanted = true;
    }
    if (!wanted) return;
    reading = true;
    reader.read().then(onRead, onSourceError);
  }

  function onSourceError(reason: unknown): void {
    reading = false;
    if (finished) return;
    finished = true;
    errorAll(reason);
  }

  function sizeOf(b: Branch<T>, chunk: T): number {
    const n = b.size!(chunk);
    if (typeof n !== "number" || !(n >= 0) || n === Infinity) {
      throw new RangeError(
        `tee: branches[${b.index}].size must return a finite non-negative number, got ${describeValue(n)}`,
      );
    }
    return n;
  }

  function onRead(result: ReadableStreamReadResult<T>): void {
    reading = false;
    if (finished) return;
    if (result.done) {
      finished = true;
      sourceDone = true;
      for (const b of state) if (b.live && b.head === b.queue.length) closeBranch(b);
      return;
    }
    const chunk = result.value;
    const isView = ArrayBuffer.isView(chunk);
    const plainSize = isView ? (chunk as ArrayBufferView).byteLength : 1;
    distributing = true;
    for (const b of state) {
      if (!b.live) continue;
      if (b.hwm < 0) b.hwm = isView ? DEFAULT_BYTES_HWM : DEFAULT_OBJECTS_HWM;
      if (b.waiting) {
        // Straight to the waiting reader: never counted as unread.
        b.waiting = false;
        hand(b, chunk);
        continue;
      }
      let n: number;
      try {
        n = b.size ? sizeOf(b, chunk) : plainSize;
      } catch (e) {
        void fail(b, e, b.required ? "errored" : "detached").catch(() => {});
        if (finished) break;
        continue;
      }
      if (!b.pacing && b.unread + n > b.hwm) {
        void fail(b, new BranchOverflowError(b.index, b.hwm), "detached").catch(() => {});
        if (finished) break;
        continue;
      }
      b.queue.push(chunk);
      if (b.size) b.sizes.push(n);
      b.unread += n;
    }
    distributing = false;
    pull();
  }

  function branchPull(b: Branch<T>): void {
    if (!b.live) return;
    if (b.head < b.queue.length) {
      const chunk = b.queue[b.head]!;
      const n = b.size ? b.sizes[b.head]! : defaultSize(chunk);
      b.queue[b.head++] = undefined as T;
      if (b.head === b.queue.length) {
        b.queue.length = 0;
        b.sizes.length = 0;
        b.head = 0;
        b.unread = 0;
      } else {
        b.unread -= n;
        if (b.head >= 1024 && b.head * 2 >= b.queue.length) {
          b.queue = b.queue.slice(b.head);
          if (b.size) b.sizes = b.sizes.slice(b.head);
          b.head = 0;
        }
      }
      hand(b, chunk);
      if (sourceDone && b.head === b.queue.length && b.live) closeBranch(b);
    } else {
      b.waiting = true;
    }
    pull();
  }

  options.forEach((o, index) => {
    const required = o.bestEffort !== true;
    const b: Branch<T> = {
      index,
      required,
      pacing: required || o.overflow !== "detach",
      hwm: o.highWaterMark ?? -1,
      size: o.size,
      controller: undefined as unknown as ReadableStreamDefaultController<T>,
      queue: [],
      sizes: [],
      head: 0,
      unread: 0,
      waiting: false,
      piped: false,
      live: true,
      report: undefined,
    };
    state.push(b);
  });

  const streams = state.map((b) =>
    new ReadableStream<T>({
      start(controller) {
        b.controller = controller;
      },
      pull() {
        branchPull(b);
      },
      cancel(reason) {
        return fail(b, reason, !b.required && b.piped ? "detached" : "cancelled", true);
      },
    }, { highWaterMark: 0 })
  );
  streams.forEach((stream, i) => watchPipes(stream, state[i]!));

  // The source may error while no read is pending (every branch full): tell the branches at once.
  reader.closed.catch((reason: unknown) => onSourceError(reason));

  return { branches: streams, done };
}
