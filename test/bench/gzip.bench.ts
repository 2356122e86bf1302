// gzip on 100 MB of the auction JSON (demo/auction.ts): GzipStream at levels 1, 6 and 9 on
// this thread and on 1 and 2 threads of the shared pool (the worker started from the build,
// as a user of the package runs it), against fflate.gzipSync on the same bytes and Node's
// zlib.createGzip; the native engine against CompressionStream("gzip"); and the same for
// decompression. Streaming cases get the input in 64 KiB chunks. Each level's suite first
// prints the compressed sizes (GzipStream's block layout against one unbroken deflate stream).
import { Writable, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { Gunzip, gunzipSync, gzipSync } from "fflate";
import { safeDeflate } from "../../lib/_fflate.ts";
import { makeAuction } from "../../demo/auction.ts";
import { GunzipStream, GzipStream } from "../../lib/gzip.ts";
import { builtCompressionWorker } from "./_built.ts";
import { main, suite } from "./_harness.ts";

const TARGET = 100e6;
const CHUNK = 65536;

let json: Uint8Array | undefined;
function auctionJson(): Uint8Array {
  json ??= new TextEncoder().encode(JSON.stringify(makeAuction(TARGET)));
  return json;
}

function pieces(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK) out.push(bytes.subarray(i, i + CHUNK));
  return out;
}

interface Input {
  whole: Uint8Array;
  chunks: Uint8Array[];
}

function source(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else c.close();
    },
  }, { highWaterMark: 0 });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  return bytes;
}

/** Drains through the platform's own stream pair with its own reader and writer. */
async function native(kind: "CompressionStream" | "DecompressionStream", chunks: Uint8Array[]): Promise<number> {
  const t = kind === "CompressionStream" ? new CompressionStream("gzip") : new DecompressionStream("gzip");
  return drain(source(chunks).pipeThrough(t as unknown as TransformStream<Uint8Array, Uint8Array>));
}

async function nodeZlib(chunks: Uint8Array[], transform: zlib.Gzip | zlib.Gunzip): Promise<number> {
  let bytes = 0;
  await pipeline(Readable.from(chunks), transform, new Writable({
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb();
    },
  }));
  return bytes;
}

function fflateGunzipStream(chunks: Uint8Array[]): number {
  let bytes = 0;
  const g = new Gunzip((d) => (bytes += d.length));
  for (let i = 0; i < chunks.length; i++) g.push(chunks[i]!, i === chunks.length - 1);
  return bytes;
}

/** One unbroken deflate stream fed 64 KiB pushes: the layout of GzipStream before blocks. */
function singleStreamSize(chunks: Uint8Array[], level: number): number {
  let bytes = 18;
  const d = safeDeflate(level, (c) => (bytes += c.length));
  for (let i = 0; i < chunks.length; i++) d.push(chunks[i]!, i === chunks.length - 1);
  return bytes;
}

for (const level of [1, 6, 9] as const) {
  suite<Input>({
    title: `gzip level ${level}: 100 MB auction JSON`,
    input: async () => {
      const whole = auctionJson();
      const chunks = pieces(whole);
      if (!process.argv.includes("--memory")) {
        const blocks = await drain(source(chunks).pipeThrough(new GzipStream({ level, workers: 2, worker: builtCompressionWorker })));
        const single = singleStreamSize(chunks, level);
        const sync = gzipSync(whole, { level, mtime: 0 }).length;
        console.log(`\nsizes at level ${level}: GzipStream (256 KiB blocks) ${blocks} bytes, one unbroken stream ${single} (${(100 * (blocks / single - 1)).toFixed(3)}%), fflate.gzipSync ${sync} (${(100 * (blocks / sync - 1)).toFixed(3)}%)`);
      }
      return { whole, chunks };
    },
    bytes: (i) => i.whole.length,
    runs: 3,
    cases: {
      "fflate.gzipSync": (i) => gzipSync(i.whole, { level, mtime: 0 }).length,
      "GzipStream (this thread)": (i) => drain(source(i.chunks).pipeThrough(new GzipStream({ level }))),
      "GzipStream workers: 1": (i) => drain(source(i.chunks).pipeThrough(new GzipStream({ level, workers: 1, worker: builtCompressionWorker }))),
      "GzipStream workers: 2": (i) => drain(source(i.chunks).pipeThrough(new GzipStream({ level, workers: 2, worker: builtCompressionWorker }))),
      "zlib.createGzip": (i) => nodeZlib(i.chunks, zlib.createGzip({ level })),
    },
  });
}

suite<Input>({
  title: "gzip native: 100 MB auction JSON",
  input: () => {
    const whole = auctionJson();
    return { whole, chunks: pieces(whole) };
  },
  bytes: (i) => i.whole.length,
  runs: 3,
  cases: {
    'CompressionStream("gzip")': (i) => native("CompressionStream", i.chunks),
    'GzipStream (engine "native")': (i) => drain(source(i.chunks).pipeThrough(new GzipStream({ engine: "native" }))),
  },
});

suite<Input>({
  title: "gunzip: 100 MB auction JSON (gzipped at level 6)",
  input: () => {
    const whole = gzipSync(auctionJson(), { level: 6 });
    return { whole, chunks: pieces(whole) };
  },
  bytes: () => auctionJson().length,
  runs: 3,
  cases: {
    "fflate.gunzipSync": (i) => gunzipSync(i.whole).length,
    "fflate Gunzip (streaming, unverified)": (i) => fflateGunzipStream(i.chunks),
    "GunzipStream (fflate)": (i) => drain(source(i.chunks).pipeThrough(new GunzipStream())),
    "zlib.createGunzip": (i) => nodeZlib(i.chunks, zlib.createGunzip()),
    'DecompressionStream("gzip")': (i) => native("DecompressionStream", i.chunks),
    'GunzipStream (engine "native")': (i) => drain(source(i.chunks).pipeThrough(new GunzipStream({ engine: "native" }))),
  },
});

await main(import.meta.url);
