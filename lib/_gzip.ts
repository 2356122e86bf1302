/**
 * The compressing core shared by `GzipStream`/`DeflateStream` on the calling
 * thread and by the gzip worker: CRC-32 and its combination, the gzip header,
 * and the block layout that makes the output independent of threads and chunking.
 * Not part of the public API: names and shapes here may change in any release.
 * @module
 */

import { safeDeflate, syncFlushed } from "./_fflate.ts";
import { describeValue } from "./_internal.ts";

/**
 * The input is cut into blocks of exactly this many bytes (the last one shorter), each
 * compressed on its own with the 32 KiB before it as its dictionary, so that blocks can be
 * compressed on any thread in any order and joined into the same bytes. Changing it changes
 * sluice's output bytes. Measured on 30 MB of the auction JSON: 128 KiB to 1 MiB blocks all
 * compress within 0.1% of one unbroken stream, so the size is chosen for memory and latency.
 */
export const BLOCK_SIZE = 1 << 18;

/**
 * fflate's `mem` for a block: a 2^17-entry hash table (256 KiB) instead of its streaming
 * default of 2^20 (2 MiB), allocated afresh for every block. On 20 MB of the auction JSON the
 * output is the same size at levels 6 and 9 and 0.18% larger at level 1, at the same speed;
 * two workers' extra peak memory drops from about 140 MB to 95 MB. Changing it changes
 * sluice's output bytes.
 */
const BLOCK_MEM = 5;

/** The deflate window: every block but the first gets this much of the input before it. */
export const DICTIONARY = 32768;

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

/** Throws the `TypeError` of a stream given a chunk that is not bytes. */
export function checkChunk(name: string, chunk: unknown): asserts chunk is Uint8Array {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(`${name} expects Uint8Array chunks, got ${describeValue(chunk)}`);
  }
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

// CRC-32 combination: the CRC of A followed by B from crc(A), crc(B) and B's length, so that
// every block's CRC is computed on the thread that compresses it. Polynomials over GF(2) in
// the reflected bit order of the CRC (bit 31 is x^0), as in zlib's crc32_combine.
const POLY = 0xedb88320;

/** a(x) * b(x) modulo the CRC polynomial. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let m = 1 << 31; m !== 0; m >>>= 1) {
    if (a & m) product ^= b;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the CRC polynomial, for k = 0..63. */
const X_POW_2K = /* @__PURE__ */ (() => {
  const t = new Uint32Array(64);
  let p = 1 << 30; // x^1
  for (let k = 0; k < 64; k++) {
    t[k] = p;
    p = multiplyModP(p, p);
  }
  return t;
})();

/** The CRC-32 of A followed by B, given crc32(A), crc32(B) and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  // Appending n bytes of zeros to A multiplies its CRC by x^(8n); B's CRC then adds on.
  let p = 1 << 31; // x^0
  for (let n = lengthB, k = 3; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) p = multiplyModP(X_POW_2K[k]!, p);
  }
  return (multiplyModP(p, crcA) ^ crcB) >>> 0;
}

/** The gzip trailer: CRC-32 and length mod 2^32, little-endian. */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const t = new Uint8Array(8);
  for (let i = 0; i < 4; i++) {
    t[i] = (crc >>> (8 * i)) & 255;
    t[4 + i] = (size >>> (8 * i)) & 255;
  }
  return t;
}

/** A final, empty fixed-Huffman block: what ends the stream when the input ended on a block boundary. */
export const FINAL_EMPTY = /* @__PURE__ */ new Uint8Array([3, 0]);

/**
 * Compresses one block: `buffer` holds `dictionary` bytes of the input before the block, then
 * the block. A block that is not `final` ends on a byte boundary (a sync flush), so the next
 * block's bytes can follow it directly; a final one ends the deflate stream. Returns fresh
 * arrays, each with its own buffer (safe to transfer).
 */
export function compressBlock(level: number, buffer: Uint8Array, dictionary: number, final: boolean): Uint8Array[] {
  const data = buffer.subarray(dictionary);
  if (data.length === 0) return final ? [FINAL_EMPTY.slice()] : [];
  if (level === 0) return [storedBlocks(data, final)];
  const out: Uint8Array[] = [];
  // Not fflate's own Deflate, whose first block could refer to bytes before the start of the
  // stream (fflate issue #260): see _fflate.ts.
  const deflate = safeDeflate(
    level,
    (chunk) => {
      if (chunk.length > 0) out.push(chunk);
    },
    dictionary > 0 ? buffer.subarray(0, dictionary) : undefined,
    BLOCK_MEM,
  );
  deflate.push(data, final);
  if (!final) out.push(syncFlushed(deflate));
  return out;
}

/** Level 0: stored blocks of at most 65,535 bytes, BFINAL on the last one only when `final`. */
function storedBlocks(data: Uint8Array, final: boolean): Uint8Array {
  const count = Math.ceil(data.length / 65535);
  const out = new Uint8Array(data.length + 5 * count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const piece = data.subarray(i * 65535, (i + 1) * 65535);
    out[at] = final && i === count - 1 ? 1 : 0;
    out[at + 1] = piece.length & 255;
    out[at + 2] = piece.length >>> 8;
    out[at + 3] = ~piece.length & 255;
    out[at + 4] = (~piece.length >>> 8) & 255;
    out.set(piece, at + 5);
    at += 5 + piece.length;
  }
  return out;
}

/** A block for a compression worker: `length` bytes of `buffer`, of which `dictionary` come first. */
export interface BlockJob {
  type: "block";
  id: number;
  level: number;
  buffer: ArrayBuffer;
  length: number;
  dictionary: number;
  final: boolean;
}

/** A worker's answer: the compressed block, the CRC-32 of its data, and its input buffer back. */
export type BlockResult =
  | { type: "done"; id: number; chunks: Uint8Array[]; crc: number; buffer: ArrayBuffer }
  | { type: "error"; id: number; message: string };

/** Runs a job where it is received: in a worker, or on the calling thread. */
export function runJob(job: BlockJob): { chunks: Uint8Array[]; crc: number } {
  const view = new Uint8Array(job.buffer, 0, job.length);
  return { chunks: compressBlock(job.level, view, job.dictionary, job.final), crc: crc32(0, view.subarray(job.dictionary)) };
}
