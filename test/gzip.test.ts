import fc from "fast-check";
import { gunzipSync, inflateSync as fflateInflate } from "fflate";
import { describe, expect, test } from "vitest";
import { inflateWork } from "../lib/_gunzip.ts";
import { BLOCK_SIZE } from "../lib/_gzip.ts";
import { type CompressionWorker, DeflateStream, GunzipStream, GzipStream, InflateStream, setCompressionPoolSize } from "../lib/gzip.ts";
import { collect, collectBytes, concat, cutAt, deferred, delay, mulberry32, sha256Hex, streamOf, ZERO_LED_MINIMAL, zeroLedRecords } from "./_support/util.ts";

const polyfilled = (globalThis as { __sluicePolyfilled?: boolean }).__sluicePolyfilled === true;
const isDeno = "Deno" in globalThis;
const isWorkerd = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === "Cloudflare-Workers";
const hasGlobalWorker = typeof (globalThis as { Worker?: unknown }).Worker === "function";

/** Deterministic text of `length` bytes: numbered lines of pseudo-random words (mulberry32). */
function corpus(length: number, seed = 1): Uint8Array {
  const rnd = mulberry32(seed);
  const words = ["order", "token", "amount", "0x", "sell", "buy", "fee", "limit", "market", "{", "}", '"id":', "€", "円"];
  const out = new Uint8Array(length);
  const enc = new TextEncoder();
  let p = 0;
  let line = 0;
  while (p < length) {
    let s = `${line++}`;
    const n = 3 + Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) s += " " + words[Math.floor(rnd() * words.length)] + Math.floor(rnd() * 1000);
    const bytes = enc.encode(s + "\n");
    out.set(bytes.subarray(0, length - p), p);
    p += bytes.length;
  }
  return out;
}

/** Cuts `bytes` at pseudo-random offsets, pieces up to `maxPiece` bytes. */
function randomCuts(bytes: Uint8Array, maxPiece: number, seed: number): Uint8Array[] {
  const offsets: number[] = [];
  let x = seed;
  for (let p = 0; p < bytes.length;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    p += 1 + (x % maxPiece);
    offsets.push(p);
  }
  return cutAt(bytes, offsets);
}

function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function through(chunks: Uint8Array[], stream: TransformStream<Uint8Array, Uint8Array>): Promise<Uint8Array> {
  return collectBytes(streamOf(chunks).pipeThrough(stream));
}

/** Runs bytes through the platform's CompressionStream/DecompressionStream with its own reader and writer. */
async function platform(kind: "CompressionStream" | "DecompressionStream", format: string, bytes: Uint8Array): Promise<Uint8Array> {
  const Ctor = (globalThis as unknown as Record<string, new (f: string) => TransformStream<Uint8Array, Uint8Array>>)[kind]!;
  const t = new Ctor(format);
  const writer = t.writable.getWriter();
  const written = writer.write(bytes).then(() => writer.close());
  // A corrupt input rejects both sides; the read's rejection is the one reported.
  written.catch(() => {});
  const reader = t.readable.getReader();
  const out: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  await written;
  return concat(out);
}

/** Compares bytes without Vitest's element-by-element deep equality (slow on 300 KB). */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  let diff = actual.length === expected.length ? -1 : Math.min(actual.length, expected.length);
  for (let i = 0; i < Math.min(actual.length, expected.length) && diff < 0; i++) if (actual[i] !== expected[i]) diff = i;
  expect(diff, `first difference of ${actual.length} vs ${expected.length} bytes`).toBe(-1);
}

const TEXT = corpus(300_000);
/** Five blocks: four of 256 KiB and a short last one. */
const BIG = corpus(4 * BLOCK_SIZE + 50_000, 2);
// SHA-256 of the gzip of BIG, checked in: the same in Node, Deno, Bun, workerd, Chromium, Firefox and WebKit,
// however the input is cut and however many threads compress it. A change here changes sluice's output bytes
// for everyone.
const DIGESTS: Record<number, string> = {
  1: "7159a3bdf701567af0c450f3f0235e8c983f4c496543f1ab6f6d5c58e12e1e04",
  6: "79e62e145344dc3b3c58cb6ac32872c753159c69d37e34b2136fe844537e6d5f",
};
/** Threads are in every runtime but Cloudflare's workerd, where `workers` compresses on the calling thread. */
const THREAD_COUNTS = [0, 1, 2, 3];

