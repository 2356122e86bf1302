// JsonItemStream selecting `$.orders[*]` of a 100 MB generated auction (demo/auction.ts), fed in
// 64 KiB chunks, against JSON.parse of the whole text (its UTF-8 decode counted, as the stream's
// is) and against the streaming peers selecting the same path: @streamparser/json (web-style
// write/onValue) and stream-json (Node streams: parser + pick + streamArray). Then the build
// step alone, measured to choose it: JSON.parse of each value's bytes (what the stream does)
// against a decoder that builds values straight from the bytes. First, while the process is
// fresh, a 1 GB document of orders generated as it is read, parsed with bounded memory.
import { Readable } from "node:stream";
import { JSONParser } from "@streamparser/json";
import { parser as streamJsonParser } from "stream-json";
import { pick } from "stream-json/filters/pick.js";
import { streamArray } from "stream-json/streamers/stream-array.js";
import chain from "stream-chain";
import { makeAuction } from "../../demo/auction.ts";
import { JsonItemStream } from "../../lib/json_items.ts";
import { JsonScanner } from "../../lib/_json_scan.ts";
import { main, median, suite } from "./_harness.ts";

const CHUNK = 65536;
const LIMITS = { maxDepth: 1000, maxStringLength: 2 ** 24, maxNumberLength: 1024, maxValueBytes: 2 ** 27 };

interface Input {
  whole: Uint8Array;
  chunks: Uint8Array[];
  orders: number;
}

function input(mb: number): Input {
  const auction = makeAuction(mb * 1e6);
  const whole = new TextEncoder().encode(JSON.stringify(auction));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < whole.length; i += CHUNK) chunks.push(whole.subarray(i, i + CHUNK));
  return { whole, chunks, orders: auction.orders.length };
}

function source(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (i < chunks.length) c.enqueue(chunks[i++]!);
        else c.close();
      },
    },
    { highWaterMark: 0 },
  );
}

function check(got: number, want: number): number {
  if (got !== want) throw new Error(`counted ${got} orders, expected ${want}`);
  return got;
}

async function sluice(chunks: Uint8Array[], orders: number): Promise<number> {
  const reader = source(chunks).pipeThrough(new JsonItemStream("$.orders[*]")).getReader();
  let n = 0;
  let validTo = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    n++;
    validTo += (r.value.value as { validTo: number }).validTo;
  }
  return check(n, orders) + (validTo > 0 ? 0 : 1);
}

function jsonParse(whole: Uint8Array, orders: number): number {
  const value = JSON.parse(new TextDecoder().decode(whole)) as { orders: unknown[] };
  return check(value.orders.length, orders);
}

function streamparser(chunks: Uint8Array[], orders: number): number {
  const parser = new JSONParser({ paths: ["$.orders.*"], keepStack: false });
  let n = 0;
  parser.onValue = () => void n++;
  for (const c of chunks) parser.write(c);
  // It ends by itself after the top-level value; end() is for a text that stopped short.
  if (!parser.isEnded) parser.end();
  return check(n, orders);
}

function streamJson(chunks: Uint8Array[], orders: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const pipeline = chain([Readable.from(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.length))), streamJsonParser(), pick({ filter: "orders" }), streamArray()]);
    pipeline.on("data", () => void n++);
    pipeline.on("error", reject);
    pipeline.on("end", () => resolve(check(n, orders)));
  });
}

/** The scanner alone, with onValue given: what the stream costs without its stream plumbing. */
function scan(chunks: Uint8Array[], onValue: (text: string) => void): void {
  const scanner = new JsonScanner("bench", [[{ name: "orders" }, { any: true }]], LIMITS, (_s, _k, text) => onValue(text));
  for (const c of chunks) {
    scanner.run(c, 0, Infinity);
    scanner.endChunk(c);
  }
  scanner.end();
}

const decoder = new TextDecoder();

/**
 * A value built straight from its (already validated) bytes, as the alternative to
 * JSON.parse(TextDecoder.decode(bytes)): ASCII strings without escapes from their bytes,
 * others through TextDecoder and JSON.parse, numbers with Number(), member names cached.
 */
