import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { decode, DecodeError, decodeMulti, encode, EXT_TIMESTAMP, ExtensionCodec } from "@msgpack/msgpack";
import { addExtension, Packr, Unpackr } from "msgpackr";
import { MsgpackDecoderStream, type MsgpackDecoderOptions, MsgpackEncoderStream, type MsgpackEncoderOptions } from "../lib/msgpack.ts";
import { workOf } from "../lib/_msgpack.ts";
import { collect, concat, cutAt, deferred, delay, sequence, streamOf } from "./_support/util.ts";

function encodeAll(values: unknown[]): Uint8Array {
  return concat(values.map((v) => encode(v)));
}

async function decodeChunks(chunks: Uint8Array[], options?: MsgpackDecoderOptions): Promise<unknown[]> {
  return collect(streamOf(chunks).pipeThrough(new MsgpackDecoderStream(options)));
}

async function encodeValues(values: unknown[], options?: MsgpackEncoderOptions): Promise<Uint8Array[]> {
  return collect(streamOf(values).pipeThrough(new MsgpackEncoderStream(options)));
}

/** Byte equality without the element-by-element diffing of toEqual, for large arrays. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Splits bytes into pieces of `size` bytes (views). */
function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; o += size) out.push(bytes.subarray(o, o + size));
  return out;
}

/** Values that use every MessagePack format family, with lengths at the format boundaries. */
const assorted: unknown[] = [
  null, true, false, 0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER, 0.5, -1.25e300,
  "", "a", "x".repeat(31), "x".repeat(32), "é".repeat(200), "y".repeat(65535), "z".repeat(65536), "価格 🦄",
  new Uint8Array(0), sequence(255), sequence(256), sequence(70_000),
  [], [1, [2, [3, []]]], Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70_000 }, (_, i) => i & 1),
  {}, { a: 1, b: { c: [true, null] } }, Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
  new Date(Date.UTC(2026, 10, 22, 9, 0, 0, 123)), new Date(0), new Date(Date.UTC(2500, 0, 1)),
];

