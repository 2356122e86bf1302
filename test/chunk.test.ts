import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { ChunkStream } from "../lib/chunk.ts";
import { collect, concat, cutAt, deferred, sequence, streamOf } from "./_support/util.ts";

async function recut(pieces: Uint8Array[], size: number): Promise<Uint8Array[]> {
  return collect(streamOf(pieces).pipeThrough(new ChunkStream(size)));
}

describe("ChunkStream", () => {
  test("ChunkStream emits chunks of exactly size bytes and a shorter last one", async () => {
    const out = await recut([sequence(10)], 4);
    expect(out.map((c) => c.length)).toEqual([4, 4, 2]);
    expect(concat(out)).toEqual(sequence(10));
  });

  test("ChunkStream joins pieces that span input chunks", async () => {
    const out = await recut([sequence(3), sequence(3, 3), sequence(3, 6)], 4);
    expect(out.map((c) => c.length)).toEqual([4, 4, 1]);
    expect(concat(out)).toEqual(sequence(9));
  });

  test("ChunkStream emits nothing for an empty stream and ignores empty chunks", async () => {
    expect(await recut([], 8)).toEqual([]);
    const out = await recut([new Uint8Array(0), sequence(5), new Uint8Array(0)], 8);
    expect(out.map((c) => c.length)).toEqual([5]);
  });

  test("ChunkStream never emits an empty chunk when the input is a multiple of size", async () => {
    const out = await recut([sequence(6), sequence(2, 6)], 4);
    expect(out.map((c) => c.length)).toEqual([4, 4]);
  });

  test("ChunkStream passes a chunk of exactly size through as the same object", async () => {
    const input = sequence(16);
    const [only] = await recut([input], 16);
    expect(only).toBe(input);
  });

  test("ChunkStream output inside one input chunk is a view of its buffer (zero-copy)", async () => {
    const input = sequence(64);
    const out = await recut([input], 16);
    expect(out).toHaveLength(4);
    out.forEach((chunk, i) => {
      expect(chunk.buffer).toBe(input.buffer);
      expect(chunk.byteOffset).toBe(i * 16);
    });
  });

  test("ChunkStream copies only the chunk that joins pieces and views the rest", async () => {
    const a = sequence(6);
    const b = sequence(10, 6);
    const out = await recut([a, b], 4);
    expect(out.map((c) => c.length)).toEqual([4, 4, 4, 4]);
    expect(out[0]!.buffer).toBe(a.buffer);
    expect(out[1]!.buffer).not.toBe(a.buffer);
    expect(out[1]!.buffer).not.toBe(b.buffer);
    expect(out[2]!.buffer).toBe(b.buffer);
    expect(out[3]!.buffer).toBe(b.buffer);
    expect(concat(out)).toEqual(sequence(16));
  });

  test("ChunkStream re-cuts random inputs at random points exactly", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.nat({ max: 2000 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 300 }),
        async (length, cuts, size) => {
          const bytes = sequence(length, 7);
          const out = await recut(cutAt(bytes, cuts), size);
          expect(concat(out)).toEqual(bytes);
          out.forEach((chunk, i) => {
            expect(chunk.length).toBeGreaterThan(0);
            if (i < out.length - 1) expect(chunk.length).toBe(size);
            else expect(chunk.length).toBeLessThanOrEqual(size);
          });
          expect(out.length).toBe(Math.ceil(length / size));
        },
      ),
      { numRuns: 150 },
    );
  });

  test("ChunkStream rejects a size that is not a positive safe integer with a RangeError naming size", () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53, "4", null, undefined]) {
      expect(() => new ChunkStream(bad as number)).toThrow(RangeError);
      expect(() => new ChunkStream(bad as number)).toThrow(/size must be a positive safe integer, got/);
    }
    expect(() => new ChunkStream(0)).toThrow("Cannot construct ChunkStream: size must be a positive safe integer, got number 0");
  });

  test("ChunkStream errors with a TypeError naming what it got for a chunk that is not a Uint8Array", async () => {
    for (const [bad, name] of [["abc", "string"], [new ArrayBuffer(4), "ArrayBuffer"], [[1, 2], "Array"], [new Uint16Array(2), "Uint16Array"]] as const) {
      const stream = streamOf<unknown>([sequence(3), bad]).pipeThrough(new ChunkStream(2) as unknown as TransformStream<unknown, Uint8Array>);
      const error = await collect(stream).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(String(error)).toContain(name);
    }
  });

  test("ChunkStream passes cancellation through to the source with the reason", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(sequence(10));
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const reader = source.pipeThrough(new ChunkStream(4)).getReader();
    await reader.read();
    const reason = new Error("stop");
    await reader.cancel(reason);
    expect(await cancelled.promise).toBe(reason);
  });

  test("ChunkStream errors the readable side when the source errors", async () => {
    const boom = new Error("boom");
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(sequence(3));
        controller.error(boom);
      },
    });
    await expect(collect(source.pipeThrough(new ChunkStream(2)))).rejects.toBe(boom);
  });

  test("ChunkStream exposes its size", () => {
    expect(new ChunkStream(7).size).toBe(7);
  });
});
