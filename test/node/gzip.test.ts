// gzip against Node's own implementations (zlib, the gzip program) and the
// worker_threads worker from sluice/node. Runs in Node, the polyfill run and Deno.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Deflate } from "fflate";
import { constants, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { flushPending, safeDeflate, syncFlushTail } from "../../lib/_fflate.ts";
import { BLOCK_SIZE, crc32, crc32Combine, FINAL_EMPTY } from "../../lib/_gzip.ts";
import { startThread } from "../../lib/_node_threads.ts";
import { type CompressionWorker, DeflateStream, GunzipStream, GzipStream, InflateStream } from "../../lib/gzip.ts";
import { nodeCompressionWorker } from "../../lib/node.ts";
import { collectBytes, concat, cutAt, deferred, streamOf, ZERO_LED_MINIMAL, zeroLedRecords } from "../_support/util.ts";

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

/**
 * `gzip -dc` on a file: Deno's execFileSync stalls when a large input and a large output both
 * go through pipes, so the input goes through a file.
 */
function gzipDecompress(gz: Uint8Array): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "sluice-gzip-d-"));
  try {
    writeFileSync(join(dir, "in.gz"), gz);
    return execFileSync("gzip", ["-dc", join(dir, "in.gz")], { maxBuffer: 1 << 26 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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

  test("GzipStream output at every level, on this thread and on 2 workers, decompresses with gzip -d and zlib; GunzipStream reads gzip -1 to -9", async () => {
    const input = concat([INPUT, INPUT]).subarray(0, 2 * BLOCK_SIZE + 150_000);
    for (let level = 0; level <= 9; level++) {
      const gz = await through(pieces(input, 9_000), new GzipStream({ level }));
      expect(same(await through(pieces(input, 70_000), new GzipStream({ level, workers: 2 })), gz), `workers: 2, level ${level}`).toBe(true);
      expect(same(gzipDecompress(gz), input), `GzipStream level ${level}`).toBe(true);
      expect(same(gunzipSync(gz), input)).toBe(true);
      const raw = await through([input], new DeflateStream({ level, workers: 3 }));
      expect(same(inflateRawSync(raw), input), `DeflateStream level ${level}`).toBe(true);
      if (level === 0) continue;
      const small = input.subarray(0, 150_000);
      const fromGzip = execFileSync("gzip", ["-c", "-n", `-${level}`], { input: small, maxBuffer: 1 << 24 });
      expect(same(await through(pieces(fromGzip, 777), new GunzipStream()), small), `gzip -${level}`).toBe(true);
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

  test("the worker does not detach the caller's chunks (it moves its own 256 KiB blocks)", async () => {
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
    const reader = source.pipeThrough(new GzipStream({ worker: nodeCompressionWorker, workers: 2, level: 1 })).getReader();
    await reader.read();
    // Give the workers time to answer everything they were sent; nothing more may be pulled.
    await new Promise((r) => setTimeout(r, 400));
    const settled = pulled;
    await new Promise((r) => setTimeout(r, 200));
    expect(pulled).toBe(settled);
    // (workers + 2) blocks, plus what waits in the pipe and the transform's writable queue.
    expect(pulled).toBeLessThanOrEqual(4 * BLOCK_SIZE + 4 * 65536);
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
    // One 16 MiB chunk is 64 blocks and the pool holds a few: when the first output arrives,
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

describe("the block layout against zlib", () => {
  test("a sync flush after any number of pending bits (0 to 7) is read by zlib, alone and followed by more blocks", () => {
    const seen = new Set<number>();
    for (let length = 1; length < 2000 && seen.size < 8; length += 13) {
      for (const level of [1, 6, 9]) {
        const data = INPUT.subarray(length, 2 * length + 50);
        const out: Uint8Array[] = [];
        const deflate = safeDeflate(level, (chunk) => out.push(chunk));
        deflate.push(data, false);
        const pending = flushPending(deflate);
        seen.add(pending & 7);
        const flushed = concat([...out, syncFlushTail(pending)]);
        // Up to the sync point, zlib reads every byte without the stream having ended...
        expect(same(inflateRawSync(flushed, { finishFlush: constants.Z_SYNC_FLUSH }), data), `${pending & 7} bits, level ${level}`).toBe(true);
        // ...and a final block may follow, as the next block of a GzipStream does.
        expect(same(inflateRawSync(concat([flushed, FINAL_EMPTY])), data)).toBe(true);
        expect(same(inflateRawSync(concat([flushed, deflateRawSync(data)])), concat([data, data]))).toBe(true);
      }
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test("fflate's own flush(true) with 6 bits pending is what zlib rejects (fflate #267), and the sync flush here is not", () => {
    const input = new TextEncoder().encode("sluice gate ".repeat(12));
    const own: Uint8Array[] = [];
    const theirs = new Deflate({ level: 6 }, (chunk) => own.push(chunk));
    theirs.push(input, false);
    theirs.flush(true);
    expect(() => inflateRawSync(concat([...own, FINAL_EMPTY]))).toThrow(/invalid stored block lengths/);
    const out: Uint8Array[] = [];
    const ours = safeDeflate(6, (chunk) => out.push(chunk));
    ours.push(input, false);
    const pending = flushPending(ours);
    expect(pending & 7).toBe(6);
    expect(same(inflateRawSync(concat([...out, syncFlushTail(pending), FINAL_EMPTY])), input)).toBe(true);
  });

  test("crc32Combine gives the CRC-32 of the joined bytes", () => {
    for (const [a, b] of [[0, 0], [1, 0], [0, 5], [1000, 1], [7, 65536], [BLOCK_SIZE, 123_457]]) {
      const x = INPUT.subarray(0, a);
      const y = INPUT.subarray(a, a + b);
      expect(crc32Combine(crc32(0, x), crc32(0, y), y.length), `${a} + ${b}`).toBe(crc32(0, concat([x, y])));
    }
  });

  test("binary input with long runs of zeros at the start of blocks round-trips through zlib", async () => {
    // Zeros are what a deflater with a zero-filled window could wrongly match before the start.
    const input = new Uint8Array(3 * BLOCK_SIZE + 1000);
    for (let i = 0; i < input.length; i += 1 + (i % 251)) input[i] = i & 255;
    for (const level of [1, 6, 9]) {
      const gz = await through(pieces(input, 100_000), new GzipStream({ level, workers: 2 }));
      expect(same(gunzipSync(gz), input), `level ${level}`).toBe(true);
    }
  });
});

describe("the shared pool in Node", () => {
  const dyingWorker = fileURLToPath(new URL("../_support/dying_worker.ts", import.meta.url));
  const dying = (mode: string) => (): CompressionWorker => {
    const w = startThread({ Worker: Worker as never, fileURLToPath }, new URL(`file://${dyingWorker}`));
    w.postMessage({ mode }, []);
    return w;
  };

  for (const mode of ["throw", "exit", "reply"]) {
    test(`a worker thread that fails mid-stream (${mode}) errors the stream instead of a short output`, async () => {
      const reader = streamOf(pieces(INPUT, 50_000)).pipeThrough(new GzipStream({ worker: dying(mode), workers: 1 })).getReader();
      const chunks: Uint8Array[] = [];
      const error = await (async () => {
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error).toBeInstanceOf(Error);
      expect(error!.message).toMatch(/^GzipStream: the compression worker failed: /);
      expect(error!.message).toMatch(mode === "exit" ? /exited \(code 3\)/ : /(crashed|refused) on purpose/);
      expect(() => gunzipSync(concat(chunks))).toThrow();
    });
  }

  test("worker: true compresses on worker_threads in Node with the same bytes as this thread", async () => {
    const input = concat([INPUT, INPUT, INPUT]);
    const onPool = await through(pieces(input, 33_333), new GzipStream({ worker: true }));
    expect(same(onPool, await through([input], new GzipStream()))).toBe(true);
    expect(same(gunzipSync(onPool), input)).toBe(true);
  });

  test("an idle pool does not keep the process alive (it exits once the stream is done)", async () => {
    const gzipModule = new URL("../../lib/gzip.ts", import.meta.url).href;
    const script = `
      const { GzipStream } = await import(${JSON.stringify(gzipModule)});
      const body = new Blob([new Uint8Array(3 << 20).fill(97)]).stream().pipeThrough(new GzipStream({ workers: 2 }));
      const bytes = (await new Response(body).arrayBuffer()).byteLength;
      console.log("compressed", bytes);
    `;
    // Node, or Deno (whose Web Workers cannot be unref'ed: the pool ends them once idle).
    const args = "Deno" in globalThis ? ["eval", "--ext=ts", script] : ["--import", "tsx", "--input-type=module", "-e", script];
    const started = Date.now();
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(process.execPath, args, { timeout: 20_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(stdout);
      });
      child.stdin?.end();
    });
    expect(output).toMatch(/^compressed \d+/);
    expect(Date.now() - started).toBeLessThan(20_000);
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