describe("MsgpackDecoderStream", () => {
  test("MsgpackDecoderStream decodes concatenated values of every format", async () => {
    expect(await decodeChunks([encodeAll(assorted)])).toEqual(assorted);
  });

  test("MsgpackDecoderStream decodes values cut at every byte boundary", async () => {
    const values = [{ id: 1, tags: ["a", "bc"] }, sequence(300), "é".repeat(40), [1.5, -7, null], 2 ** 40, new Date(1e12)];
    const bytes = encodeAll(values);
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(await decodeChunks(cutAt(bytes, [cut]))).toEqual(values);
    }
    expect(await decodeChunks(pieces(bytes, 1))).toEqual(values);
    expect(await decodeChunks(pieces(bytes, 7))).toEqual(values);
  });

  test("MsgpackDecoderStream decodes every format cut into pieces of many sizes", async () => {
    const bytes = encodeAll(assorted);
    for (const size of [997, 16384]) {
      expect(await decodeChunks(pieces(bytes, size))).toEqual(assorted);
    }
    // Byte by byte, only the values below 1000 bytes (a byte-sized chunk costs a stream round trip).
    const small = assorted.filter((v) => encode(v).length < 1000);
    for (const size of [1, 2, 3, 5]) {
      expect(await decodeChunks(pieces(encodeAll(small), size))).toEqual(small);
    }
  });

  test("MsgpackDecoderStream ignores empty chunks and emits nothing for an empty stream", async () => {
    expect(await decodeChunks([])).toEqual([]);
    expect(await decodeChunks([new Uint8Array(0), encode(1), new Uint8Array(0)])).toEqual([1]);
  });

  test("MsgpackDecoderStream decodes a 16 MiB binary in 16 KiB chunks with one decoder call and one scan", async () => {
    const big = new Uint8Array(16 * 2 ** 20);
    for (let i = 0; i < big.length; i += 4093) big[i] = i & 255;
    const bytes = concat([encode(1), encode(big), encode("after")]);
    const stream = new MsgpackDecoderStream();
    const out = await collect(streamOf(pieces(bytes, 16 * 1024)).pipeThrough(stream));
    expect(out).toHaveLength(3);
    expect(out[0]).toBe(1);
    expect(out[2]).toBe("after");
    const bin = out[1] as Uint8Array;
    expect(bin.length).toBe(big.length);
    expect(bin[4093]).toBe(4093 & 255);
    expect(bin[big.length - 1]).toBe(big[big.length - 1]);
    // Each byte is looked at (or skipped over) about once, and the decoder runs once per piece of work,
    // not once per chunk: no re-scanning of the growing value.
    const work = workOf(stream);
    expect(work.scannedBytes).toBeLessThanOrEqual(bytes.length + 16);
    expect(work.decodeCalls).toBeLessThanOrEqual(3);
  });

  test("MsgpackDecoderStream scans a large array of small items arriving in small chunks once", async () => {
    const value = Array.from({ length: 50_000 }, (_, i) => ({ i, s: "v" + i }));
    const bytes = encode(value);
    const stream = new MsgpackDecoderStream();
    const out = await collect(streamOf(pieces(bytes, 100)).pipeThrough(stream));
    expect(out).toEqual([value]);
    expect(workOf(stream).scannedBytes).toBeLessThanOrEqual(bytes.length);
    expect(workOf(stream).decodeCalls).toBe(1);
  });

  test("MsgpackDecoderStream decodes many small values per chunk in one decoder call per chunk", async () => {
    const values = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const bytes = encodeAll(values);
    const stream = new MsgpackDecoderStream();
    expect(await collect(streamOf(pieces(bytes, 1024)).pipeThrough(stream))).toEqual(values);
    expect(workOf(stream).decodeCalls).toBeLessThanOrEqual(2 * Math.ceil(bytes.length / 1024));
    expect(workOf(stream).scannedBytes).toBeLessThanOrEqual(bytes.length + 1024 * Math.ceil(bytes.length / 1024));
  });

  test("MsgpackDecoderStream waits for the reader when one chunk holds more values than it queues", async () => {
    const count = 20_000;
    const bytes = new Uint8Array(count).map((_, i) => i & 127);
    const stream = new MsgpackDecoderStream();
    const writer = stream.writable.getWriter();
    let written = false;
    const write = writer.write(bytes).then(() => (written = true));
    await delay(50);
    expect(written).toBe(false);
    const reader = stream.readable.getReader();
    let mismatches = 0;
    for (let i = 0; i < count; i++) if ((await reader.read()).value !== (i & 127)) mismatches++;
    expect(mismatches).toBe(0);
    await write;
    expect(written).toBe(true);
    await writer.close();
    expect((await reader.read()).done).toBe(true);
  });

  test("MsgpackDecoderStream returns binaries that later input never overwrites", async () => {
    const values = [sequence(100, 1), sequence(100, 2), sequence(100, 3)];
    const out = (await decodeChunks(pieces(encodeAll(values), 33))) as Uint8Array[];
    expect(out).toEqual(values);
  });

  test("MsgpackDecoderStream errors with a RangeError saying how many bytes were left when input ends inside a value", async () => {
    const bytes = concat([encode("ok"), encode({ a: "x".repeat(40) })]);
    const truncated = bytes.subarray(0, bytes.length - 5);
    const seen: unknown[] = [];
    const reader = streamOf([truncated.subarray(0, 10), truncated.subarray(10)]).pipeThrough(new MsgpackDecoderStream()).getReader();
    const error = await (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) seen.push(r.value);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["ok"]);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      `MsgpackDecoderStream: the input ended inside a MessagePack value, with ${truncated.length - 3} bytes of it left over (at least 5 more were needed)`,
    );
    await expect(decodeChunks([new Uint8Array([0x92, 0x01])])).rejects.toThrow(/with 2 bytes of it left over/);
  });

  test("MsgpackDecoderStream's maxStrLength counts a string's bytes in the input, also for invalid UTF-8 (decoded as decodeMulti does)", async () => {
    // A str 8 of 51 bytes: NULs, lone continuation bytes, and a 4-byte lead as its last byte (found by the fuzz suite).
    const payload = new Uint8Array(51);
    for (const i of [19, 21, 28, 31, 34, 35, 38, 43, 45, 48, 49]) payload[i] = 0x80;
    payload[50] = 0xf1;
    const bytes = concat([new Uint8Array([0xd9, 51]), payload]);
    const expected = [...decodeMulti(bytes)];
    // Its decoded form is longer than 51 in UTF-16 units and in re-encoded UTF-8 bytes; the limit is on the input.
    expect((expected[0] as string).length).toBeGreaterThan(51);
    expect(await decodeChunks([bytes], { maxStrLength: 51 })).toEqual(expected);
    expect(await decodeChunks(pieces(bytes, 1), { maxStrLength: 51 })).toEqual(expected);
    await expect(decodeChunks([bytes], { maxStrLength: 50 })).rejects.toThrow(/a str of 51 bytes exceeds maxStrLength \(50\)/);
  });

  test("MsgpackDecoderStream errors as soon as a header announces a length past a limit", async () => {
    const cases: [Uint8Array, MsgpackDecoderOptions, RegExp][] = [
      [new Uint8Array([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61]), {}, /a str of 2147483647 bytes exceeds maxStrLength \(16777216\)/],
      [new Uint8Array([0xc6, 0x10, 0, 0, 0, 0]), {}, /a bin of 268435456 bytes exceeds maxBinLength \(67108864\)/],
      [new Uint8Array([0xc9, 0, 0, 1, 0, 5]), { maxExtLength: 10 }, /a ext of 256 bytes exceeds maxExtLength \(10\)/],
      [new Uint8Array([0xdd, 0, 0x20, 0, 0, 1]), {}, /a array of 2097152 elements exceeds maxArrayLength \(1048576\)/],
      [new Uint8Array([0x91, 0xde, 0, 20, 1]), { maxMapLength: 16 }, /a map of 20 entries exceeds maxMapLength \(16\)/],
      [new Uint8Array([0xc6, 0, 0x10, 0, 0, 1]), { maxValueSize: 65536 }, /a value of at least 1048581 bytes exceeds maxValueSize \(65536\)/],
    ];
    for (const [bytes, options, pattern] of cases) {
      // Only the header and a byte of payload arrive, and the source never ends: the error must come anyway.
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes);
        },
      });
      const error = await collect(source.pipeThrough(new MsgpackDecoderStream(options))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toMatch(pattern);
    }
  });

  test("MsgpackDecoderStream does not allocate what a header announces before the bytes arrive", async () => {
    const stream = new MsgpackDecoderStream();
    const writer = stream.writable.getWriter();
    const read = stream.readable.getReader().read();
    // A bin32 header announcing 60 MiB (within maxBinLength), then 10 bytes of it.
    await writer.write(new Uint8Array([0xc6, 0x03, 0xc0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect(workOf(stream).capacity).toBeGreaterThan(0);
    expect(workOf(stream).capacity).toBeLessThanOrEqual(4096);
    await writer.abort(new Error("stop"));
    await expect(read).rejects.toThrow("stop");
  });

  test("MsgpackDecoderStream errors past maxValueSize while a value made of small items keeps arriving", async () => {
    const bytes = encode(Array.from({ length: 10_000 }, (_, i) => i));
    await expect(decodeChunks(pieces(bytes, 500), { maxValueSize: 4096 })).rejects.toThrow(/exceeds maxValueSize \(4096\)/);
    expect(await decodeChunks(pieces(bytes, 500), { maxValueSize: bytes.length })).toHaveLength(1);
  });

  test("MsgpackDecoderStream takes maxValueBytes, and maxValueSize as its deprecated name", async () => {
    const bytes = encode(Array.from({ length: 10_000 }, (_, i) => i));
    await expect(decodeChunks(pieces(bytes, 500), { maxValueBytes: 4096 })).rejects.toThrow(/exceeds maxValueBytes \(4096\)/);
    expect(await decodeChunks(pieces(bytes, 500), { maxValueBytes: bytes.length })).toHaveLength(1);
    expect(new MsgpackDecoderStream({ maxValueSize: 10 }).limits.maxValueBytes).toBe(10);
    expect(new MsgpackDecoderStream({ maxValueBytes: 10 }).limits.maxValueSize).toBe(10);
    expect(new MsgpackDecoderStream({ maxValueBytes: 10, maxValueSize: 10 }).limits.maxValueBytes).toBe(10);
    expect(() => new MsgpackDecoderStream({ maxValueBytes: 10, maxValueSize: 20 })).toThrow(
      "Cannot construct MsgpackDecoderStream: maxValueSize is the former name of maxValueBytes; got both, and they differ (20 and 10)",
    );
    expect(() => new MsgpackDecoderStream({ maxValueBytes: -1 })).toThrow(/maxValueBytes must be a non-negative safe integer/);
  });

  test("MsgpackDecoderStream errors at the header of a container nested past maxDepth, however the input is cut", async () => {
    const deep = (levels: number): Uint8Array => concat([new Uint8Array(levels - 1).fill(0x91), new Uint8Array([0x90])]);
    // How many arrays of one element nest down to an empty one; -1 for any other shape.
    // Walked in a loop: a recursive deep equality of 5000 levels overflows workerd's stack.
    const levelsOf = (values: unknown[]): number => {
      if (values.length !== 1) return -1;
      let v = values[0];
      let levels = 1;
      for (; Array.isArray(v) && v.length === 1; levels++) v = v[0];
      return Array.isArray(v) && v.length === 0 ? levels : -1;
    };
    expect(levelsOf(await decodeChunks([deep(1000)]))).toBe(1000);
    for (const chunks of [[deep(1001)], pieces(deep(1001), 7), pieces(deep(1001), 1)]) {
      const error = await decodeChunks(chunks).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe("MsgpackDecoderStream: an array or map at stream offset 1000 nests deeper than maxDepth (1000 levels)");
    }
    // Maps count, and so do empty containers; a scalar at the deepest level is fine.
    const maps = new Uint8Array([0x81, 0xa1, 0x61, 0x81, 0xa1, 0x62, 0x80]);
    expect(await decodeChunks([maps], { maxDepth: 3 })).toEqual([{ a: { b: {} } }]);
    await expect(decodeChunks([maps], { maxDepth: 2 })).rejects.toThrow("at stream offset 6 nests deeper than maxDepth (2 levels)");
    expect(await decodeChunks([new Uint8Array([0x91, 0x91, 1])], { maxDepth: 2 })).toEqual([[[1]]]);
    expect(await decodeChunks([new Uint8Array([1, 2])], { maxDepth: 0 })).toEqual([1, 2]);
    await expect(decodeChunks([new Uint8Array([0x90])], { maxDepth: 0 })).rejects.toThrow(RangeError);
    // A stream that never ends still errors as soon as the header arrives.
    const source = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(20).fill(0x91)) });
    await expect(collect(source.pipeThrough(new MsgpackDecoderStream({ maxDepth: 10 })))).rejects.toThrow(/maxDepth \(10 levels\)/);
    expect(levelsOf(await decodeChunks([deep(5000)], { maxDepth: Infinity }))).toBe(5000);
    expect(() => new MsgpackDecoderStream({ maxDepth: -1 })).toThrow(/maxDepth must be a non-negative safe integer or Infinity/);
  });

  test("MsgpackDecoderStream errors with a DecodeError naming the stream offset of a byte that is not MessagePack", async () => {
    const bytes = concat([encode({ a: [1, 2] }), new Uint8Array([0x93, 1, 0xc1, 3])]);
    for (const chunks of [[bytes], pieces(bytes, 1), pieces(bytes, 4)]) {
      const error = await decodeChunks(chunks).catch((e) => e);
      expect(error).toBeInstanceOf(DecodeError);
      expect(error.message).toBe("MsgpackDecoderStream: byte 0xc1 at stream offset 8 is not MessagePack (that type byte is never used)");
    }
  });

  test("MsgpackDecoderStream errors with the library's DecodeError and the stream bytes it came from", async () => {
    // A timestamp extension (type -1) of 3 bytes: the decoder knows only 4, 8 and 12.
    const bad = new Uint8Array([0xc7, 3, 0xff, 0, 0, 0]);
    for (const chunks of [[encode("ok"), bad], [concat([encode("ok"), bad])], pieces(concat([encode("ok"), bad]), 2)]) {
      const error = await decodeChunks(chunks).catch((e) => e);
      expect(error).toBeInstanceOf(DecodeError);
      expect(error.message).toMatch(/^MsgpackDecoderStream: cannot decode the values in stream bytes (0|3) to 9: .*timestamp/);
    }
  });

  test("MsgpackDecoderStream rejects bad limits at construction and a chunk that is not bytes", async () => {
    expect(() => new MsgpackDecoderStream({ maxStrLength: -1 })).toThrow(
      "Cannot construct MsgpackDecoderStream: maxStrLength must be a non-negative safe integer or Infinity, got number -1",
    );
    expect(() => new MsgpackDecoderStream({ maxValueSize: 1.5 })).toThrow(RangeError);
    expect(new MsgpackDecoderStream({ maxBinLength: Infinity }).limits.maxBinLength).toBe(Infinity);
    expect(new MsgpackDecoderStream().limits).toEqual({
      maxStrLength: 16 * 2 ** 20, maxBinLength: 64 * 2 ** 20, maxArrayLength: 2 ** 20, maxMapLength: 2 ** 20,
      maxExtLength: 64 * 2 ** 20, maxValueSize: 128 * 2 ** 20, maxValueBytes: 128 * 2 ** 20, maxDepth: 1000,
    });
    await expect(decodeChunks(["x" as unknown as Uint8Array])).rejects.toThrow(
      "MsgpackDecoderStream expects Uint8Array chunks, got string \"x\"",
    );
  });

  test("MsgpackDecoderStream passes options through: extension codecs and useBigInt64", async () => {
    const codec = new ExtensionCodec();
    codec.register({
      type: 7,
      encode: (v) => (v instanceof Set ? encode([...v]) : null),
      decode: (data) => new Set(decode(data) as unknown[]),
    });
    const bytes = concat([encode(new Set([1, 2]), { extensionCodec: codec }), encode(2n ** 63n - 1n, { useBigInt64: true })]);
    const out = await decodeChunks(pieces(bytes, 3), { extensionCodec: codec, useBigInt64: true });
    expect(out).toEqual([new Set([1, 2]), 2n ** 63n - 1n]);
  });

  test("MsgpackDecoderStream passes cancellation through to the source with the reason", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(encode({ tick: 1 }));
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const reader = source.pipeThrough(new MsgpackDecoderStream()).getReader();
    expect((await reader.read()).value).toEqual({ tick: 1 });
    const reason = new Error("stop");
    await reader.cancel(reason);
    expect(await cancelled.promise).toBe(reason);
  });
});

