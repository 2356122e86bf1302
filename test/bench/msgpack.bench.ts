// MessagePack streams against @msgpack/msgpack on the whole value at once (the
// goal: at least 0.9x of each), against a per-value encode() stream (the other
// way to never enqueue a shared view), and against the library's own stream
// decoder, on the orders of a ~20 MB auction and on one 16 MiB binary.
import { Decoder, decode, decodeMultiStream, encode, Encoder } from "@msgpack/msgpack";
import { makeAuction } from "../../demo/auction.ts";
import { MsgpackDecoderStream, MsgpackEncoderStream } from "../../lib/msgpack.ts";
import { main, suite } from "./_harness.ts";

function source<T>(items: readonly T[]): ReadableStream<T> {
  let i = 0;
  return new ReadableStream<T>({
    pull(c) {
      if (i < items.length) c.enqueue(items[i++]!);
      else c.close();
    },
  }, { highWaterMark: 0 });
}

async function drainBytes(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  return bytes;
}

async function drainValues(stream: ReadableStream<unknown>): Promise<number> {
  const reader = stream.getReader();
  let n = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) n++;
  return n;
}

function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; o += size) out.push(bytes.subarray(o, o + size));
  return out;
}

function check(got: number, want: number, what: string): void {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
}

/** A TransformStream that calls Encoder.encode (a fresh copy per value) and enqueues each result. */
function perValueEncodeStream(): TransformStream<unknown, Uint8Array> {
  const encoder = new Encoder();
  return new TransformStream({ transform: (v, c) => c.enqueue(encoder.encode(v)) });
}

const orders = () => makeAuction(20e6).orders;
const one = new Uint8Array(1);
let encodedLength = 0;

suite({
  title: "encode: the orders of a 20 MB auction",
  input: () => {
    const o = orders();
    encodedLength = encode(o).length;
    return o;
  },
  bytes: () => encodedLength,
  runs: 9,
  cases: {
    "encode(whole array)": (o) => check(encode(o).length, encodedLength, "encode"),
    "MsgpackEncoderStream (64 KiB chunks)": async (o) =>
      check(await drainBytes(source(o).pipeThrough(new MsgpackEncoderStream())), encodedLength - 3, "stream"),
    "MsgpackEncoderStream (chunkSize 0: a chunk per value)": async (o) =>
      check(await drainBytes(source(o).pipeThrough(new MsgpackEncoderStream({ chunkSize: 0 }))), encodedLength - 3, "stream0"),
    "MsgpackEncoderStream, values written with writer.write": async (o) => {
      const stream = new MsgpackEncoderStream();
      const drained = drainBytes(stream.readable);
      const writer = stream.writable.getWriter();
      for (const v of o) {
        if (writer.desiredSize! <= 0) await writer.ready;
        void writer.write(v);
      }
      await writer.close();
      check(await drained, encodedLength - 3, "writer");
    },
    "identity TransformStream, values in, 1-byte chunks out (the per-value floor of a stream)": async (o) =>
      check(
        await drainBytes(source(o).pipeThrough(new TransformStream<unknown, Uint8Array>({ transform: (_, c) => c.enqueue(one) }))),
        o.length,
        "identity",
      ),
    "TransformStream + Encoder.encode per value": async (o) =>
      check(await drainBytes(source(o).pipeThrough(perValueEncodeStream())), encodedLength - 3, "perValue"),
  },
});

suite({
  title: "decode: the orders of a 20 MB auction, in 64 KiB chunks",
  input: () => {
    const o = orders();
    const whole = encode(o);
    // The same orders as a stream of values: the array's elements without its 3-byte header.
    const stream = whole.subarray(3);
    return { whole, count: o.length, chunks: pieces(stream, 65536), chunks16: pieces(stream, 16384) };
  },
  bytes: (i) => i.whole.length,
  runs: 9,
  cases: {
    "decode(whole array)": (i) => check((decode(i.whole) as unknown[]).length, i.count, "decode"),
    "MsgpackDecoderStream (64 KiB chunks)": async (i) =>
      check(await drainValues(source(i.chunks).pipeThrough(new MsgpackDecoderStream())), i.count, "stream"),
    "MsgpackDecoderStream (16 KiB chunks)": async (i) =>
      check(await drainValues(source(i.chunks16).pipeThrough(new MsgpackDecoderStream())), i.count, "stream16"),
    "@msgpack/msgpack decodeMultiStream (64 KiB chunks)": async (i) => {
      let n = 0;
      for await (const _ of decodeMultiStream(source(i.chunks))) n++;
      check(n, i.count, "decodeMultiStream");
    },
  },
});

const BIN = 16 * 2 ** 20;
suite({
  title: "decode: one 16 MiB binary in 16 KiB chunks",
  input: () => {
    const bin = new Uint8Array(BIN);
    for (let i = 0; i < BIN; i += 4096) bin[i] = i & 255;
    const whole = encode(bin);
    return { whole, chunks: pieces(whole, 16384) };
  },
  bytes: BIN,
  runs: 5,
  warmup: 2,
  cases: {
    "join the chunks, then decode": (i) => {
      const joined = new Uint8Array(i.whole.length);
      let o = 0;
      for (const c of i.chunks) {
        joined.set(c, o);
        o += c.length;
      }
      check((decode(joined) as Uint8Array).length, BIN, "join");
    },
    "decode(whole) (zero-copy view)": (i) => check((new Decoder().decode(i.whole) as Uint8Array).length, BIN, "decode"),
    "MsgpackDecoderStream": async (i) =>
      check(await drainValues(source(i.chunks).pipeThrough(new MsgpackDecoderStream())), 1, "stream"),
    "identity TransformStream over the same chunks (the stream's floor)": async (i) =>
      check(await drainValues(source(i.chunks).pipeThrough(new TransformStream())), i.chunks.length, "identity"),
    "@msgpack/msgpack decodeMultiStream": async (i) => {
      let n = 0;
      for await (const _ of decodeMultiStream(source(i.chunks))) n++;
      check(n, 1, "decodeMultiStream");
    },
  },
});

await main(import.meta.url);
