import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { DedupeStream } from "../lib/dedupe.ts";
import { collect, deferred, streamOf } from "./_util.ts";

interface Rec {
  id: unknown;
  from: string;
}

describe("DedupeStream", () => {
  test("DedupeStream passes the first chunk for each key and drops later ones", async () => {
    const input: Rec[] = [1, 2, 1, 3, 2, 4].map((id, i) => ({ id, from: `#${i}` }));
    const out = await collect(streamOf(input).pipeThrough(new DedupeStream((r: Rec) => r.id)));
    expect(out).toEqual([input[0], input[1], input[3], input[5]]);
    out.forEach((chunk) => expect(input).toContain(chunk));
  });

  test("DedupeStream compares keys as Set members: 1 and \"1\" differ, NaN equals NaN", async () => {
    const out = await collect(streamOf<unknown>([1, "1", NaN, NaN, 0, -0]).pipeThrough(new DedupeStream((x: unknown) => x)));
    expect(out).toEqual([1, "1", NaN, 0]);
  });

  test("DedupeStream keeps the result of a first-occurrence filter on random input", async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 20 })), async (xs) => {
      const out = await collect(streamOf(xs).pipeThrough(new DedupeStream((x: number) => x)));
      expect(out).toEqual(xs.filter((x, i) => xs.indexOf(x) === i));
    }));
  });

  test("two DedupeStreams on independent sources with colliding keys never drop each other's items", async () => {
    const a: Rec[] = [1, 2, 3, 1].map((id) => ({ id, from: "a" }));
    const b: Rec[] = [3, 2, 1, 2].map((id) => ({ id, from: "b" }));
    const key = (r: Rec) => r.id;
    // Interleaved, item by item, so that a shared set would drop b's items.
    const [outA, outB] = await Promise.all([
      collect(streamOf(a).pipeThrough(new DedupeStream(key))),
      collect(streamOf(b).pipeThrough(new DedupeStream(key))),
    ]);
    expect(outA).toEqual([a[0], a[1], a[2]]);
    expect(outB).toEqual([b[0], b[1], b[2]]);
  });

  test("DedupeStreams given the same seen set deduplicate across their streams", async () => {
    const seen = new Set<unknown>();
    const first = new DedupeStream((x: number) => x, { seen });
    expect(await collect(streamOf([1, 2]).pipeThrough(first))).toEqual([1, 2]);
    const second = new DedupeStream((x: number) => x, { seen });
    expect(await collect(streamOf([2, 3, 1, 4]).pipeThrough(second))).toEqual([3, 4]);
    expect(second.seen).toBe(seen);
    expect([...seen]).toEqual([1, 2, 3, 4]);
  });

  test("DedupeStream errors with the key function's error and cancels its source", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<number>({
      pull(c) {
        c.enqueue(1);
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    }, { highWaterMark: 0 });
    const oops = new Error("no id");
    await expect(collect(source.pipeThrough(new DedupeStream(() => {
      throw oops;
    })))).rejects.toBe(oops);
    expect(await cancelled.promise).toBe(oops);
  });

  test("DedupeStream cancelled by its consumer cancels the source with the reason", async () => {
    const cancelled = deferred<unknown>();
    let n = 0;
    const source = new ReadableStream<number>({
      pull(c) {
        c.enqueue(n++);
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    }, { highWaterMark: 0 });
    const reader = source.pipeThrough(new DedupeStream((x: number) => x)).getReader();
    await reader.read();
    await reader.cancel("done");
    expect(await cancelled.promise).toBe("done");
  });

  test("DedupeStream rejects a bad key or seen with a TypeError naming it", () => {
    expect(() => new DedupeStream("id" as unknown as () => unknown)).toThrow(
      new TypeError('Cannot construct DedupeStream: key must be a function, got string "id"'),
    );
    expect(() => new DedupeStream((x) => x, { seen: [] as unknown as Set<unknown> })).toThrow(
      new TypeError("Cannot construct DedupeStream: seen must be a Set, got Array"),
    );
  });
});
