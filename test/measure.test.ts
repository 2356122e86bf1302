import { describe, expect, test } from "vitest";
import { MeasureStream, type TransferReport } from "../lib/measure.ts";
import { collect, deferred, delay, sequence, streamOf } from "./_util.ts";

// The timed tests below inject delays of STEP ms on one side and assert relations
// with wide margins (a shared, slow machine), never tight absolute timings.
const STEP = 40;
const STEPS = 5;

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
    const measure = new MeasureStream();
    const source = new ReadableStream<Uint8Array>({
      async start(c) {
        await delay(3 * STEP);
        c.enqueue(sequence(1));
        c.close();
      },
    });
    await collect(source.pipeThrough(measure));
    const report = await measure.report;
    expect(report.firstChunkMs).toBeGreaterThanOrEqual(3 * STEP * 0.8);
  });

  test("MeasureStream shows a slow producer as almost no stall", async () => {
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
    const report = await measure.report;
    expect(report.durationMs).toBeGreaterThanOrEqual(STEPS * STEP * 0.8);
    // The consumer was always waiting: nothing was held for it.
    expect(report.stalledMs).toBeLessThan(report.durationMs * 0.25);
  });

  test("MeasureStream shows a slow consumer as stall time close to the consumer's delays", async () => {
    const measure = new MeasureStream();
    const reader = streamOf(Array.from({ length: STEPS + 1 }, () => sequence(100))).pipeThrough(measure).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) await delay(STEP);
    const report = await measure.report;
    expect(report.stalledMs).toBeGreaterThanOrEqual(STEPS * STEP * 0.8);
    expect(report.stalledMs).toBeLessThanOrEqual(report.durationMs + 1);
  });
});
