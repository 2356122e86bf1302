// Helpers shared by the test files: building sources, draining streams,
// deferred promises and comparing bytes. Nothing here is part of sluice.

/** A promise with its resolve and reject functions exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

/** Creates a promise that the caller settles by hand. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: Deferred<T>["resolve"];
  let reject!: Deferred<T>["reject"];
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A stream that enqueues the given chunks in order (one per pull) and closes. */
export function streamOf<T>(chunks: Iterable<T>): ReadableStream<T> {
  const it = chunks[Symbol.iterator]();
  return new ReadableStream<T>({
    pull(controller) {
      const next = it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  }, { highWaterMark: 0 });
}

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

/** Reads a stream to its end and returns its chunks. */
export async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const reader = stream.getReader();
  const out: T[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
}

/** Joins byte chunks into one array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Reads a byte stream to its end and joins it. */
export async function collectBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return concat(await collect(stream));
}

/** Bytes 0, 1, 2, ... 255, 0, 1, ... of the given length: easy to check by eye. */
export function sequence(length: number, start = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (start + i) & 255;
  return out;
}

/** Cuts bytes into pieces at the given offsets (sorted, in range). */
export function cutAt(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const points = [...new Set(offsets)].filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

/** Lowercase hex SHA-256 of some bytes, with the platform's WebCrypto. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Resolves after `ms` milliseconds. Only for tests whose subject is real time (network pacing). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when the test is running in Node or Deno (not a browser). */
export const isServerRuntime = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";

/** A small seeded pseudo-random generator (mulberry32): numbers in [0, 1), the same for a seed in every runtime. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Small binary inputs of the shape that fflate 0.8.3's streaming Deflate used to
 * compress into unreadable streams (fflate issue #260): a run of zero bytes, then
 * a short record repeated with a little noise, a few hundred bytes to a few KiB,
 * as in fonts, images and office files. Deterministic for a seed.
 */
export function zeroLedRecords(seed: number): Uint8Array {
  const rnd = mulberry32(seed);
  const length = 100 + Math.floor(rnd() * 4000);
  const zeros = Math.floor(rnd() * 64);
  const record = new Uint8Array(2 + Math.floor(rnd() * 12));
  for (let i = 0; i < record.length; i++) record[i] = rnd() < 0.4 ? 0 : Math.floor(rnd() * 256);
  const out = new Uint8Array(length);
  for (let i = zeros; i < length; i++) out[i] = rnd() < 0.05 ? Math.floor(rnd() * 256) : record[(i - zeros) % record.length]!;
  return out;
}

/** Ten bytes that fflate 0.8.3's own Deflate compresses with a reference 4 bytes before the start. */
export const ZERO_LED_MINIMAL: Uint8Array = /* @__PURE__ */ (() => {
  const out = new Uint8Array(10);
  out[4] = 116;
  return out;
})();

/** What a reference decompressor made of some bytes. */
export interface Decompressed {
  ok: boolean;
  /** What the reference emitted, all of it when ok, up to where it stopped otherwise. */
  out: Uint8Array;
  /** zlib's error message when not ok. */
  message?: string;
}

interface ZlibStream {
  on(event: string, listener: (arg: never) => void): void;
  end(chunk: Uint8Array): void;
}
let zlib: { createGunzip(): ZlibStream; createInflateRaw(): ZlibStream } | undefined;

/**
 * Decompresses with zlib: node:zlib where there is one (Node, Deno, Bun, workerd); in browsers,
 * node:zlib in the Vitest process (a browser command). A browser's own DecompressionStream is no
 * reference (WebKit's gives other bytes before its error on a second gzip member).
 */
export async function referenceDecompress(format: "gzip" | "deflate-raw", bytes: Uint8Array): Promise<Decompressed> {
  if (isServerRuntime) {
    const name = "node:zlib";
    zlib ??= await import(/* @vite-ignore */ name);
    const z = format === "gzip" ? zlib!.createGunzip() : zlib!.createInflateRaw();
    const parts: Uint8Array[] = [];
    return new Promise((resolve) => {
      z.on("data", (chunk: Uint8Array) => void parts.push(new Uint8Array(chunk)));
      z.on("end", () => resolve({ ok: true, out: concat(parts) }));
      z.on("error", (error: Error) => resolve({ ok: false, out: concat(parts), message: error.message }));
      z.end(bytes);
    });
  }
  const { commands } = await import("vitest/browser");
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const { ok, out, message } = await commands.zlibDecompress(format, btoa(text));
  return { ok, out: Uint8Array.from(atob(out), (c) => c.charCodeAt(0)), ...(message === undefined ? {} : { message }) };
}

/**
 * Writes a bit stream as deflate stores it: fields least significant bit first, Huffman codes
 * most significant bit first, bytes filled from their lowest bit.
 */
export class BitWriter {
  readonly #bytes: number[] = [];
  #bit = 0;

  /** Writes the low `n` bits of `value`, lowest first. */
  bits(value: number, n: number): this {
    for (let i = 0; i < n; i++) {
      if (this.#bit === 0) this.#bytes.push(0);
      this.#bytes[this.#bytes.length - 1]! |= ((value >>> i) & 1) << this.#bit;
      this.#bit = (this.#bit + 1) & 7;
    }
    return this;
  }

  /** Writes a Huffman code of `length` bits, its highest bit first. */
  code(code: number, length: number): this {
    for (let i = length - 1; i >= 0; i--) this.bits((code >>> i) & 1, 1);
    return this;
  }

  /** Pads with zero bits to the next byte boundary. */
  align(): this {
    this.#bit = 0;
    return this;
  }

  /** Writes whole bytes (after aligning). */
  bytes(data: ArrayLike<number>): this {
    this.align();
    for (let i = 0; i < data.length; i++) this.#bytes.push(data[i]!);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}
