import { afterEach, describe, expect, test, vi } from "vitest";
import { MeasureStream, type TransferProgress, type TransferReport } from "../lib/measure.ts";
import { collect, deferred, delay, sequence, streamOf } from "./_support/util.ts";

// The timed tests below inject delays of STEP ms on one side, on the test runner's
// fake clock (timers and performance.now), so the times they assert are exact.
const STEP = 40;
const STEPS = 5;

/** Runs `work` to its end on the fake clock, firing each timer as it comes due. */
async function onFakeClock<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers();
  try {
    const result = work();
    await vi.runAllTimersAsync();
    return await result;
  } finally {
    vi.useRealTimers();
  }
}

describe("MeasureStream", () => {
  test("MeasureStream passes chunks through unchanged and counts them", async () => {
    const input = [sequence(10), sequence(0), sequence(5)];
    const measure = new MeasureStream();
    const out = await collect(streamOf(input).pipeThrough(measure));
    out.forEach((chunk, i) => expect(chunk).toBe(input[i]));
    expect(out).toHaveLength(3);
    const report = await measure.report;
    expect(report).toMatchObject({ status: "closed", bytes: 15, chunks: 3 });
    expect(report).not.toHaveProperty("reason");
    expect(measure).toBeInstanceOf(TransformStream);
  });

  test("MeasureStream counts UTF-8 bytes for strings and byteLength for other views", async () => {
    const measure = new MeasureStream<unknown>();
    await collect(streamOf<unknown>(["héllo", "😀", "a\ud800b", new DataView(new ArrayBuffer(3)), 42]).pipeThrough(measure));
    const encoder = new TextEncoder();
    const expected = ["héllo", "😀", "a\ud800b"].reduce((n, s) => n + encoder.encode(s).length, 0) + 3;
    expect((await measure.report).bytes).toBe(expected);
    expect((await measure.report).chunks).toBe(5);
  });

  test("MeasureStream reports an empty transfer with firstChunkMs -1 and durationMs 0", async () => {
    const measure = new MeasureStream();
    expect(await collect(streamOf<Uint8Array>([]).pipeThrough(measure))).toEqual([]);
    expect(await measure.report).toEqual({ status: "closed", bytes: 0, chunks: 0, firstChunkMs: -1, durationMs: 0, stalledMs: 0 });
  });

  test("MeasureStream calls onReport once, with the object report resolves to", async () => {
    const seen: TransferReport[] = [];
    const measure = new MeasureStream({ onReport: (r) => seen.push(r) });
    const readable = streamOf([sequence(4)]).pipeThrough(measure);
    await collect(readable);
    await readable.cancel("late").catch(() => {});
    const report = await measure.report;
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(report);
  });

  test("MeasureStream delivers the report to onReport on error and on cancel as on close", async () => {
    const seen: TransferReport[] = [];
    const onReport = (r: TransferReport) => seen.push(r);
    const failure = new Error("reset");

    const erroring = new MeasureStream({ onReport });
    const writer = erroring.writable.getWriter();
    await writer.abort(failure);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(await erroring.report);
    expect(seen[0]).toMatchObject({ status: "errored", reason: failure, chunks: 0, bytes: 0 });

    const cancelled = new MeasureStream({ onReport });
    await cancelled.readable.cancel("not needed");
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(await cancelled.report);
    expect(seen[1]).toMatchObject({ status: "cancelled", reason: "not needed", chunks: 0, firstChunkMs: -1, durationMs: 0 });
    await expect(cancelled.writable.getWriter().write(sequence(1))).rejects.toBe("not needed");
  });

  test("MeasureStream reports an error from the source with its reason and errors its readable side", async () => {
    const failure = new Error("reset");
    let n = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 2) c.enqueue(sequence(8));
        else c.error(failure);
      },
    }, { highWaterMark: 0 });
    const measure = new MeasureStream();
    await expect(collect(source.pipeThrough(measure))).rejects.toBe(failure);
    expect(await measure.report).toMatchObject({ status: "errored", reason: failure, chunks: 2, bytes: 16 });
  });

  test("MeasureStream reports errored at once when aborted while it holds a chunk nobody reads", async () => {
    const measure = new MeasureStream();
    const writer = measure.writable.getWriter();
    const held = writer.write(sequence(3));
    const failure = new Error("producer gave up");
    const aborted = writer.abort(failure);
    expect(await measure.report).toMatchObject({ status: "errored", reason: failure, chunks: 0 });
    await expect(held).rejects.toBe(failure);
    await aborted;
    await expect(measure.readable.getReader().read()).rejects.toBe(failure);
  });

  test("MeasureStream reports cancelled when its consumer cancels, and the cancel reaches the source", async () => {
    const cancelled = deferred<unknown>();
    let n = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(sequence(4, n++));
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    }, { highWaterMark: 0 });
    const measure = new MeasureStream();
    const reader = source.pipeThrough(measure).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel("enough");
    expect(await measure.report).toMatchObject({ status: "cancelled", reason: "enough", chunks: 2, bytes: 8 });
    expect(await cancelled.promise).toBe("enough");
  });

  test("MeasureStream rejects bad options with a TypeError naming them", () => {
    expect(() => new MeasureStream({ onReport: 5 as unknown as () => void })).toThrow(
      new TypeError("Cannot construct MeasureStream: onReport must be a function, got number 5"),
    );
    expect(() => new MeasureStream(null as unknown as {})).toThrow(
      new TypeError("Cannot construct MeasureStream: options must be an object, got null"),
    );
  });

  test("MeasureStream measures the time to the first chunk", async () => {
    const report = await onFakeClock(async () => {
      const measure = new MeasureStream();
      const source = new ReadableStream<Uint8Array>({
        async start(c) {
          await delay(3 * STEP);
          c.enqueue(sequence(1));
          c.close();
        },
      });
      await collect(source.pipeThrough(measure));
      return measure.report;
    });
    expect(report.firstChunkMs).toBe(3 * STEP);
  });

  test("MeasureStream shows a slow producer as almost no stall", async () => {
    const report = await onFakeClock(async () => {
      let n = 0;
      const source = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (n++ > 0) await delay(STEP);
          if (n > STEPS + 1) c.close();
          else c.enqueue(sequence(100));
        },
      }, { highWaterMark: 0 });
      const measure = new MeasureStream();
      await collect(source.pipeThrough(measure));
      return measure.report;
    });
    // The first chunk came at once, the other STEPS after STEP each, and the end after one more STEP.
    expect(report.durationMs).toBe((STEPS + 1) * STEP);
    // The consumer was always waiting: nothing was held for it.
    expect(report.stalledMs).toBe(0);
  });

  test("MeasureStream shows a slow consumer as stall time close to the consumer's delays", async () => {
    const report = await onFakeClock(async () => {
      const measure = new MeasureStream();
      const reader = streamOf(Array.from({ length: STEPS + 1 }, () => sequence(100))).pipeThrough(measure).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) await delay(STEP);
      return measure.report;
    });
    // Every chunk but the first waited STEP for the consumer to come back for it.
    expect(report.stalledMs).toBe(STEPS * STEP);
    expect(report.stalledMs).toBeLessThanOrEqual(report.durationMs + 1);
  });
});