describe("GzipStream", () => {
  for (const level of [1, 6]) {
    test(`GzipStream at level ${level} gives the checked-in bytes for any chunking and any number of workers`, async () => {
      const chunkings = [[BIG], pieces(BIG, 1000), pieces(BIG, 65535), pieces(BIG, BLOCK_SIZE + 1), randomCuts(BIG, 90_000, level)];
      const digests = new Set<string>();
      for (const [i, chunks] of chunkings.entries()) {
        for (const workers of THREAD_COUNTS) {
          if (i === 1 && workers > 1) continue; // 1000-byte pieces: slow in browsers, and n = 1 covers them
          const options = level === 6 ? { workers } : { level, workers };
          digests.add(await sha256Hex(await through(chunks, new GzipStream(options))));
        }
      }
      expect([...digests]).toEqual([DIGESTS[level]]);
    });
  }

  test("DeflateStream gives the same bytes for any number of workers and any chunking", async () => {
    const one = await through([BIG], new DeflateStream({ level: 9 }));
    for (const workers of [1, 2, 3]) {
      expectBytes(await through(randomCuts(BIG, 200_000, workers), new DeflateStream({ level: 9, workers })), one);
    }
    expectBytes(fflateInflate(one), BIG);
  });

  test("GzipStream output decompresses to the input with GunzipStream", async () => {
    for (const level of [0, 1, 9]) {
      const gz = await through(pieces(TEXT, 7777), new GzipStream({ level }));
      expectBytes(await through([gz], new GunzipStream()), TEXT);
    }
  });

  test("GzipStream output decompresses with the platform's DecompressionStream", async () => {
    const gz = await through([TEXT], new GzipStream({ filename: "auction.json", mtime: new Date(Date.UTC(2026, 0, 1)) }));
    expectBytes(await platform("DecompressionStream", "gzip", gz), TEXT);
    const empty = await through([], new GzipStream());
    expect(await platform("DecompressionStream", "gzip", empty)).toEqual(new Uint8Array(0));
  });

  test("GzipStream writes mtime 0, no name, XFL by level and OS 255 by default", async () => {
    const gz = await through([TEXT.subarray(0, 100)], new GzipStream({ level: 1 }));
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
  });

  test("GzipStream stores mtime in seconds and the file name in Latin-1 with a NUL", async () => {
    const gz = await through([], new GzipStream({ mtime: 1_700_000_000_123, filename: "café.txt" }));
    expect(gz[3]).toBe(8);
    expect(gz[4]! | (gz[5]! << 8) | (gz[6]! << 16) | (gz[7]! * 2 ** 24)).toBe(1_700_000_000);
    expect([...gz.subarray(10, 19)]).toEqual([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74, 0]);
  });

  test("GzipStream rejects a level outside 0..9 with a RangeError naming level", () => {
    for (const level of [-1, 10, 1.5, NaN]) {
      expect(() => new GzipStream({ level })).toThrow(RangeError);
    }
    expect(() => new GzipStream({ level: 10 })).toThrow("Cannot construct GzipStream: level must be an integer from 0 to 9, got number 10");
    expect(() => new DeflateStream({ level: -1 })).toThrow(/DeflateStream: level/);
  });

  test("GzipStream rejects bad mtime, filename, engine and worker options", () => {
    expect(() => new GzipStream({ mtime: -1 })).toThrow(RangeError);
    expect(() => new GzipStream({ mtime: new Date(NaN) })).toThrow(/mtime/);
    expect(() => new GzipStream({ filename: "a\0b" })).toThrow(/filename.*U\+0000 at index 1/);
    expect(() => new GzipStream({ filename: "日本" })).toThrow(RangeError);
    expect(() => new GzipStream({ engine: "zlib" as "native" })).toThrow(/engine must be "fflate" or "native"/);
    expect(() => new GzipStream({ worker: "yes" as unknown as boolean })).toThrow(/worker must be/);
    expect(() => new GzipStream({ engine: "native", level: 9 })).toThrow(/level is not supported with engine "native"/);
  });

  test("GzipStream errors on a chunk that is not a Uint8Array", async () => {
    const bad = streamOf(["text" as unknown as Uint8Array]).pipeThrough(new GzipStream());
    await expect(collect(bad)).rejects.toThrow("GzipStream expects Uint8Array chunks, got string \"text\"");
  });

  test("GzipStream cancelled by its reader cancels the source with the reason", async () => {
    let cancelled: unknown;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(TEXT.subarray(0, 70_000));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const reader = source.pipeThrough(new GzipStream()).getReader();
    await reader.read();
    await reader.cancel("enough");
    expect(cancelled).toBe("enough");
  });
});

