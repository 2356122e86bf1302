import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { DedupeStream } from "../lib/dedupe.ts";
import { collect, deferred, streamOf } from "./_support/util.ts";

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
    expect(() => new DedupeStream((x) => x, { maxKeys: 0 })).toThrow(
      new RangeError("Cannot construct DedupeStream: maxKeys must be a positive integer or Infinity, got number 0"),
    );
    expect(() => new DedupeStream((x) => x, { maxKeys: 2.5 })).toThrow(RangeError);
    expect(() => new DedupeStream((x) => x, { scope: "file" as never })).toThrow(/scope must be a function/);
  });

  test("DedupeStream holds at most maxKeys keys and errors with a RangeError on one more, cancelling its source", async () => {
    expect(new DedupeStream((x) => x).maxKeys).toBe(1_000_000);
    // Repeats of held keys still pass through the bound.
    expect(await collect(streamOf([1, 2, 1, 2, 3, 3]).pipeThrough(new DedupeStream((x: number) => x, { maxKeys: 3 })))).toEqual([1, 2, 3]);
    const cancelled = deferred<unknown>();
    let i = 0;
    const source = new ReadableStream<number>({
      pull: (c) => c.enqueue(i++ % 2 ? 0 : i),
      cancel: (reason) => cancelled.resolve(reason),
    });
    const stream = new DedupeStream((x: number) => x, { maxKeys: 100 });
    const error = await collect(source.pipeThrough(stream)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      "DedupeStream: a new key when maxKeys (100) distinct keys are held; raise maxKeys, or forget finished parts with scope or reset()",
    );
    expect(stream.seen.size).toBe(100);
    expect(await cancelled.promise).toBe(error);
    // A shared set counts as a whole.
    const shared = new Set<unknown>([1, 2]);
    await expect(collect(streamOf([3]).pipeThrough(new DedupeStream((x: number) => x, { seen: shared, maxKeys: 2 })))).rejects.toThrow(RangeError);
    const many = Array.from({ length: 5000 }, (_, n) => n);
    expect(await collect(streamOf(many).pipeThrough(new DedupeStream((x: number) => x, { maxKeys: Infinity })))).toHaveLength(5000);
  });

  test("DedupeStream with a scope forgets the keys of a run when the next run starts", async () => {
    const rows = [["a", 1], ["a", 2], ["a", 1], ["b", 1], ["b", 1], ["b", 3], ["a", 1]] as const;
    const stream = new DedupeStream((r: readonly [string, number]) => r[1], { scope: (r) => r[0], maxKeys: 2 });
    const out = await collect(streamOf(rows).pipeThrough(stream));
    expect(out).toEqual([rows[0], rows[1], rows[3], rows[5], rows[6]]);
    // NaN scopes are one scope, as NaN keys are one key.
    const nan = await collect(streamOf([1, 1]).pipeThrough(new DedupeStream((x: number) => x, { scope: () => NaN })));
    expect(nan).toEqual([1]);
    // A shared set is not emptied by the first chunk's scope.
    const seen = new Set<unknown>([7]);
    expect(await collect(streamOf([7, 8]).pipeThrough(new DedupeStream((x: number) => x, { seen, scope: () => "s" })))).toEqual([8]);
    const boom = new Error("scope failed");
    await expect(collect(streamOf([1]).pipeThrough(new DedupeStream((x: number) => x, { scope: () => { throw boom; } })))).rejects.toBe(boom);
  });

  test("DedupeStream.reset forgets every key seen so far", async () => {
    const stream = new DedupeStream((x: number) => x);
    const writer = stream.writable.getWriter();
    const out = collect(stream.readable);
    // Each write settles once its chunk went through the transform.
    await writer.write(1);
    await writer.write(1); // dropped
    expect(stream.seen.size).toBe(1);
    stream.reset();
    expect(stream.seen.size).toBe(0);
    await writer.write(1);
    await writer.write(1); // dropped
    await writer.close();
    expect(await out).toEqual([1, 1]);
  });
});