// Progress is timed by the test runner's fake clock (timers and performance.now):
// every time below is exact, and nothing waits for real.
describe("MeasureStream progress", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A MeasureStream whose progress reports are collected, with a writer and a reader of its two sides. */
  function measured(options: { interval?: number } = {}) {
    const seen: TransferProgress[] = [];
    const measure = new MeasureStream({ ...options, onProgress: (p) => seen.push(p) });
    return { seen, measure, writer: measure.writable.getWriter(), reader: measure.readable.getReader() };
  }

  test("MeasureStream reports progress at once, then at most once per interval, then once more when it ends", async () => {
    vi.useFakeTimers();
    const { seen, measure, writer, reader } = measured();
    const reading = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    })();
    await writer.write(sequence(10)); // t = 0: the first change is reported at once
    await vi.advanceTimersByTimeAsync(30);
    await writer.write(sequence(10));
    await vi.advanceTimersByTimeAsync(30);
    await writer.write(sequence(10));
    await vi.advanceTimersByTimeAsync(40); // t = 100: the two writes since, in one report
    await vi.advanceTimersByTimeAsync(150);
    await writer.write(sequence(10)); // t = 250: after a quiet spell, at once again
    await vi.advanceTimersByTimeAsync(10);
    await writer.close(); // t = 260
    await reading;
    expect(seen).toEqual([
      { bytes: 10, chunks: 1, durationMs: 0, bytesPerSecond: 0, stalledMs: 0, done: false },
      { bytes: 30, chunks: 3, durationMs: 100, bytesPerSecond: (20 * 1000) / 100, stalledMs: 0, done: false },
      { bytes: 40, chunks: 4, durationMs: 250, bytesPerSecond: (10 * 1000) / 150, stalledMs: 0, done: false },
      { bytes: 40, chunks: 4, durationMs: 260, bytesPerSecond: 0, stalledMs: 0, done: true },
    ]);
    expect(await measure.report).toMatchObject({ status: "closed", bytes: 40, chunks: 4, durationMs: 260, stalledMs: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });

  test("MeasureStream reports a stall as it grows while the consumer does not read", async () => {
    vi.useFakeTimers();
    const { seen, measure, writer, reader } = measured();
    const written = writer.write(sequence(50)); // t = 0: held, nobody has asked for it
    await vi.advanceTimersByTimeAsync(250);
    expect((await reader.read()).value).toEqual(sequence(50)); // t = 250: released
    await written;
    await vi.advanceTimersByTimeAsync(100);
    const closed = writer.close(); // t = 350
    expect((await reader.read()).done).toBe(true);
    await closed;
    expect(seen).toEqual([
      { bytes: 0, chunks: 0, durationMs: 0, bytesPerSecond: 0, stalledMs: 0, done: false },
      { bytes: 0, chunks: 0, durationMs: 100, bytesPerSecond: 0, stalledMs: 100, done: false },
      { bytes: 0, chunks: 0, durationMs: 200, bytesPerSecond: 0, stalledMs: 200, done: false },
      { bytes: 50, chunks: 1, durationMs: 300, bytesPerSecond: (50 * 1000) / 100, stalledMs: 250, done: false },
      { bytes: 50, chunks: 1, durationMs: 350, bytesPerSecond: 0, stalledMs: 250, done: true },
    ]);
    expect((await measure.report).stalledMs).toBe(250);
  });

  test("MeasureStream reports no progress before the first chunk, and with interval Infinity only the final report", async () => {
    vi.useFakeTimers();
    const { seen, writer, reader } = measured({ interval: Infinity });
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    const reading = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    })();
    for (let i = 0; i < 5; i++) {
      await writer.write(sequence(4));
      await vi.advanceTimersByTimeAsync(100);
    }
    await writer.close();
    await reading;
    expect(seen).toEqual([{ bytes: 20, chunks: 5, durationMs: 500, bytesPerSecond: (20 * 1000) / 500, stalledMs: 0, done: true }]);
  });

  test("MeasureStream with interval 0 reports every chunk", async () => {
    vi.useFakeTimers();
    const { seen, writer, reader } = measured({ interval: 0 });
    const reading = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    })();
    for (let i = 0; i < 3; i++) await writer.write(sequence(2));
    await writer.close();
    await reading;
    expect(seen.map((p) => [p.bytes, p.done])).toEqual([[2, false], [4, false], [6, false], [6, true]]);
  });

  test("MeasureStream makes its final progress report on error and on cancel too, just before onReport", async () => {
    vi.useFakeTimers();
    const events: string[] = [];
    const onProgress = (p: TransferProgress) => events.push(`progress ${p.bytes}${p.done ? " done" : ""}`);
    const onReport = (r: TransferReport) => events.push(`report ${r.status}`);

    const erroring = new MeasureStream({ onProgress, onReport });
    const writer = erroring.writable.getWriter();
    const held = writer.write(sequence(3));
    await vi.advanceTimersByTimeAsync(0);
    await writer.abort(new Error("gone"));
    await expect(held).rejects.toThrow("gone");
    expect(events).toEqual(["progress 0", "progress 0 done", "report errored"]);

    events.length = 0;
    const cancelled = new MeasureStream({ onProgress, onReport });
    const reader = streamOf([sequence(5), sequence(5)]).pipeThrough(cancelled).getReader();
    await reader.read();
    await reader.cancel("enough");
    expect(events).toEqual(["progress 5", "progress 5 done", "report cancelled"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  test("MeasureStream rejects a bad onProgress or interval with an error naming it", () => {
    expect(() => new MeasureStream({ onProgress: "yes" as unknown as () => void })).toThrow(
      new TypeError("Cannot construct MeasureStream: onProgress must be a function, got string \"yes\""),
    );
    expect(() => new MeasureStream({ interval: -1 })).toThrow(
      new RangeError("Cannot construct MeasureStream: interval must be a non-negative number of milliseconds, got number -1"),
    );
    expect(() => new MeasureStream({ interval: NaN })).toThrow(RangeError);
    expect(() => new MeasureStream({ interval: "100" as unknown as number })).toThrow(
      new TypeError("Cannot construct MeasureStream: interval must be a number of milliseconds, got string \"100\""),
    );
  });
});