describe("DeflateStream and InflateStream", () => {
  test("DeflateStream output inflates with InflateStream and with DecompressionStream(\"deflate-raw\")", async () => {
    const raw = await through(randomCuts(TEXT, 5000, 7), new DeflateStream());
    expectBytes(await through(pieces(raw, 333), new InflateStream()), TEXT);
    expectBytes(await platform("DecompressionStream", "deflate-raw", raw), TEXT);
  });

  test("InflateStream reads CompressionStream(\"deflate-raw\") output", async () => {
    const raw = await platform("CompressionStream", "deflate-raw", TEXT);
    expectBytes(await through(pieces(raw, 1000), new InflateStream()), TEXT);
  });

  test("InflateStream errors on truncated input, trailing bytes and corrupt data", async () => {
    const raw = await through([TEXT.subarray(0, 5000)], new DeflateStream());
    await expect(through([raw.subarray(0, raw.length - 1)], new InflateStream())).rejects.toThrow(/ended before the end of the deflate stream/);
    await expect(through([raw, new Uint8Array([1, 2])], new InflateStream())).rejects.toThrow(/2 unexpected bytes after the end/);
    await expect(through([new Uint8Array([0xff, 0xff, 0xff])], new InflateStream())).rejects.toThrow(/corrupt deflate data/);
    await expect(through([], new InflateStream())).rejects.toThrow(/truncated/);
  });
});

