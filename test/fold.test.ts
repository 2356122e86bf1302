import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { fold } from "../lib/fold.ts";
import { deferred, sequence, streamOf } from "./_support/util.ts";

describe("fold", () => {
  test("fold reduces every chunk in order with its index", async () => {
    const seen: [string, number][] = [];
    const result = await fold(streamOf(["a", "b", "c"]), (acc, chunk, i) => {
      seen.push([chunk, i]);
      return acc + chunk;
    }, ">");
    expect(result).toBe(">abc");
    expect(seen).toEqual([["a", 0], ["b", 1], ["c", 2]]);
  });

  test("fold of an empty stream resolves with the initial value", async () => {
    const initial = { n: 0 };
    expect(await fold(streamOf<number>([]), (a) => a, initial)).toBe(initial);
  });

  test("fold agrees with Array.prototype.reduce on random input", async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer()), async (xs) => {
      expect(await fold(streamOf(xs), (a, x, i) => a * 31 + x + i | 0, 7)).toBe(xs.reduce((a, x, i) => a * 31 + x + i | 0, 7));
    }));
  });

  test("fold waits for an async reducer before reading the next chunk", async () => {
    let pulled = 0;
    const source = new ReadableStream<number>({
      pull(c) {
        if (pulled < 3) c.enqueue(pulled++);
        else c.close();
      },
    }, { highWaterMark: 0 });
    const gate = deferred();
    const result = fold(source, async (acc: number[], x) => {
      if (x === 0) await gate.promise;
      return [...acc, x];
    }, [] as number[]);
    await new Promise((r) => setTimeout(r, 0));
    expect(pulled).toBe(1);
    gate.resolve();
    expect(await result).toEqual([0, 1, 2]);
  });

  test("fold reads one chunk at a time: nothing is read ahead of the reducer", async () => {
    let pulled = 0;
    const source = new ReadableStream<number>({
      pull(c) {
        if (pulled < 5) c.enqueue(pulled++);
        else c.close();
      },
    }, { highWaterMark: 0 });
    const pulledAtCall: number[] = [];
    expect(await fold(source, (n: number, x) => {
      pulledAtCall.push(pulled);
      return n + x;
    }, 0)).toBe(10);
    expect(pulledAtCall).toEqual([1, 2, 3, 4, 5]);
  });

  test("fold keeps only the accumulator, releasing the source when done", async () => {
    const source = streamOf([sequence(4), sequence(6)]);
    expect(await fold(source, (n, c) => n + c.length, 0)).toBe(10);
    expect(source.locked).toBe(false);
  });

  test("fold cancels the source with the reducer's error and rejects with it", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<number>({
      pull(c) {
        c.enqueue(1);
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    }, { highWaterMark: 0 });
    const oops = new Error("bad record");
    await expect(fold(source, (n: number) => {
      if (n === 3) throw oops;
      return n + 1;
    }, 0)).rejects.toBe(oops);
    expect(await cancelled.promise).toBe(oops);
    const rejecting = streamOf([1, 2]);
    await expect(fold(rejecting, () => Promise.reject(oops), 0)).rejects.toBe(oops);
  });

  test("fold rejects with the source's error", async () => {
    const failure = new Error("reset");
    const source = new ReadableStream<number>({
      start(c) {
        c.enqueue(1);
        c.error(failure);
      },
    });
    await expect(fold(source, (a: number, x) => a + x, 0)).rejects.toBe(failure);
  });

  test("fold rejects with a TypeError naming a bad source or reducer, without locking the source", async () => {
    await expect(fold(null as unknown as ReadableStream, (a) => a, 0)).rejects.toThrow(
      new TypeError("Cannot fold: source must be a ReadableStream, got null"),
    );
    await expect(fold({} as unknown as ReadableStream, (a) => a, 0)).rejects.toThrow(TypeError);
    const locked = streamOf([1]);
    locked.getReader();
    await expect(fold(locked, (a) => a, 0)).rejects.toThrow(/Cannot fold: source is locked/);
    const free = streamOf([1]);
    const bad = fold(free, "sum" as unknown as () => number, 0);
    expect(free.locked).toBe(false);
    await expect(bad).rejects.toThrow(new TypeError('Cannot fold: reducer must be a function, got string "sum"'));
    await expect(bad).rejects.toBeInstanceOf(TypeError);
  });
});