function decodeBytes(b: Uint8Array): unknown {
  let i = 0;
  const names = new Map<number, string>();
  const space = () => {
    let c = b[i]!;
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++i]!;
  };
  const text = (start: number, end: number): string => {
    if (end - start <= 32) {
      let s = "";
      for (let k = start; k < end; k++) s += String.fromCharCode(b[k]!);
      return s;
    }
    return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  };
  const string = (): string => {
    const start = ++i;
    for (;;) {
      const c = b[i]!;
      if (c === 0x22) return text(start, i++);
      if (c === 0x5c || c >= 0x80) break;
      i++;
    }
    while (b[i] !== 0x22) i += b[i] === 0x5c ? 2 : 1;
    return JSON.parse(decoder.decode(b.subarray(start - 1, ++i))) as string;
  };
  const name = (): string => {
    // Names are short and repeat: cache them by length and first bytes.
    const start = i + 1;
    let end = start;
    let hash = 0;
    while (b[end] !== 0x22 && b[end] !== 0x5c && b[end]! < 0x80) hash = (hash * 31 + b[end++]!) | 0;
    if (b[end] !== 0x22 || end - start > 24) return string();
    const k = hash * 64 + (end - start);
    let s = names.get(k);
    if (s === undefined || s.length !== end - start) names.set(k, (s = text(start, end)));
    i = end + 1;
    return s;
  };
  const value = (): unknown => {
    space();
    const c = b[i]!;
    if (c === 0x22) return string();
    if (c === 0x7b) {
      i++;
      const o: Record<string, unknown> = {};
      space();
      if (b[i] === 0x7d) return i++, o;
      for (;;) {
        space();
        const k = name();
        space();
        i++; // :
        const v = value();
        if (k === "__proto__") Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
        else o[k] = v;
        space();
        if (b[i++] === 0x7d) return o;
      }
    }
    if (c === 0x5b) {
      i++;
      const a: unknown[] = [];
      space();
      if (b[i] === 0x5d) return i++, a;
      for (;;) {
        a.push(value());
        space();
        if (b[i++] === 0x5d) return a;
      }
    }
    if (c === 0x74) return (i += 4), true;
    if (c === 0x66) return (i += 5), false;
    if (c === 0x6e) return (i += 4), null;
    const start = i;
    while (i < b.length && ((b[i]! >= 0x30 && b[i]! <= 0x39) || b[i] === 0x2d || b[i] === 0x2b || b[i] === 0x2e || (b[i]! | 0x20) === 0x65)) i++;
    return Number(text(start, i));
  };
  return value();
}

// About 1 GB: a header, then the same ~1 MB block of orders over and over, made as it is read.
interface Generated {
  head: Uint8Array;
  block: Uint8Array;
  tail: Uint8Array;
  repeats: number;
  orders: number;
}

function generated(): Generated {
  const sample = makeAuction(1e6, 7);
  const encoder = new TextEncoder();
  const text = JSON.stringify(sample.orders).slice(1, -1);
  const block = encoder.encode("," + text);
  const repeats = Math.round(1e9 / block.length);
  return {
    head: encoder.encode(`{"id":7,"tokens":${JSON.stringify(sample.tokens)},"orders":[` + text),
    block,
    tail: encoder.encode("]}"),
    repeats,
    orders: sample.orders.length * (repeats + 1),
  };
}

function generatedSource(g: Generated): ReadableStream<Uint8Array> {
  let repeat = 0;
  let at = 0;
  let stage = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (stage === 0) {
          stage = 1;
          c.enqueue(g.head.slice());
        } else if (stage === 1) {
          // Fresh bytes each pull, as a network or file source hands them over.
          c.enqueue(g.block.slice(at, at + CHUNK));
          at += CHUNK;
          if (at >= g.block.length) {
            at = 0;
            if (++repeat === g.repeats) stage = 2;
          }
        } else if (stage === 2) {
          stage = 3;
          c.enqueue(g.tail.slice());
        } else c.close();
      },
    },
    { highWaterMark: 0 },
  );
}

suite<Generated>({
  title: "1 GB of generated orders, select $.orders[*]",
  input: generated,
  bytes: (g) => g.head.length + g.block.length * g.repeats + g.tail.length,
  runs: 1,
  warmup: 0,
  cases: {
    "JsonItemStream": async (g) => {
      const reader = generatedSource(g).pipeThrough(new JsonItemStream("$.orders[*]")).getReader();
      let n = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) n++;
      return check(n, g.orders);
    },
  },
});