describe("GunzipStream", () => {
  test("GunzipStream reads CompressionStream(\"gzip\") output", async () => {
    const gz = await platform("CompressionStream", "gzip", TEXT);
    expectBytes(await through(randomCuts(gz, 3000, 3), new GunzipStream()), TEXT);
  });

  test("GunzipStream reads a two-member file split at every byte offset", async () => {
    const a = await through([new TextEncoder().encode("hello, ")], new GzipStream({ filename: "a" }));
    const b = await platform("CompressionStream", "gzip", new TextEncoder().encode("world"));
    const both = concat([a, b]);
    for (let i = 0; i <= both.length; i++) {
      const out = await through([both.subarray(0, i), both.subarray(i)], new GunzipStream());
      expect(new TextDecoder().decode(out), `split at ${i}`).toBe("hello, world");
    }
    const bytewise = await through(pieces(both, 1), new GunzipStream());
    expect(new TextDecoder().decode(bytewise)).toBe("hello, world");
  });

  test("GunzipStream parses FEXTRA, FNAME, FCOMMENT and a correct FHCRC split at every byte offset", async () => {
    const body = await through([new TextEncoder().encode("extra")], new DeflateStream());
    const crc = (await through([new TextEncoder().encode("extra")], new GzipStream())).subarray(-8);
    const head = [0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 3, 3, 0, 9, 9, 9, 0x61, 0, 0x62, 0];
    // The header CRC16 is the low half of the CRC32 of the header so far: take it from a
    // GzipStream of those very bytes (its trailer holds their CRC32).
    const headCrc = (await through([new Uint8Array(head)], new GzipStream())).subarray(-8, -6);
    const file = concat([new Uint8Array(head), headCrc, body, crc]);
    for (let cut = 0; cut <= file.length; cut++) {
      expect(new TextDecoder().decode(await through(cutAt(file, [cut]), new GunzipStream())), `split at ${cut}`).toBe("extra");
    }
    expect(new TextDecoder().decode(await through(pieces(file, 1), new GunzipStream()))).toBe("extra");
    const bad = file.slice();
    bad[19] ^= 1;
    await expect(through([bad], new GunzipStream())).rejects.toThrow(/header CRC16/);
  });

  test("GunzipStream errors on a corrupt header, a CRC32 or length mismatch and truncation", async () => {
    const gz = await through([TEXT.subarray(0, 10_000)], new GzipStream());
    const flip = (at: number) => {
      const c = gz.slice();
      c[at < 0 ? c.length + at : at]! ^= 1;
      return c;
    };
    await expect(through([flip(0)], new GunzipStream())).rejects.toThrow("GunzipStream: not gzip data: member 1 header starts with 0x1e 0x8b, expected 0x1f 0x8b");
    await expect(through([flip(2)], new GunzipStream())).rejects.toThrow(/unsupported compression method 9/);
    await expect(through([flip(-8)], new GunzipStream())).rejects.toThrow(/CRC32 mismatch in member 1/);
    await expect(through([flip(-4)], new GunzipStream())).rejects.toThrow(/length mismatch in member 1: trailer says 10001 bytes/);
    for (const end of [5, 100, gz.length - 3]) {
      await expect(through([gz.subarray(0, end)], new GunzipStream()), `cut at ${end}`).rejects.toThrow(/truncated/);
    }
    await expect(through([], new GunzipStream())).rejects.toThrow(/before any gzip member/);
  });

  test("GunzipStream errors on trailing garbage after a member, naming it, and on a lone partial magic", async () => {
    const gz = await through([TEXT.subarray(0, 10_000)], new GzipStream());
    await expect(through([gz, new Uint8Array([0, 0, 0, 0])], new GunzipStream())).rejects.toThrow(
      "GunzipStream: unexpected bytes after member 1: they start with 0x00 0x00, not with a gzip header's 0x1f 0x8b (trailing garbage?)",
    );
    await expect(through([gz, new Uint8Array([0x1f])], new GunzipStream())).rejects.toThrow(/ended inside the header of member 2 \(truncated\)/);
    await expect(through([gz, new Uint8Array([0x1f, 0x8b, 8])], new GunzipStream())).rejects.toThrow(/ended inside the header of member 2/);
  });

  test("GunzipStream rejects every reserved header flag bit and accepts FTEXT", async () => {
    const gz = await through([TEXT.subarray(0, 1000)], new GzipStream());
    for (const bit of [0x20, 0x40, 0x80]) {
      const bad = gz.slice();
      bad[3] |= bit;
      await expect(through([bad], new GunzipStream()), `bit ${bit}`).rejects.toThrow(
        `GunzipStream: corrupt member 1 header: reserved flag bits set (FLG 0x${bit.toString(16)})`,
      );
    }
    const text = gz.slice();
    text[3] |= 1; // FTEXT: a hint only
    expectBytes(await through([text], new GunzipStream()), TEXT.subarray(0, 1000));
  });

  test("GunzipStream reads stored blocks (level 0) split at every byte offset and one byte at a time", async () => {
    const input = TEXT.subarray(0, 140_000); // three stored blocks
    const gz = await through([input], new GzipStream({ level: 0 }));
    for (let cut = 0; cut <= gz.length; cut += cut < 40 || gz.length - cut < 40 ? 1 : 997) {
      expectBytes(await through(cutAt(gz, [cut, cut + 65_536]), new GunzipStream()), input);
    }
    expectBytes(await through(pieces(gz, 1), new GunzipStream()), input);
    await expect(through(pieces(gz.subarray(0, 70_000), 100), new GunzipStream())).rejects.toThrow(/inside the compressed data of member 1 \(truncated\)/);
  });

  test("GunzipStream reads each byte of stored blocks arriving in small pieces once", async () => {
    // A decoder that gathered an unfinished stored block again on every piece would be quadratic.
    const input = TEXT.subarray(0, 200_000); // four stored blocks
    const gz = await through([input], new GzipStream({ level: 0 }));
    const gunzip = new GunzipStream();
    expectBytes(await through(pieces(gz, 100), gunzip), input);
    // The deflate data: all but the 10-byte header and the 8-byte trailer.
    expect(inflateWork.get(gunzip)!.inflated).toBe(gz.length - 18);
    const inflate = new InflateStream();
    const raw = await through([input], new DeflateStream({ level: 0 }));
    expectBytes(await through(pieces(raw, 64), inflate), input);
    expect(inflateWork.get(inflate)!.inflated).toBe(raw.length);
  });

  test("GunzipStream keeps backpressure within one chunk: 64 MiB from one small chunk comes as the reader reads", async () => {
    const gz = await through([new Uint8Array(64 << 20)], new GzipStream({ level: 1 }));
    expect(gz.length).toBeLessThan(200_000);
    const gunzip = new GunzipStream();
    const writer = gunzip.writable.getWriter();
    const reader = gunzip.readable.getReader();
    let written = false;
    const write = writer.write(gz).then(() => (written = true));
    let bytes = (await reader.read()).value!.length;
    // Nothing else is read: the transform must be waiting, not inflating the rest into the queue.
    await delay(30);
    expect(written).toBe(false);
    const close = writer.close();
    let largest = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      bytes += r.value.length;
      largest = Math.max(largest, r.value.length);
    }
    await write;
    await close;
    expect(bytes).toBe(64 << 20);
    expect(largest).toBeLessThanOrEqual(6 << 20);
  });

  test("GunzipStream searches a long name and comment arriving in small pieces once, not once per piece", async () => {
    const body = await through([new TextEncoder().encode("named")], new DeflateStream());
    const trailer = (await through([new TextEncoder().encode("named")], new GzipStream())).subarray(-8);
    const nameAndComment = new Uint8Array(300_002).fill(0x61);
    nameAndComment[150_000] = 0;
    nameAndComment[300_001] = 0;
    const file = concat([new Uint8Array([0x1f, 0x8b, 8, 8 | 16, 0, 0, 0, 0, 0, 255]), nameAndComment, body, trailer]);
    const gunzip = new GunzipStream();
    expect(new TextDecoder().decode(await through(pieces(file, 64), gunzip))).toBe("named");
    expect(inflateWork.get(gunzip)!.headerScanned).toBeLessThanOrEqual(2 * nameAndComment.length);
  });

  test("GunzipStream cancelled while waiting for its reader inside a chunk cancels the source", async () => {
    const gz = await through([new Uint8Array(32 << 20)], new GzipStream({ level: 1 }));
    let cancelled: unknown;
    let sent = false;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) c.enqueue(gz);
        sent = true;
      },
      cancel: (reason) => void (cancelled = reason),
    }, { highWaterMark: 0 });
    const reader = source.pipeThrough(new GunzipStream()).getReader();
    await reader.read();
    await reader.cancel("enough");
    await expect.poll(() => cancelled).toBe("enough");
  });

  test("GunzipStream reads empty members between others", async () => {
    const empty = await through([], new GzipStream());
    const a = await through([new TextEncoder().encode("a")], new GzipStream());
    const file = concat([empty, a, empty, empty]);
    for (const size of [1, 3, file.length]) {
      expect(new TextDecoder().decode(await through(pieces(file, size), new GunzipStream()))).toBe("a");
    }
  });

  test("GunzipStream errors on a bad deflate body instead of closing", async () => {
    const gz = await through([TEXT.subarray(0, 10_000)], new GzipStream());
    const c = gz.slice();
    c[10] = 0xff; // BTYPE 11: reserved
    await expect(through([c], new GunzipStream())).rejects.toThrow(/GunzipStream: corrupt deflate data in member 1/);
  });

  test("GunzipStream stops a 1 GB gzip bomb at maxOutputBytes after reading a small part of it", async () => {
    // 128 members of 8 MiB of zeros each: 1 GiB of output from about 1 MB of gzip.
    const member = await through([new Uint8Array(8 << 20)], new GzipStream({ level: 1 }));
    expect(member.length * 128).toBeLessThan(2_000_000);
    let pulled = 0;
    const bomb = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled++ < 128) c.enqueue(member);
        else c.close();
      },
    }, { highWaterMark: 0 });
    let produced = 0;
    const reader = bomb.pipeThrough(new GunzipStream({ maxOutputBytes: 20_000_000 })).getReader();
    const error = await (async () => {
      try {
        for (let r = await reader.read(); !r.done; r = await reader.read()) produced += r.value.length;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      "GunzipStream: decompressed output would pass maxOutputBytes (20000000 bytes); stopped (possible decompression bomb)",
    );
    expect(produced).toBeLessThanOrEqual(20_000_000);
    // 20 MB is the output of three members: the rest of the bomb was never read, let alone inflated.
    expect(pulled).toBeLessThanOrEqual(6);
  });

  test("InflateStream stops one single deflate stream of zeros at maxOutputBytes", async () => {
    const raw = await through([new Uint8Array(16 << 20)], new DeflateStream({ level: 1 }));
    const error = await through([raw], new InflateStream({ maxOutputBytes: 1 << 20 })).catch((e) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect(await through([raw], new InflateStream({ maxOutputBytes: 16 << 20 }))).toHaveLength(16 << 20);
    expect(() => new InflateStream({ maxOutputBytes: -1 })).toThrow(/maxOutputBytes must be a non-negative safe integer/);
  });
});

