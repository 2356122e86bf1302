/**
 * The compressing core shared by `GzipStream`/`DeflateStream` on the main
 * thread and by the gzip worker: CRC32, the gzip header, and a deflater fed in
 * fixed-size blocks so that its output does not depend on how the input was cut.
 * Not part of the public API: names and shapes here may change in any release.
 * @module
 */

import type { Deflate } from "fflate";
import { safeDeflate } from "./_fflate.ts";

/**
 * fflate's `Deflate` emits different (equally valid) bytes for different push
 * sizes, so every engine pushes blocks of exactly this size (the last one
 * shorter). Changing it changes sluice's output bytes.
 */
export const BLOCK_SIZE = 65536;

// Slicing-by-8 CRC32 tables: eight bytes per step, several times faster than
// the byte-at-a-time loop, which matters when verifying 100+ MB/s of output.
const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 255]!;
    }
  }
  return t;
})();

/** Continues a CRC32 (start with 0) over `data`; returns the unsigned CRC. */
export function crc32(crc: number, data: Uint8Array): number {
  const t = CRC_TABLE;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  const end8 = n - (n & 7);
  while (i < end8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const b = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c = t[1792 + (a & 255)]! ^ t[1536 + ((a >>> 8) & 255)]! ^ t[1280 + ((a >>> 16) & 255)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + (b & 255)]! ^ t[512 + ((b >>> 8) & 255)]! ^ t[256 + ((b >>> 16) & 255)]! ^ t[b >>> 24]!;
    i += 8;
  }
  while (i < n) c = t[(c ^ data[i++]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** What the compressing core needs to know; all validated by the caller. */
export interface CoreOptions {
  level: number;
  /** Whole seconds since the Unix epoch, or undefined for raw deflate. */
  gzip?: { mtime: number; filename?: string };
}

/**
 * The 10-byte gzip header plus FNAME. XFL follows zlib (4 fastest, 2 best)
 * and OS is 255 "unknown" on every platform, so the bytes never depend on
 * where they were made.
 */
export function gzipHeader(level: number, mtime: number, filename?: string): Uint8Array {
  const nameLength = filename === undefined ? 0 : filename.length + 1;
  const h = new Uint8Array(10 + nameLength);
  h[0] = 0x1f;
  h[1] = 0x8b;
  h[2] = 8;
  h[3] = filename === undefined ? 0 : 8;
  h[4] = mtime & 255;
  h[5] = (mtime >>> 8) & 255;
  h[6] = (mtime >>> 16) & 255;
  h[7] = (mtime >>> 24) & 255;
  h[8] = level <= 1 ? 4 : level === 9 ? 2 : 0;
  h[9] = 255;
  if (filename !== undefined) {
    for (let i = 0; i < filename.length; i++) h[10 + i] = filename.charCodeAt(i);
    // h[10 + filename.length] stays 0: the terminating NUL.
  }
  return h;
}

/**
 * Compresses bytes pushed in any sizes into gzip (or raw deflate) output that
 * depends only on the bytes and the options. Output chunks are fresh arrays
 * owned by the caller of `emit`.
 */
export class BlockDeflater {
  #deflate: Deflate;
  #block: Uint8Array | undefined;
  #filled = 0;
  #crc = 0;
  #size = 0;
  #gzip: boolean;
  #emit: (chunk: Uint8Array) => void;

  constructor(options: CoreOptions, emit: (chunk: Uint8Array) => void) {
    this.#emit = emit;
    this.#gzip = options.gzip !== undefined;
    // Not fflate's own Deflate, whose first push can refer to bytes before the
    // start (fflate issue #260): see _fflate.ts.
    this.#deflate = safeDeflate(options.level, (data) => {
      if (data.length > 0) emit(data);
    });
    if (options.gzip) emit(gzipHeader(options.level, options.gzip.mtime, options.gzip.filename));
  }

  /** Takes bytes; compresses every complete block. The caller may reuse `chunk` afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#gzip) {
      this.#crc = crc32(this.#crc, chunk);
      this.#size = (this.#size + chunk.length) >>> 0;
    }
    let offset = 0;
    const length = chunk.length;
    if (this.#filled > 0) {
      const take = Math.min(BLOCK_SIZE - this.#filled, length);
      this.#block!.set(chunk.subarray(0, take), this.#filled);
      this.#filled += take;
      offset = take;
      if (this.#filled < BLOCK_SIZE) return;
      this.#deflate.push(this.#block!, false);
      this.#filled = 0;
    }
    // Whole blocks inside the chunk go straight in: Deflate copies them into its own window.
    while (length - offset >= BLOCK_SIZE) {
      this.#deflate.push(chunk.subarray(offset, offset + BLOCK_SIZE), false);
      offset += BLOCK_SIZE;
    }
    if (offset < length) {
      this.#block ??= new Uint8Array(BLOCK_SIZE);
      this.#block.set(chunk.subarray(offset), 0);
      this.#filled = length - offset;
    }
  }

  /** Compresses what is left and emits the final deflate block (and the gzip trailer). */
  finish(): void {
    this.#deflate.push(this.#filled > 0 ? this.#block!.subarray(0, this.#filled) : new Uint8Array(0), true);
    this.#block = undefined;
    this.#filled = 0;
    if (this.#gzip) {
      const t = new Uint8Array(8);
      writeU32(t, 0, this.#crc);
      writeU32(t, 4, this.#size);
      this.#emit(t);
    }
  }
}

function writeU32(d: Uint8Array, at: number, v: number): void {
  d[at] = v & 255;
  d[at + 1] = (v >>> 8) & 255;
  d[at + 2] = (v >>> 16) & 255;
  d[at + 3] = (v >>> 24) & 255;
}

/** Messages from the main thread to the gzip worker. */
export type ToWorker =
  | { type: "init"; options: CoreOptions }
  | { type: "block"; block: Uint8Array }
  | { type: "end" };

/** Messages from the gzip worker to the main thread. */
export type FromWorker =
  | { type: "out"; chunks: Uint8Array[]; ack: boolean }
  | { type: "end"; chunks: Uint8Array[] }
  | { type: "error"; message: string };
