import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { BranchOverflowError, tee, type BranchOptions, type BranchReport } from "../lib/tee.ts";
import { collect, deferred, sequence, streamOf } from "./_support/util.ts";

/** Lets every pending promise reaction run (streams make progress in microtasks only). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

interface Item {
  i: number;
  w: number;
}

function items(n: number, w = 1): Item[] {
  return Array.from({ length: n }, (_, i) => ({ i, w }));
}

/** A source over `chunks` that records how many chunks were pulled and how it was cancelled. */
function countingSource<T>(chunks: T[]): { stream: ReadableStream<T>; pulled: () => number; cancelled: Promise<unknown> } {
  let i = 0;
  const cancelled = deferred<unknown>();
  const stream = new ReadableStream<T>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else c.close();
    },
    cancel(reason) {
      cancelled.resolve(reason);
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => i, cancelled: cancelled.promise };
}

async function readN<T>(reader: ReadableStreamDefaultReader<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let k = 0; k < n; k++) {
    const r = await reader.read();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** Whether a promise is still pending once everything that can run has run. */
async function isPending(p: Promise<unknown>): Promise<boolean> {
  let pending = true;
  p.then(() => (pending = false), () => (pending = false));
  await settle();
  return pending;
}

describe("tee", () => {
  test("tee gives every branch the source's chunks in order, as the same objects", async () => {
    const input = items(50);
    const { branches, done } = tee(streamOf(input), 3);
    const outs = await Promise.all(branches.map(collect));
    for (const out of outs) {
      expect(out).toHaveLength(50);
      out.forEach((chunk, k) => expect(chunk).toBe(input[k]));
    }
    expect(await done).toEqual([0, 1, 2].map((index) => ({ index, status: "closed", chunks: 50, bytes: 0 })));
  });

  test("tee reports the bytes of ArrayBufferView chunks each branch was handed", async () => {
    const input = [sequence(10), sequence(5), new DataView(new ArrayBuffer(7))];
    const { branches, done } = tee(streamOf<ArrayBufferView>(input), [{}, { bestEffort: true }]);
    await Promise.all(branches.map(collect));
    const reports = await done;
    expect(reports.map((r) => [r.status, r.chunks, r.bytes])).toEqual([["closed", 3, 22], ["closed", 3, 22]]);
  });

  test("tee of an empty source closes every branch", async () => {
    const { branches, done } = tee(streamOf<Item>([]), 2);
    expect(await Promise.all(branches.map(collect))).toEqual([[], []]);
    expect((await done).map((r) => r.status)).toEqual(["closed", "closed"]);
  });

  test("tee stops pulling the source while a required branch holds its highWaterMark unread", async () => {
    const src = countingSource(items(20));
    const { branches: [fast, slow] } = tee(src.stream, [{}, { highWaterMark: 3 }]);
    const reader = fast!.getReader();
    expect(await readN(reader, 3)).toHaveLength(3);
    const fourth = reader.read();
    expect(await isPending(fourth)).toBe(true);
    expect(src.pulled()).toBe(3);
    // Reading one chunk of the slow branch makes room for exactly one more.
    const slowReader = slow!.getReader();
    await slowReader.read();
    expect((await fourth).value).toEqual({ i: 3, w: 1 });
    await settle();
    expect(src.pulled()).toBe(4);
  });

  test("tee with a best-effort 'wait' branch paces the source like a required one", async () => {
    const src = countingSource(items(20));
    const { branches: [fast] } = tee(src.stream, [{}, { bestEffort: true, overflow: "wait", highWaterMark: 2 }]);
    const reader = fast!.getReader();
    expect(await readN(reader, 2)).toHaveLength(2);
    expect(await isPending(reader.read())).toBe(true);
    expect(src.pulled()).toBe(2);
  });

  test("tee defaults highWaterMark to 64 KiB for byte chunks and 16 for other chunks", async () => {
    const bytes = countingSource(Array.from({ length: 200 }, () => new Uint8Array(1000)));
    const { branches: [a] } = tee(bytes.stream, 2);
    void readN(a!.getReader(), 100);
    await settle();
    expect(bytes.pulled()).toBe(66); // 65 chunks hold 65000 < 65536 bytes, the 66th fills the branch
    const objects = countingSource(items(200));
    const { branches: [b] } = tee(objects.stream, 2);
    await readN(b!.getReader(), 16);
    await settle();
    expect(objects.pulled()).toBe(16);
  });

  test("tee applies a branch's size function to its highWaterMark", async () => {
    const src = countingSource(items(20, 5));
    const { branches: [fast] } = tee(src.stream, [{}, { highWaterMark: 12, size: (c: Item) => c.w }]);
    await readN(fast!.getReader(), 3);
    await settle();
    expect(src.pulled()).toBe(3); // 5 + 5 = 10 < 12 pulls a third; 15 stops
  });

  test("tee detaches a best-effort 'detach' branch that falls behind, with a BranchOverflowError", async () => {
    const input = items(10);
    const src = countingSource(input);
    const { branches: [main, archive], done } = tee(src.stream, [
      { highWaterMark: 0 },
      { bestEffort: true, overflow: "detach", highWaterMark: 2 },
    ]);
    const out = await collect(main!);
    out.forEach((chunk, k) => expect(chunk).toBe(input[k]));
    expect(out).toHaveLength(10);
    const reader = archive!.getReader();
    const error = await reader.read().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(BranchOverflowError);
    expect((error as BranchOverflowError).message).toMatch(/tee branch 1 .*highWaterMark of 2/);
    expect((error as BranchOverflowError).branch).toBe(1);
    expect((error as BranchOverflowError).highWaterMark).toBe(2);
    const reports = await done;
    expect(reports[0]).toEqual({ index: 0, status: "closed", chunks: 10, bytes: 0 });
    expect(reports[1]).toEqual({ index: 1, status: "detached", reason: error, chunks: 0, bytes: 0 });
  });

  test("tee's 'detach' branch keeps what its reader asks for: chunks handed to a waiting reader do not count", async () => {
    const input = items(5);
    const { branches: [main, archive], done } = tee(streamOf(input), [
      { highWaterMark: 0 },
      { bestEffort: true, overflow: "detach", highWaterMark: 0 },
    ]);
    const a = main!.getReader();
    const b = archive!.getReader();
    for (let k = 0; k < 5; k++) {
      const [x, y] = await Promise.all([b.read(), a.read()]);
      expect(x.value).toBe(input[k]);
      expect(y.value).toBe(input[k]);
    }
    expect((await Promise.all([a.read(), b.read()])).map((r) => r.done)).toEqual([true, true]);
    expect((await done).map((r) => r.status)).toEqual(["closed", "closed"]);
  });

  test("tee with a 'detach' branch never read keeps the source flowing for the others", async () => {
    const input = Array.from({ length: 100 }, () => new Uint8Array(1024));
    const { branches: [main], done } = tee(streamOf(input), [
      {},
      { bestEffort: true, overflow: "detach", highWaterMark: 4096 },
    ]);
    expect(await collect(main!)).toHaveLength(100);
    const reports = await done;
    expect(reports[1]!.status).toBe("detached");
    expect(reports[1]!.reason).toBeInstanceOf(BranchOverflowError);
  });

  test("tee lets a best-effort branch cancel while the source and the other branches go on", async () => {
    const input = items(30);
    const src = countingSource(input);
    const { branches: [main, extra], done } = tee(src.stream, [{}, { bestEffort: true }]);
    const reader = extra!.getReader();
    await readN(reader, 2);
    await reader.cancel("not needed");
    const out = await collect(main!);
    out.forEach((chunk, k) => expect(chunk).toBe(input[k]));
    expect(out).toHaveLength(30);
    expect(await isPending(src.cancelled)).toBe(true);
    const reports = await done;
    expect(reports[0]!.status).toBe("closed");
    expect(reports[1]).toEqual({ index: 1, status: "cancelled", reason: "not needed", chunks: 2, bytes: 0 });
  });

  test("tee detaches a best-effort branch whose pipe destination errors, and the source and the others go on", async () => {
    const input = items(30);
    const src = countingSource(input);
    const { branches: [main, extra], done } = tee(src.stream, [{}, { bestEffort: true }]);
    const failure = new Error("connection reset");
    let written = 0;
    const piped = extra!.pipeTo(new WritableStream({
      write() {
        if (++written === 3) throw failure;
      },
    }));
    const out = await collect(main!);
    out.forEach((chunk, k) => expect(chunk).toBe(input[k]));
    expect(out).toHaveLength(30);
    await expect(piped).rejects.toBe(failure);
    expect(await isPending(src.cancelled)).toBe(true);
    const reports = await done;
    expect(reports[0]).toEqual({ index: 0, status: "closed", chunks: 30, bytes: 0 });
    expect(reports[1]).toEqual({ index: 1, status: "detached", reason: failure, chunks: 3, bytes: 0 });
  });

  test("tee detaches a best-effort branch whose pipeThrough destination errors", async () => {
    const input = items(10);
    const { branches: [main, extra], done } = tee(streamOf(input), [{}, { bestEffort: true }]);
    const failure = new Error("transform failed");
    const through = extra!.pipeThrough(new TransformStream<Item, Item>({
      transform(chunk) {
        if (chunk.i === 2) throw failure;
      },
    }));
    const [out, rest] = await Promise.all([collect(main!), collect(through).then(() => "closed", (e: unknown) => e)]);
    expect(out).toHaveLength(10);
    expect(rest).toBe(failure);
    const reports = await done;
    expect(reports.map((r) => [r.status, r.reason])).toEqual([["closed", undefined], ["detached", failure]]);
  });

  test("tee detaches a best-effort branch whose pipe is aborted by its signal, with the abort reason", async () => {
    const { branches: [main, extra], done } = tee(streamOf(items(10)), [{}, { bestEffort: true }]);
    const controller = new AbortController();
    const reason = new Error("upload gave up");
    const written = deferred();
    const piped = extra!.pipeTo(new WritableStream({ write: () => written.resolve() }), { signal: controller.signal });
    const mainReader = main!.getReader();
    await mainReader.read();
    await written.promise;
    controller.abort(reason);
    await expect(piped).rejects.toBe(reason);
    expect(await readN(mainReader, 100)).toHaveLength(9);
    const reports = await done;
    expect(reports[0]!.status).toBe("closed");
    expect(reports[1]).toMatchObject({ status: "detached", reason });
  });

  test("tee reports cancelled, not detached, for a reader's cancel after a pipe that could not cancel the branch", async () => {
    const { branches: [main, extra], done } = tee(streamOf(items(10)), [{}, { bestEffort: true }]);
    const failure = new Error("disk full");
    // preventCancel: the failed pipe leaves the branch to its owner, who then cancels it.
    const piped = extra!.pipeTo(new WritableStream({
      write() {
        throw failure;
      },
    }), { preventCancel: true });
    await expect(piped).rejects.toBe(failure);
    expect(extra!.locked).toBe(false);
    await extra!.cancel("owner gave up");
    await collect(main!);
    expect((await done).map((r) => [r.status, r.reason])).toEqual([["closed", undefined], ["cancelled", "owner gave up"]]);
  });

  test("tee treats a required branch whose pipe destination errors like a cancelled required branch", async () => {
    const src = countingSource(items(10));
    const { branches: [upload, archive], done } = tee(src.stream, [{}, {}]);
    const failure = new Error("connection reset");
    const piped = upload!.pipeTo(new WritableStream({
      write() {
        throw failure;
      },
    }));
    const archived = collect(archive!);
    await expect(piped).rejects.toBe(failure);
    await expect(archived).rejects.toBe(failure);
    expect(await src.cancelled).toBe(failure);
    expect((await done).map((r) => [r.status, r.reason])).toEqual([["cancelled", failure], ["errored", failure]]);
  });

  test("tee keeps a required archive whole when the best-effort upload's connection drops", async () => {
    const input = Array.from({ length: 20 }, (_, k) => sequence(100, k));
    const { branches: [upload, archive], done } = tee(streamOf(input), [
      { bestEffort: true, highWaterMark: 1000 },
      { highWaterMark: 1000 },
    ]);
    let sent = 0;
    const uploading = upload!.pipeTo(new WritableStream<Uint8Array>({
      write(chunk) {
        sent += chunk.byteLength;
        if (sent > 500) throw new Error("connection dropped");
      },
    }));
    const kept = await collect(archive!);
    kept.forEach((chunk, k) => expect(chunk).toBe(input[k]));
    expect(kept).toHaveLength(20);
    await expect(uploading).rejects.toThrow("connection dropped");
    const reports = await done;
    expect(reports.map((r) => r.status)).toEqual(["detached", "closed"]);
    expect(reports[1]!.bytes).toBe(2000);
    expect(reports[0]!.bytes).toBe(600);
  });

  test("tee cancels the source and errors the other branches when a required branch is cancelled", async () => {
    const src = countingSource(items(30));
    const { branches: [a, b, c], done } = tee(src.stream, [{}, {}, { bestEffort: true }]);
    const ra = a!.getReader();
    const rb = b!.getReader();
    await Promise.all([readN(ra, 2), readN(rb, 1)]);
    const reason = new Error("client went away");
    await ra.cancel(reason);
    expect(await src.cancelled).toBe(reason);
    await expect(rb.read()).rejects.toBe(reason);
    await expect(c!.getReader().read()).rejects.toBe(reason);
    const reports = await done;
    expect(reports.map((r) => [r.status, r.reason])).toEqual([
      ["cancelled", reason],
      ["errored", reason],
      ["errored", reason],
    ]);
    expect(reports.map((r) => r.chunks)).toEqual([2, 1, 0]);
  });

  test("tee errors every branch with the source's error, also branches holding unread chunks", async () => {
    const failure = new Error("connection reset");
    let n = 0;
    const source = new ReadableStream<Item>({
      pull(c) {
        if (n < 3) c.enqueue({ i: n++, w: 1 });
        else c.error(failure);
      },
    }, { highWaterMark: 0 });
    const { branches: [a, b], done } = tee(source, [{}, { bestEffort: true }]);
    await expect(collect(a!)).rejects.toBe(failure);
    // b has read nothing; its queued chunks are dropped so it can never close on a truncated sequence.
    await expect(b!.getReader().read()).rejects.toBe(failure);
    expect((await done).map((r) => [r.status, r.reason])).toEqual([["errored", failure], ["errored", failure]]);
  });

  test("tee errors its branches at once when the source errors while no read is pending", async () => {
    const failure = new Error("boom");
    let controller!: ReadableStreamDefaultController<Item>;
    const source = new ReadableStream<Item>({ start: (c) => void (controller = c) }, { highWaterMark: 0 });
    const { branches: [a], done } = tee(source, 2);
    await settle();
    controller.error(failure);
    expect((await done).map((r) => r.status)).toEqual(["errored", "errored"]);
    await expect(a!.getReader().read()).rejects.toBe(failure);
  });

  test("tee cancels the source once every branch is gone, with the last branch's reason", async () => {
    const src = countingSource(items(30));
    const { branches: [a, b], done } = tee(src.stream, [{ bestEffort: true }, { bestEffort: true }]);
    await a!.cancel("first");
    expect(await isPending(src.cancelled)).toBe(true);
    await b!.cancel("second");
    expect(await src.cancelled).toBe("second");
    expect((await done).map((r) => [r.status, r.reason])).toEqual([["cancelled", "first"], ["cancelled", "second"]]);
  });

  test("tee cancels the source when its last branch overflows and is detached", async () => {
    const src = countingSource(items(30, 2));
    const size = (c: Item) => c.w;
    const { branches, done } = tee(src.stream, [
      { bestEffort: true, overflow: "detach", highWaterMark: 1, size },
      { bestEffort: true, overflow: "detach", highWaterMark: 1, size },
    ]);
    // Chunk 0 goes to branch 0's waiting reader and overflows branch 1; chunk 1 overflows branch 0.
    expect((await branches[0]!.getReader().read()).value).toEqual({ i: 0, w: 2 });
    const reason = await src.cancelled;
    expect(reason).toBeInstanceOf(BranchOverflowError);
    expect((reason as BranchOverflowError).branch).toBe(0);
    const reports = await done;
    expect(reports.map((r) => r.status)).toEqual(["detached", "detached"]);
    expect(reports[0]!.reason).toBe(reason);
    expect(src.pulled()).toBe(2);
  });

  test("tee's done waits for every branch, including one that has not read its queue", async () => {
    const { branches: [a, b], done } = tee(streamOf(items(3)), 2);
    await collect(a!);
    expect(await isPending(done)).toBe(true);
    await collect(b!);
    expect((await done).map((r) => r.status)).toEqual(["closed", "closed"]);
  });

  test("tee detaches a best-effort branch whose size function throws, and fails the tee for a required one", async () => {
    const oops = new Error("bad size");
    const first = tee(streamOf(items(5)), [{}, { bestEffort: true, size: () => { throw oops; } }]);
    expect(await collect(first.branches[0]!)).toHaveLength(5);
    expect((await first.done)[1]).toMatchObject({ status: "detached", reason: oops });

    const src = countingSource(items(5));
    const second = tee(src.stream, [{ size: () => NaN }, {}]);
    await expect(collect(second.branches[1]!)).rejects.toThrow(/branches\[0\]\.size must return a finite non-negative number, got number NaN/);
    expect(await src.cancelled).toBeInstanceOf(RangeError);
    expect((await second.done).map((r) => r.status)).toEqual(["errored", "errored"]);
  });

  test("tee treats a hole or undefined in the branches array as a required branch with default options", async () => {
    // eslint-disable-next-line no-sparse-arrays
    const { branches, done } = tee(streamOf(items(3)), [, undefined] as unknown as BranchOptions<Item>[]);
    expect(branches).toHaveLength(2);
    await branches[0]!.cancel("gone");
    await expect(branches[1]!.getReader().read()).rejects.toBe("gone");
    expect((await done).map((r) => r.status)).toEqual(["cancelled", "errored"]);
  });

  test("tee rejects a source that is not a ReadableStream or is locked, with a TypeError", () => {
    expect(() => tee(42 as unknown as ReadableStream, 2)).toThrow(
      new TypeError("Cannot tee: source must be a ReadableStream, got number 42"),
    );
    const locked = streamOf([1]);
    locked.getReader();
    expect(() => tee(locked, 2)).toThrow(TypeError);
    expect(() => tee(locked, 2)).toThrow(/Cannot tee: source is locked/);
  });

  test("tee rejects bad branch options, naming the option", () => {
    const s = () => streamOf<number>([]);
    const cases: [unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, string][] = [
      [0, RangeError, "Cannot tee: branches must be a positive integer, got number 0"],
      [1.5, RangeError, "Cannot tee: branches must be a positive integer, got number 1.5"],
      [[], RangeError, "Cannot tee: branches must be a non-empty array, got an empty array"],
      ["2", TypeError, 'Cannot tee: branches must be a positive integer or a non-empty array of BranchOptions, got string "2"'],
      [[{}, { highWaterMark: NaN }], RangeError, "Cannot tee: branches[1].highWaterMark must be a non-negative number, got number NaN"],
      [[{ highWaterMark: -1 }], RangeError, "Cannot tee: branches[0].highWaterMark must be a non-negative number, got number -1"],
      [[{ highWaterMark: "8" }], TypeError, 'Cannot tee: branches[0].highWaterMark must be a number, got string "8"'],
      [[{ overflow: "detach" }], TypeError, 'Cannot tee: branches[0].overflow applies only to best-effort branches (bestEffort: true), got string "detach" on a required branch'],
      [[{ bestEffort: true, overflow: "drop" }], RangeError, 'Cannot tee: branches[0].overflow must be "wait" or "detach", got string "drop"'],
      [[{ size: 1 }], TypeError, "Cannot tee: branches[0].size must be a function, got number 1"],
      [[{ bestEffort: "yes" }], TypeError, 'Cannot tee: branches[0].bestEffort must be a boolean, got string "yes"'],
      [[null], TypeError, "Cannot tee: branches[0] must be a BranchOptions object, got null"],
      [[{ bestEffort: false, overflow: "wait" }], TypeError, 'Cannot tee: branches[0].overflow applies only to best-effort branches (bestEffort: true), got string "wait" on a required branch'],
      [[{}, "x"], TypeError, 'Cannot tee: branches[1] must be a BranchOptions object, got string "x"'],
    ];
    for (const [branches, type, message] of cases) {
      const source = s();
      expect(() => tee(source, branches as BranchOptions[])).toThrow(new type(message));
      expect(() => tee(source, branches as BranchOptions[])).toThrow(type);
      expect(source.locked).toBe(false);
    }
  });

  test("tee keeps every closed branch exact and every queue within its bound, whatever the readers do", async () => {
    const branchArb = fc.record({
      bestEffort: fc.boolean(),
      detach: fc.boolean(),
      highWaterMark: fc.integer({ min: 0, max: 8 }),
      // How many chunks the reader reads before it stops (cancels or stalls), and its pauses in microtasks.
      readLimit: fc.oneof(fc.constant(Infinity), fc.nat({ max: 25 })),
      cancelAtLimit: fc.boolean(),
      pauses: fc.array(fc.nat({ max: 6 }), { minLength: 1, maxLength: 8 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }),
        fc.array(branchArb, { minLength: 1, maxLength: 4 }),
        async (weights, specs) => {
          const input: Item[] = weights.map((w, i) => ({ i, w }));
          const maxW = Math.max(0, ...weights);
          const requested = specs.map(() => 0);
          const expectDetached = specs.map(() => false);
          const violations: string[] = [];
          const options: BranchOptions<Item>[] = specs.map((s, b) => ({
            bestEffort: s.bestEffort,
            highWaterMark: s.highWaterMark,
            ...(s.bestEffort ? { overflow: s.detach ? "detach" as const : "wait" as const } : {}),
            // Called exactly when the tee queues chunk c for branch b: check the queue it joins.
            size: (c: Item) => {
              let held = 0;
              for (let k = requested[b]!; k < c.i; k++) held += input[k]!.w;
              if (s.bestEffort && s.detach) {
                if (held + c.w > s.highWaterMark) expectDetached[b] = true;
                else if (held > s.highWaterMark) violations.push(`detach branch ${b} held ${held}`);
              } else if (held >= s.highWaterMark) {
                violations.push(`pacing branch ${b} held ${held} >= ${s.highWaterMark} when chunk ${c.i} was pulled`);
              }
              // The tee as a whole: one queue holds every other's chunks; this bounds it.
              if (held + c.w > s.highWaterMark + maxW) violations.push(`branch ${b} over the bound`);
              return c.w;
            },
          }));
          const { branches, done } = tee(streamOf(input), options);
          const received: Item[][] = specs.map(() => []);
          const readers = branches.map((s) => s.getReader());
          let progress = 0;
          const finished = specs.map(() => false);
          const scripts = specs.map(async (s, b) => {
            const reader = readers[b]!;
            try {
              while (received[b]!.length < s.readLimit) {
                for (let p = s.pauses[received[b]!.length % s.pauses.length]!; p > 0; p--) await Promise.resolve();
                requested[b]!++;
                const r = await reader.read();
                progress++;
                if (r.done) return;
                received[b]!.push(r.value);
              }
              if (s.cancelAtLimit) await reader.cancel(`cancel ${b}`);
            } catch {
              // Errored branch: the report says why.
            } finally {
              finished[b] = true;
            }
          });
          // Readers that stopped may hold everything up; once nothing moves, cancel them all so the tee can end
          // (cancelling a branch that already ended changes nothing).
          for (;;) {
            const before = progress;
            await settle();
            if (finished.every(Boolean) || progress === before) break;
          }
          readers.forEach((r) => r.cancel("stalled").catch(() => {}));
          await Promise.all(scripts);
          const reports: BranchReport[] = await done;
          expect(violations).toEqual([]);
          reports.forEach((r, b) => {
            received[b]!.forEach((chunk, k) => expect(chunk).toBe(input[k]));
            if (r.status === "closed") expect(received[b]!.length).toBe(input.length);
            if (expectDetached[b]) {
              expect(r.status).toBe("detached");
              expect(r.reason).toBeInstanceOf(BranchOverflowError);
            } else {
              expect(r.status).not.toBe("detached");
            }
            expect(r.chunks).toBe(received[b]!.length);
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});