describe("engine: native", () => {
  if (polyfilled) {
    test("engine \"native\" throws a clear TypeError when streams are polyfilled", () => {
      expect(() => new GzipStream({ engine: "native" })).toThrow(/is a streams polyfill installed\?/);
      expect(() => new GunzipStream({ engine: "native" })).toThrow(TypeError);
    });
  } else {
    test("engine \"native\" round-trips through the platform's streams", async () => {
      const gz = await through(pieces(TEXT, 10_000), new GzipStream({ engine: "native" }));
      expect(gz[0]).toBe(0x1f);
      expectBytes(await through([gz], new GunzipStream()), TEXT);
      expectBytes(await through([gz], new GunzipStream({ engine: "native" })), TEXT);
      const raw = await through([TEXT], new DeflateStream({ engine: "native" }));
      expectBytes(await through([raw], new InflateStream({ engine: "native" })), TEXT);
      expect(new GzipStream({ engine: "native" })).toBeInstanceOf(GzipStream);
    });

    test("engine \"native\" still applies maxOutputBytes", async () => {
      const gz = await through([TEXT], new GzipStream());
      await expect(through([gz], new GunzipStream({ engine: "native", maxOutputBytes: 1000 }))).rejects.toThrow(RangeError);
      expectBytes(await through([gz], new GunzipStream({ engine: "native", maxOutputBytes: TEXT.length })), TEXT);
    });

    test("engine \"native\" with a limit feeds the platform slices too small to expand far past it", async () => {
      // The platform inflates a whole written chunk before anything is read: a 1 GiB bomb written
      // at once would be in memory before the limit saw it. Record what reaches the platform.
      const Native = globalThis.DecompressionStream;
      const written: number[] = [];
      class Spy {
        readable: ReadableStream<Uint8Array>;
        writable: WritableStream<Uint8Array>;
        constructor(format: CompressionFormat) {
          const inner = new Native(format);
          this.readable = inner.readable as ReadableStream<Uint8Array>;
          const writer = inner.writable.getWriter();
          this.writable = new WritableStream<Uint8Array>({
            write: (chunk) => (written.push(chunk.length), writer.write(chunk as Uint8Array<ArrayBuffer>)),
            close: () => writer.close(),
            abort: (reason) => writer.abort(reason),
          });
        }
      }
      const raw = await through([new Uint8Array(64 << 20)], new DeflateStream({ level: 1 }));
      (globalThis as { DecompressionStream: unknown }).DecompressionStream = Spy;
      try {
        const error = await through([raw], new InflateStream({ engine: "native", maxOutputBytes: 4 << 20 })).catch((e) => e);
        expect(error).toBeInstanceOf(RangeError);
        expect((error as Error).message).toMatch(/^InflateStream: decompressed output would pass maxOutputBytes \(4194304 bytes\)/);
        // 4 MiB of room takes slices of at most 4 MiB / 1032 bytes (a deflate stream expands at
        // most 1032 times), and the stream stops soon after the limit.
        expect(Math.max(...written)).toBeLessThanOrEqual(Math.floor((4 << 20) / 1032));
        // workerd's DecompressionStream takes every write at once, before its output is read
        // (no backpressure on its writable), so there the whole input is fed: see InflateOptions.engine.
        if (!isWorkerd) expect(written.reduce((a, b) => a + b, 0)).toBeLessThan(raw.length / 2);
        else expect(written.reduce((a, b) => a + b, 0)).toBe(raw.length);
      } finally {
        (globalThis as { DecompressionStream: unknown }).DecompressionStream = Native;
      }
    });

    test("engine \"native\" with a limit passes cancellation to the source", async () => {
      const gz = await through([TEXT], new GzipStream({ level: 0 }));
      let cancelled = false;
      let sent = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent < gz.length) c.enqueue(gz.subarray(sent, (sent += 1000)));
          else c.close();
        },
        cancel: () => void (cancelled = true),
      }, { highWaterMark: 0 });
      const reader = source.pipeThrough(new GunzipStream({ engine: "native", maxOutputBytes: 1 << 30 })).getReader();
      await reader.read();
      await reader.cancel(new Error("enough"));
      await expect.poll(() => cancelled).toBe(true);
    });
  }

  test("engine \"native\" is refused with a clear error where CompressionStream is missing", () => {
    const saved = globalThis.CompressionStream;
    try {
      (globalThis as { CompressionStream?: unknown }).CompressionStream = undefined;
      expect(() => new GzipStream({ engine: "native" })).toThrow(
        'Cannot construct GzipStream: engine "native" needs CompressionStream, which this runtime lacks; use engine "fflate"',
      );
    } finally {
      (globalThis as { CompressionStream?: unknown }).CompressionStream = saved;
    }
  });
});