describe("MsgpackEncoderStream", () => {
  test("MsgpackEncoderStream emits the concatenation of each value's encoding", async () => {
    const chunks = await encodeValues(assorted);
    expect(sameBytes(concat(chunks), encodeAll(assorted))).toBe(true);
  });

  test("MsgpackEncoderStream packs small values into chunks of up to chunkSize and sends a large value alone", async () => {
    const values = [...Array.from({ length: 500 }, (_, i) => ({ i, s: "x".repeat(i % 50) })), sequence(5000), 1, 2];
    const chunks = await encodeValues(values, { chunkSize: 1024 });
    for (const c of chunks) expect(c.length === 5003 || c.length <= 1024).toBe(true);
    expect(chunks.length).toBeLessThan(60);
    expect(chunks.some((c) => c.length === 5003)).toBe(true);
    expect(concat(chunks)).toEqual(encodeAll(values));
  });

  test("MsgpackEncoderStream emits chunks the reader can keep: none is overwritten by later values", async () => {
    const values = Array.from({ length: 300 }, (_, i) => ({ i, pad: "p".repeat(i) }));
    for (const chunkSize of [0, 64, 4096]) {
      const chunks = await encodeValues(values, { chunkSize });
      const buffers = new Set(chunks.map((c) => c.buffer));
      expect(buffers.size).toBe(chunks.length);
      expect([...decodeMulti(concat(chunks))]).toEqual(values);
    }
  });

  test("MsgpackEncoderStream with chunkSize 0 emits one chunk per value", async () => {
    const chunks = await encodeValues(["a", { b: 1 }, [2]], { chunkSize: 0 });
    expect(chunks).toEqual([encode("a"), encode({ b: 1 }), encode([2])]);
  });

  test("MsgpackEncoderStream sends a value written alone without waiting for more values or the end", async () => {
    const encoder = new MsgpackEncoderStream();
    const writer = encoder.writable.getWriter();
    const reader = encoder.readable.getReader();
    const read = reader.read();
    await writer.write({ hello: "world" });
    expect((await read).value).toEqual(encode({ hello: "world" }));
    await writer.close();
    expect((await reader.read()).done).toBe(true);
  });

  test("MsgpackEncoderStream errors with a TypeError naming the value it cannot encode", async () => {
    const fn = await encodeValues([1, () => 2]).catch((e) => e);
    expect(fn).toBeInstanceOf(TypeError);
    expect(fn.message).toBe("MsgpackEncoderStream: cannot encode value 1, function: Unrecognized object: [object Function]");
    expect(fn.cause).toBeInstanceOf(Error);
    await expect(encodeValues(["a", "b", 10n])).rejects.toThrow(
      "MsgpackEncoderStream: cannot encode value 2, bigint 10 (pass useBigInt64: true to encode bigints as 64-bit integers): Unrecognized object: [object BigInt]",
    );
    await expect(encodeValues([Symbol("s")])).rejects.toThrow(TypeError);
    const deep: unknown[] = [];
    let inner = deep;
    for (let i = 0; i < 200; i++) inner.push((inner = []));
    await expect(encodeValues([deep])).rejects.toThrow(/cannot encode value 0, Array: Too deep/);
  });

  test("MsgpackEncoderStream passes options through: useBigInt64, extension codecs, sortKeys", async () => {
    const codec = new ExtensionCodec();
    codec.register({ type: 3, encode: (v) => (v instanceof Map ? encode([...v]) : null), decode: (d) => new Map(decode(d) as []) });
    const bytes = concat(await encodeValues([10n, new Map([["k", 1]]), { b: 1, a: 2 }], { useBigInt64: true, extensionCodec: codec, sortKeys: true }));
    expect([...decodeMulti(bytes, { useBigInt64: true, extensionCodec: codec })]).toEqual([10n, new Map([["k", 1]]), { a: 2, b: 1 }]);
    // sortKeys wrote "a" before "b".
    expect(Object.keys([...decodeMulti(bytes, { useBigInt64: true, extensionCodec: codec })][2] as object)).toEqual(["a", "b"]);
  });

  test("MsgpackEncoderStream rejects a bad chunkSize at construction", () => {
    expect(() => new MsgpackEncoderStream({ chunkSize: -1 })).toThrow(
      "Cannot construct MsgpackEncoderStream: chunkSize must be a non-negative safe integer, got number -1",
    );
    expect(() => new MsgpackEncoderStream({ chunkSize: 0.5 })).toThrow(RangeError);
    expect(new MsgpackEncoderStream().chunkSize).toBe(65536);
  });

  test("MsgpackEncoderStream passes cancellation through to the source with the reason", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<unknown>({
      pull(c) {
        c.enqueue({ tick: 1 });
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const reader = source.pipeThrough(new MsgpackEncoderStream({ chunkSize: 0 })).getReader();
    await reader.read();
    const reason = new Error("stop");
    await reader.cancel(reason);
    expect(await cancelled.promise).toBe(reason);
  });
});

describe("MessagePack interoperability and round trips", () => {
  const interop = [
    { id: "0xabc", amounts: ["1", "2"], n: 42, f: 1.5, neg: -300, ok: true, none: null },
    "é".repeat(100),
    Array.from({ length: 100 }, (_, i) => i * 1000),
    { nested: { deep: [[["x"]]] } },
    2 ** 40,
  ];

  test("MsgpackDecoderStream decodes what msgpackr encodes", async () => {
    const packr = new Packr({ useRecords: false });
    const bytes = concat(interop.map((v) => packr.pack(v)));
    expect(await decodeChunks(pieces(bytes, 5))).toEqual(interop);
  });

  test("msgpackr decodes what MsgpackEncoderStream encodes", async () => {
    const bytes = concat(await encodeValues(interop, { chunkSize: 64 }));
    expect(new Unpackr({ useRecords: false, int64AsType: "number" }).unpackMultiple(bytes)).toEqual(interop);
  });

  test("timestamps interoperate with msgpackr in all three sizes", async () => {
    // 32-bit seconds, 64-bit with nanoseconds, 96-bit for times before 1970 or after 2514.
    const dates = [new Date(0), new Date(1e12), new Date(1_700_000_000_123), new Date(Date.UTC(2600, 0, 1)), new Date(-1000), new Date(-1)];
    const packr = new Packr({ useRecords: false });
    const theirs = concat(dates.map((d) => packr.pack(d)));
    expect(await decodeChunks(pieces(theirs, 3))).toEqual(dates);
    const ours = concat(await encodeValues(dates));
    expect(new Unpackr({ useRecords: false }).unpackMultiple(ours)).toEqual(dates);
    // Both sides use the timestamp extension type, -1.
    expect(EXT_TIMESTAMP).toBe(-1);
    expect(ours[1]).toBe(0xff);
  });

  test("64-bit integers interoperate with msgpackr as bigints with useBigInt64", async () => {
    const big = [1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, -5n];
    const theirs = concat(big.map((n) => new Packr({ useRecords: false }).pack(n)));
    expect(await decodeChunks(pieces(theirs, 5), { useBigInt64: true })).toEqual(big);
    const ours = concat(await encodeValues(big, { useBigInt64: true }));
    expect(new Unpackr({ useRecords: false, int64AsType: "bigint" }).unpackMultiple(ours)).toEqual(big);
    // Without useBigInt64, 64-bit integers decode as numbers (as @msgpack/msgpack documents).
    expect(await decodeChunks([new Packr({ useRecords: false }).pack(2n ** 40n)])).toEqual([2 ** 40]);
  });

  test("extension types interoperate with msgpackr both ways", async () => {
    class Point {
      constructor(readonly x: number, readonly y: number) {}
    }
    addExtension({
      Class: Point,
      type: 42,
      pack: (p: Point) => new Uint8Array([p.x, p.y]),
      unpack: (data: Uint8Array) => new Point(data[0]!, data[1]!),
    });
    const codec = new ExtensionCodec();
    codec.register({
      type: 42,
      encode: (v) => (v instanceof Point ? new Uint8Array([v.x, v.y]) : null),
      decode: (data) => new Point(data[0]!, data[1]!),
    });
    const points = [new Point(1, 2), { at: new Point(200, 4) }];
    const theirs = concat(points.map((p) => new Packr({ useRecords: false }).pack(p)));
    expect(await decodeChunks(pieces(theirs, 2), { extensionCodec: codec })).toEqual(points);
    const ours = concat(await encodeValues(points, { extensionCodec: codec }));
    expect(new Unpackr({ useRecords: false }).unpackMultiple(ours)).toEqual(points);
  });

  // MessagePack keeps neither -0 (it becomes an integer 0) nor a "__proto__" key (decoded as a plain property
  // it would not compare equal), so the generated JSON values leave those out.
  const plain = (v: unknown): boolean => {
    if (Object.is(v, -0)) return false;
    if (Array.isArray(v)) return v.every(plain);
    if (v !== null && typeof v === "object") return Object.entries(v).every(([k, x]) => k !== "__proto__" && plain(x));
    return true;
  };

  test("MsgpackEncoderStream -> MsgpackDecoderStream round trips JSON values cut anywhere", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue({ maxDepth: 3 }).filter(plain), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat({ max: 300 }),
        async (values, cuts, chunkSize) => {
          const bytes = concat(await encodeValues(values, { chunkSize }));
          const out = await decodeChunks(cutAt(bytes, cuts.map((c) => c % (bytes.length + 1))));
          expect(out).toEqual(values);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("MsgpackEncoderStream -> MsgpackDecoderStream round trips strings, binaries and numbers of any size class", async () => {
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.tuple(fc.nat({ max: 3000 }), fc.nat({ max: 255 })).map(([length, start]) => sequence(length, start)),
      fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(value, { maxLength: 6 }), fc.integer({ min: 50, max: 5000 }), async (values, size) => {
        const bytes = concat(await encodeValues(values));
        expect(await decodeChunks(pieces(bytes, size))).toEqual(values);
      }),
      { numRuns: 60 },
    );
  });
});

describe("MessagePack options", () => {
  test("MsgpackEncoderStream and MsgpackDecoderStream refuse an options argument that is not an object, naming it", () => {
    for (const bad of [null, 5, "x"]) {
      expect(() => new MsgpackEncoderStream(bad as never)).toThrow(new TypeError(`Cannot construct MsgpackEncoderStream: options must be an object, got ${bad === null ? "null" : typeof bad === "number" ? "number 5" : 'string "x"'}`));
      expect(() => new MsgpackDecoderStream(bad as never)).toThrow(TypeError);
    }
    expect(() => new MsgpackDecoderStream(null as never)).toThrow("Cannot construct MsgpackDecoderStream: options must be an object, got null");
  });
});
