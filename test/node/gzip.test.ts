// gzip against Node's own implementations (zlib, the gzip program) and the
// worker_threads worker from sluice/node. Runs in Node, the polyfill run and Deno.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { crc32 } from "../../lib/_gzip.ts";
import { DeflateStream, GunzipStream, GzipStream, InflateStream } from "../../lib/gzip.ts";
import { nodeCompressionWorker } from "../../lib/node.ts";
import { collectBytes, concat, cutAt, deferred, streamOf, ZERO_LED_MINIMAL, zeroLedRecords } from "../_util.ts";

function text(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 7;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = (x >>> 24) % 3 === 0 ? 32 : 97 + ((x >>> 16) % 20);
  }
  return out;
}

function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

function through(chunks: Uint8Array[], stream: TransformStream<Uint8Array, Uint8Array>): Promise<Uint8Array> {
  return collectBytes(streamOf(chunks).pipeThrough(stream));
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

const INPUT = text(400_000);

describe("gzip interop with zlib and gzip(1)", () => {
  test("GzipStream output decompresses with zlib.gunzipSync and gzip -d", async () => {
    const gz = await through(pieces(INPUT, 10_000), new GzipStream({ filename: "input.txt" }));
    expect(same(gunzipSync(gz), INPUT)).toBe(true);
    const viaGzip = execFileSync("gzip", ["-dc"], { input: gz, maxBuffer: 1 << 24 });
    expect(same(viaGzip, INPUT)).toBe(true);
    const raw = await through([INPUT], new DeflateStream({ level: 9 }));
    expect(same(inflateRawSync(raw), INPUT)).toBe(true);
  });

  test("GunzipStream reads zlib output, multi-member zlib files and gzip -c output", async () => {
    const a = gzipSync(INPUT.subarray(0, 1000));
    const b = gzipSync(INPUT.subarray(1000), { level: 1 });
    const both = concat([a, b]);
    expect(same(await through(pieces(both, 4096), new GunzipStream()), INPUT)).toBe(true);
    const fromGzip = execFileSync("gzip", ["-c", "-n"], { input: INPUT, maxBuffer: 1 << 24 });
    expect(same(await through([fromGzip], new GunzipStream()), INPUT)).toBe(true);
  });

  test("GunzipStream rejects what zlib rejects: a flipped CRC byte in a zlib file", async () => {
    const gz = gzipSync(INPUT.subarray(0, 5000));
    gz[gz.length - 7]! ^= 0x10;
    expect(() => gunzipSync(gz)).toThrow();
    await expect(through(cutAt(gz, [100, 200]), new GunzipStream())).rejects.toThrow(/CRC32 mismatch in member 1/);
  });

  test("GzipStream output at every level decompresses with gzip -d, and GunzipStream reads gzip -1 to -9", async () => {
    const input = INPUT.subarray(0, 150_000);
    for (let level = 0; level <= 9; level++) {
      const gz = await through(pieces(input, 9_000), new GzipStream({ level }));
      expect(same(execFileSync("gzip", ["-dc"], { input: gz, maxBuffer: 1 << 24 }), input), `GzipStream level ${level}`).toBe(true);
      expect(same(gunzipSync(gz), input)).toBe(true);
      if (level === 0) continue;
      const fromGzip = execFileSync("gzip", ["-c", "-n", `-${level}`], { input, maxBuffer: 1 << 24 });
      expect(same(await through(pieces(fromGzip, 777), new GunzipStream()), input), `gzip -${level}`).toBe(true);
    }
  });

  test("gzip -N restores the name GzipStream stores, and GunzipStream reads gzip's own name and mtime header", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-gzip-"));
    try {
      const gz = await through([INPUT], new GzipStream({ filename: "restored.txt", mtime: new Date(Date.UTC(2024, 0, 2)) }));
      writeFileSync(join(dir, "x.gz"), gz);
      expect(execFileSync("gzip", ["-l", "-N", join(dir, "x.gz")]).toString()).toMatch(/restored\.txt/);
      execFileSync("gzip", ["-d", "-N", join(dir, "x.gz")]);
      expect(readdirSync(dir)).toEqual(["restored.txt"]);
      expect(same(readFileSync(join(dir, "restored.txt")), INPUT)).toBe(true);
      // gzip -c on a file stores FNAME and the file's mtime.
      const fromFile = execFileSync("gzip", ["-c", "-N", "-9", join(dir, "restored.txt")], { maxBuffer: 1 << 24 });
      expect(fromFile[3]! & 8).toBe(8);
      for (const cut of [3, 10, 15, 22, 23]) {
        expect(same(await through(cutAt(fromFile, [cut]), new GunzipStream()), INPUT), `split at ${cut}`).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("GunzipStream stops a one-member 1 GiB gzip bomb made by zlib at maxOutputBytes", async () => {
    // 8 MiB of zeros deflated with a sync flush ends on a byte boundary with no final block, so
    // the same bytes repeated make one valid deflate stream: 128 copies are 1 GiB of zeros.
    const zeros = new Uint8Array(8 << 20);
    const piece = deflateRawSync(zeros, { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
    const bomb = (copies: number) => {
      let crc = 0;
      for (let i = 0; i < copies; i++) crc = crc32(crc, zeros);
      const trailer = new Uint8Array(8);
      new DataView(trailer.buffer).setUint32(0, crc, true);
      new DataView(trailer.buffer).setUint32(4, (copies * zeros.length) >>> 0, true);
      const header = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
      return [header, ...Array.from({ length: copies }, () => piece), new Uint8Array([3, 0]), trailer];
    };
    // The construction is valid gzip: zlib and GunzipStream read a small one whole.
    expect(gunzipSync(concat(bomb(2))).length).toBe(16 << 20);
    expect((await through(bomb(2), new GunzipStream())).length).toBe(16 << 20);

    const chunks = bomb(128);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBeLessThan(1_100_000);
    const polyfilled = (globalThis as { __sluicePolyfilled?: boolean }).__sluicePolyfilled === true;
    for (const engine of polyfilled ? ["fflate" as const] : ["fflate" as const, "native" as const]) {
      let pulled = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(c) {
          if (pulled < chunks.length) c.enqueue(chunks[pulled++]!);
          else c.close();
        },
      }, { highWaterMark: 0 });
      let produced = 0;
      const reader = source.pipeThrough(new GunzipStream({ maxOutputBytes: 50_000_000, engine })).getReader();
      const error = await (async () => {
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) produced += r.value.length;
        } catch (e) {
          return e;
        }
      })();
      expect(error, engine).toBeInstanceOf(RangeError);
      expect(produced).toBeLessThanOrEqual(50_000_000);
      // 50 MB are six or seven of the 128 pieces: the rest was never read.
      expect(pulled, engine).toBeLessThan(12);
    }
  });

  test("InflateStream reads zlib's raw deflate", async () => {
    const { deflateRawSync } = await import("node:zlib");
    expect(same(await through(pieces(deflateRawSync(INPUT), 999), new InflateStream()), INPUT)).toBe(true);
  });
});

/** Copies small Buffers into shared ArrayBuffers of `size` bytes and answers views of them, in order. */
function poolViews(buffers: Buffer[], size: number): Buffer[] {
  let pool = new ArrayBuffer(size);
  let offset = 0;
  return buffers.map((b) => {
    if (offset + b.length > size) {
      pool = new ArrayBuffer(size);
      offset = 0;
    }
    const view = Buffer.from(pool, offset, b.length);
    view.set(b);
    offset += b.length;
    return view;
  });
}

describe("nodeCompressionWorker", () => {
  test("GzipStream on a worker_threads worker gives the same bytes as on the main thread", async () => {
    const chunks = pieces(INPUT, 12_345);
    const onWorker = await through(chunks, new GzipStream({ worker: nodeCompressionWorker, level: 6 }));
    const onMain = await through([INPUT], new GzipStream());
    expect(same(onWorker, onMain)).toBe(true);
    expect(same(gunzipSync(onWorker), INPUT)).toBe(true);
  });

  test("the worker does not detach the caller's chunks (it moves its own 64 KiB blocks)", async () => {
    const chunk = INPUT.slice(0, 200_000);
    const out = await through([chunk], new DeflateStream({ worker: nodeCompressionWorker }));
    expect(chunk.byteLength).toBe(200_000);
    expect(same(inflateRawSync(out), chunk)).toBe(true);
  });

  test("a worker pipeline whose reader stops pulls a bounded amount from the source", async () => {
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += 65536;
        c.enqueue(text(65536));
      },
    }, { highWaterMark: 0 });
    const reader = source.pipeThrough(new GzipStream({ worker: nodeCompressionWorker, level: 1 })).getReader();
    await reader.read();
    // Give the worker time to answer everything it was sent; nothing more may be pulled.
    await new Promise((r) => setTimeout(r, 400));
    const settled = pulled;
    await new Promise((r) => setTimeout(r, 200));
    expect(pulled).toBe(settled);
    expect(pulled).toBeLessThanOrEqual(16 * 65536);
    await reader.cancel("done");
  });

  test("cancelling a worker stream reaches the source", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(text(70_000));
      },
      cancel: (reason) => cancelled.resolve(reason),
    });
    const reader = source.pipeThrough(new GzipStream({ worker: nodeCompressionWorker })).getReader();
    await reader.read();
    await reader.cancel("stop");
    expect(await cancelled.promise).toBe("stop");
  });

  test("cancelling while a chunk waits for the worker reaches the source", async () => {
    const cancelled = deferred<unknown>();
    let sent = false;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) c.enqueue(text(16 << 20));
        sent = true;
      },
      cancel: (reason) => cancelled.resolve(reason),
    }, { highWaterMark: 0 });
    // One 16 MiB chunk is 256 blocks and the worker may hold 4: when the first output arrives,
    // the transform is waiting for the worker to answer, and cancelling must not leave it there.
    const reader = source.pipeThrough(new GzipStream({ worker: nodeCompressionWorker, level: 9 })).getReader();
    await reader.read();
    await reader.cancel("stop");
    expect(await cancelled.promise).toBe("stop");
  });

  test("the worker takes pooled Node Buffers (views of a shared 8 KiB pool) without detaching the pool", async () => {
    let words: Buffer[] = Array.from({ length: 2000 }, (_, i) => Buffer.from(`word${i} `));
    if (words[1]!.buffer !== words[0]!.buffer) {
      // Node pools small Buffers in shared 8 KiB ArrayBuffers; Bun gives each its own, so there
      // the words become views of shared 8 KiB buffers by hand, as Node's pool would make them.
      words = poolViews(words, 8192);
    }
    expect(words[1]!.buffer).toBe(words[0]!.buffer);
    const out = await through(words, new GzipStream({ worker: nodeCompressionWorker }));
    expect(same(gunzipSync(out), Buffer.concat(words))).toBe(true);
    expect(words[0]!.toString()).toBe("word0 ");
  });

  test("a factory that throws makes the constructor throw a clear TypeError", () => {
    const failing = () => {
      throw new Error("no threads here");
    };
    expect(() => new GzipStream({ worker: failing })).toThrow(
      "GzipStream: could not start the compression worker: Error: no threads here",
    );
  });
});

describe("binary inputs that start with zeros, read by zlib", () => {
  test("zlib reads GzipStream and DeflateStream output of zero-led record inputs, on the main thread and on a worker", async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 120; seed++) {
      const input = zeroLedRecords(seed);
      const level = [1, 6, 9][seed % 3]!;
      const outputs: [string, Uint8Array][] = [
        ["gzip", await through([input], new GzipStream({ level }))],
        ["raw", await through([input], new DeflateStream({ level }))],
      ];
      if (seed % 20 === 0) outputs.push(["gzip on a worker", await through([input], new GzipStream({ level, worker: nodeCompressionWorker }))]);
      for (const [kind, out] of outputs) {
        try {
          const back = kind === "raw" ? inflateRawSync(out) : gunzipSync(out);
          if (!same(back, input)) failures.push(`seed ${seed} ${kind}: other bytes`);
        } catch (error) {
          failures.push(`seed ${seed} ${kind}: ${(error as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(same(gunzipSync(await through([ZERO_LED_MINIMAL], new GzipStream())), ZERO_LED_MINIMAL)).toBe(true);
  });
});