describe("workers", () => {
  /** Sizes around block boundaries: empty, one byte, whole blocks (the stream then ends with an empty final block), and past them. */
  const SIZES = [0, 1, BLOCK_SIZE, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 1];

  test("GzipStream with workers round-trips through DecompressionStream, fflate and GunzipStream at every level", async () => {
    const input = BIG.subarray(0, 2 * BLOCK_SIZE + 70_000);
    for (let level = 0; level <= 9; level++) {
      const gz = await through(randomCuts(input, 100_000, level), new GzipStream({ level, workers: 2 }));
      expectBytes(await platform("DecompressionStream", "gzip", gz), input);
      expectBytes(gunzipSync(gz), input);
      expectBytes(await through(pieces(gz, 50_000), new GunzipStream()), input);
    }
  });

  test("GzipStream and DeflateStream with workers are read back whole at sizes around block boundaries", async () => {
    for (const size of SIZES) {
      const input = BIG.subarray(0, size);
      const gz = await through(pieces(input, 100_000), new GzipStream({ workers: 3 }));
      expectBytes(gz, await through([input], new GzipStream()));
      expectBytes(await platform("DecompressionStream", "gzip", gz), input);
      const raw = await through([input], new DeflateStream({ workers: 1, level: 1 }));
      expectBytes(await platform("DecompressionStream", "deflate-raw", raw), input);
    }
  });

  test("worker: true gives the same bytes as the calling thread", async () => {
    const chunks = randomCuts(BIG, 70_000, 5);
    expectBytes(await through(chunks, new GzipStream({ worker: true, level: 1 })), await through([BIG], new GzipStream({ level: 1 })));
    const raw = await through(chunks, new DeflateStream({ worker: true }));
    expectBytes(await through([raw], new InflateStream()), BIG);
  });

  test("two streams sharing the pool at once each get their own bytes", async () => {
    const other = corpus(3 * BLOCK_SIZE + 123, 9);
    const [a, b] = await Promise.all([
      through(pieces(BIG, 40_000), new GzipStream({ workers: 2, level: 4 })),
      through(pieces(other, 70_000), new GzipStream({ workers: 3, level: 4 })),
    ]);
    expectBytes(a, await through([BIG], new GzipStream({ level: 4 })));
    expectBytes(b, await through([other], new GzipStream({ level: 4 })));
  });

  test("a stream cancelled with blocks on the pool cancels its source and leaves the pool to others", async () => {
    const cancelled = deferred<unknown>();
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        // Pieces that are not whole blocks: the cancel comes in the middle of one.
        c.enqueue(BIG.subarray(sent % BIG.length, (sent % BIG.length) + 100_000));
        sent += 100_000;
      },
      cancel: (reason) => cancelled.resolve(reason),
    }, { highWaterMark: 0 });
    const reader = source.pipeThrough(new GzipStream({ workers: 2, level: 9 })).getReader();
    const concurrent = through([BIG], new GzipStream({ workers: 2, level: 9 }));
    await reader.read();
    await reader.read();
    await reader.cancel("enough");
    expect(await cancelled.promise).toBe("enough");
    expectBytes(await concurrent, await through([BIG], new GzipStream({ level: 9 })));
  });

  test("workers and the pool size are validated with a RangeError naming them", () => {
    for (const workers of [-1, 1.5, 257, NaN]) {
      expect(() => new GzipStream({ workers }), String(workers)).toThrow(RangeError);
    }
    expect(() => new GzipStream({ workers: -1 })).toThrow("Cannot construct GzipStream: workers must be an integer from 0 to 256, got number -1");
    expect(() => new DeflateStream({ workers: "2" as unknown as number })).toThrow(/DeflateStream: workers must be an integer from 0 to 256, got string "2"/);
    expect(() => new GzipStream({ worker: false, workers: 2 })).toThrow(TypeError);
    expect(() => new GzipStream({ engine: "native", workers: 2 })).toThrow(/workers is not supported with engine "native"/);
    for (const size of [0, -1, 2.5, 1000, Infinity]) {
      expect(() => setCompressionPoolSize(size), String(size)).toThrow(RangeError);
    }
    expect(() => setCompressionPoolSize(0)).toThrow("Cannot set the compression pool size: size must be an integer from 1 to 256, got number 0");
  });

  test("workers: 0 compresses on the calling thread with the same bytes", async () => {
    expectBytes(await through(pieces(BIG, 5000), new GzipStream({ workers: 0 })), await through([BIG], new GzipStream({ workers: 2 })));
  });

  if (hasGlobalWorker) {
    for (const mode of ["throw", "reply"]) {
      test(`a pool worker that fails mid-stream (${mode === "throw" ? "an uncaught error" : "an error answer"}) errors the stream`, async () => {
        const dying = (): CompressionWorker => {
          const w = new Worker(new URL("./_support/dying_worker.ts", import.meta.url), { type: "module" });
          w.postMessage({ mode });
          return w as unknown as CompressionWorker;
        };
        const out: Uint8Array[] = [];
        const reader = streamOf(pieces(BIG, 100_000)).pipeThrough(new GzipStream({ worker: dying, workers: 1 })).getReader();
        const error = await (async () => {
          try {
            for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
          } catch (e) {
            return e as Error;
          }
        })();
        expect(error?.message).toMatch(/^GzipStream: the compression worker failed: [^]*(crashed|refused) on purpose/);
        // What came before the failure is the header and the first block, never a whole-looking stream.
        expect(concat(out).length).toBeLessThan(BLOCK_SIZE);
      });
    }
  }
});