for (const mb of [100]) {
  suite<Input>({
    title: `auction ${mb} MB, select $.orders[*], 64 KiB chunks`,
    input: () => input(mb),
    bytes: (x) => x.whole.length,
    baseline: "TextDecoder + JSON.parse of the whole text",
    runs: 5,
    cases: {
      "JsonItemStream": (x) => sluice(x.chunks, x.orders),
      "TextDecoder + JSON.parse of the whole text": (x) => jsonParse(x.whole, x.orders),
      "@streamparser/json, paths $.orders.*": (x) => streamparser(x.chunks, x.orders),
      "stream-json parser + pick + streamArray (Node streams)": (x) => streamJson(x.chunks, x.orders),
    },
  });
  suite<Input & { bounds: number[] }>({
    title: `auction ${mb} MB: building the selected values (no stream)`,
    input: () => {
      const x = input(mb);
      // Each order's byte range, found by the scanner.
      const bounds: number[] = [];
      const text = new TextDecoder().decode(x.whole);
      const encoder = new TextEncoder();
      let at = encoder.encode(text.slice(0, text.indexOf('"orders":[') + 10)).length;
      for (const order of (JSON.parse(text) as { orders: unknown[] }).orders) {
        const length = encoder.encode(JSON.stringify(order)).length;
        bounds.push(at, at + length);
        at += length + 1;
      }
      return { ...x, bounds };
    },
    bytes: (x) => x.whole.length,
    baseline: "per value: JSON.parse(TextDecoder.decode(its bytes))",
    runs: 5,
    memory: false,
    cases: {
      "JsonScanner alone: values found and their text sliced, not parsed": (x) => scan(x.chunks, () => {}),
      "per value: JSON.parse(TextDecoder.decode(its bytes))": (x) => {
        for (let k = 0; k < x.bounds.length; k += 2) JSON.parse(decoder.decode(x.whole.subarray(x.bounds[k], x.bounds[k + 1])));
      },
      "per 64 KiB chunk: one TextDecoder call, then JSON.parse of each value's slice (the stream's way)": (x) => {
        for (let k = 0; k < x.bounds.length; ) {
          const chunkEnd = (Math.floor(x.bounds[k]! / CHUNK) + 1) * CHUNK;
          let last = k;
          while (last + 2 < x.bounds.length && x.bounds[last + 3]! <= chunkEnd) last += 2;
          const start = x.bounds[k]!;
          const text = decoder.decode(x.whole.subarray(start, x.bounds[last + 1]));
          // The auction's orders are ASCII: byte offsets are string offsets.
          for (let q = k; q <= last; q += 2) JSON.parse(text.slice(x.bounds[q]! - start, x.bounds[q + 1]! - start));
          k = last + 2;
        }
      },
      "per value: built straight from its bytes": (x) => {
        for (let k = 0; k < x.bounds.length; k += 2) decodeBytes(x.whole.subarray(x.bounds[k], x.bounds[k + 1]));
      },
    },
  });
}

// `--cpu`: the 100 MB peers again, timed in process CPU time (user + system, GC threads
// included) instead of wall time, and without the harness's forced GC before each case. On a
// machine shared with other work, wall time mostly measures the wait for a core; CPU time
// measures what each parser costs. (A forced full GC shrinks the heap, and the streaming
// parsers, which allocate many short-lived values, then pay for it: in one process, JsonItemStream
// took 380-410 ms of CPU per run without one and 590-660 ms with one before each run.)
if (process.argv.includes("--cpu")) {
  const x = input(100);
  const peers: Record<string, () => unknown> = {
    "JsonItemStream": () => sluice(x.chunks, x.orders),
    "TextDecoder + JSON.parse of the whole text": () => jsonParse(x.whole, x.orders),
    "@streamparser/json, paths $.orders.*": () => streamparser(x.chunks, x.orders),
    "stream-json parser + pick + streamArray (Node streams)": () => streamJson(x.chunks, x.orders),
  };
  const cpu: Record<string, number[]> = {};
  for (let round = 0; round < 7; round++) {
    for (const [name, run] of Object.entries(peers)) {
      const before = process.cpuUsage();
      await run();
      const used = process.cpuUsage(before);
      if (round >= 2) (cpu[name] ??= []).push((used.user + used.system) / 1000);
    }
  }
  const base = median(cpu["JsonItemStream"]!);
  console.log("\n### auction 100 MB, select $.orders[*], CPU time\n\nmedian of 5 runs after 2 warm-up; ratio = case CPU / JsonItemStream CPU (how many times JsonItemStream's cost)\n");
  console.log("| case | median CPU ms | ratio to JsonItemStream |\n|---|---:|---:|");
  for (const [name, v] of Object.entries(cpu)) console.log(`| ${name} | ${median(v).toFixed(1)} | ${(median(v) / base).toFixed(2)}x |`);
} else {
  await main(import.meta.url);
}