// fflate 0.8.3's streaming Deflate, on its first push, could refer to bytes
// before the start of the stream (fflate issue #260): such archives are
// complete but unreadable by zlib, browsers and GunzipStream. Every engine
// and mode is read back here by the platform's inflater (zlib underneath).
describe("binary inputs that start with zeros", () => {
  test("fflate 0.8.3's own Deflate is rejected on the minimal input, GzipStream's output is read back", async () => {
    const { Deflate } = await import("fflate");
    const parts: Uint8Array[] = [];
    new Deflate({ level: 6 }, (d) => parts.push(d)).push(ZERO_LED_MINIMAL, true);
    await expect(platform("DecompressionStream", "deflate-raw", concat(parts))).rejects.toThrow();
    const gz = await through([ZERO_LED_MINIMAL], new GzipStream());
    expectBytes(await platform("DecompressionStream", "gzip", gz), ZERO_LED_MINIMAL);
    expectBytes(await through([gz], new GunzipStream()), ZERO_LED_MINIMAL);
  });

  test("GzipStream and DeflateStream output of 150 zero-led record inputs is read by DecompressionStream and GunzipStream at levels 1, 6, 9", async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 150; seed++) {
      const input = zeroLedRecords(seed);
      const level = [1, 6, 9][seed % 3]!;
      const gz = await through(randomCuts(input, 700, seed), new GzipStream({ level }));
      const raw = await through([input], new DeflateStream({ level }));
      const checks: [string, () => Promise<Uint8Array>][] = [
        ["DecompressionStream gzip", () => platform("DecompressionStream", "gzip", gz)],
        ["GunzipStream", () => through([gz], new GunzipStream())],
        ["DecompressionStream deflate-raw", () => platform("DecompressionStream", "deflate-raw", raw)],
        ["InflateStream", () => through([raw], new InflateStream())],
      ];
      for (const [reader, run] of checks) {
        const out = await run().catch((e: Error) => e);
        if (out instanceof Error || !sameBytes(out, input)) failures.push(`seed ${seed} level ${level} ${reader}: ${out instanceof Error ? out.message : "other bytes"}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test("any random structured binary input compresses at any level into a stream the platform's inflater reads back", async () => {
    const records = fc.record({
      zeros: fc.nat({ max: 300 }),
      record: fc.uint8Array({ minLength: 1, maxLength: 24 }),
      repeats: fc.nat({ max: 400 }),
      noise: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }),
      level: fc.integer({ min: 1, max: 9 }),
      cut: fc.integer({ min: 1, max: 5000 }),
    });
    await fc.assert(
      fc.asyncProperty(records, async ({ zeros, record, repeats, noise, level, cut }) => {
        const input = new Uint8Array(zeros + record.length * repeats);
        for (let i = 0; i < repeats; i++) input.set(record, zeros + i * record.length);
        for (const [at, value] of noise) if (input.length > 0) input[at % input.length] = value;
        const gz = await through(pieces(input, cut), new GzipStream({ level }));
        expect(sameBytes(await platform("DecompressionStream", "gzip", gz), input)).toBe(true);
        expect(sameBytes(await through([gz], new GunzipStream()), input)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  if (hasGlobalWorker) {
    test("GzipStream on a worker writes readable output for zero-led record inputs", async () => {
      for (const seed of [3, 17, 29]) {
        const input = zeroLedRecords(seed);
        const gz = await through([ZERO_LED_MINIMAL, input], new GzipStream({ worker: true }));
        const expected = concat([ZERO_LED_MINIMAL, input]);
        expectBytes(await platform("DecompressionStream", "gzip", gz), expected);
      }
    });
  }
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
