/**
 * The parts of the MessagePack decoder stream that are not its face: the scan
 * for where values end, and a window on the work a stream did, for tests.
 * Internal: names and shapes here may change in any release.
 * @module
 */

import { DecodeError } from "@msgpack/msgpack";
import type { MsgpackDecoderLimits } from "./msgpack.ts";

/** The limits the scan checks at each header: all but the whole value's bound. */
export type ScanLimits = Omit<MsgpackDecoderLimits, "maxValueBytes" | "maxValueSize">;

/**
 * Finds where MessagePack values end without decoding them, so that the
 * decoder is called once per complete value and never on a partial one. It
 * reads only headers (payloads of strings, binaries and extensions are
 * skipped), checks the length limits as soon as a header is seen, and keeps
 * its place inside an incomplete value between calls, so a value arriving in
 * many pieces is scanned once in all.
 */
export class Boundaries {
  /** Elements still expected by each open array or map, innermost last. */
  readonly open: number[] = [];
  /** Where the next item starts. */
  pos = 0;
  /** The buffer length needed before scanning can go on from `pos`. */
  need = 0;
  /** Bytes looked at in all (headers and skipped payloads alike), for tests. */
  scanned = 0;
  /** The stream offset of the scanned buffer's first byte, for error messages. */
  base = 0;
  #limits: ScanLimits;

  constructor(limits: ScanLimits) {
    this.#limits = limits;
  }

  /**
   * Scans `bytes[this.pos, end)` and returns the end of the last top-level
   * value completed there, or -1 when none was. Afterwards `pos` is where an
   * incomplete item starts (or `end`) and `need` how long the buffer must be
   * for that item to be complete, or its header readable.
   */
  scan(bytes: Uint8Array, end: number): number {
    const open = this.open;
    const limits = this.#limits;
    let p = this.pos;
    let complete = -1;
    this.need = 0;
    while (p < end) {
      const b = bytes[p]!;
      let size = 1;
      let count = -1;
      if (b < 0x80 || b >= 0xe0) {
        // positive or negative fixint
      } else if (b < 0x90) {
        count = (b & 15) * 2;
      } else if (b < 0xa0) {
        count = b & 15;
      } else if (b < 0xc0) {
        size = 1 + (b & 31);
      } else {
        // Header sizes of 0xc0..0xdf; for lengths, the bytes that hold them.
        const header = HEADER[b - 0xc0]!;
        if (p + header > end) {
          this.need = p + header;
          break;
        }
        switch (b) {
          case 0xc4: size = header + this.#length("bin", bytes[p + 1]!, limits.maxBinLength); break;
          case 0xc5: size = header + this.#length("bin", u16(bytes, p + 1), limits.maxBinLength); break;
          case 0xc6: size = header + this.#length("bin", u32(bytes, p + 1), limits.maxBinLength); break;
          case 0xc7: size = header + 1 + this.#length("ext", bytes[p + 1]!, limits.maxExtLength); break;
          case 0xc8: size = header + 1 + this.#length("ext", u16(bytes, p + 1), limits.maxExtLength); break;
          case 0xc9: size = header + 1 + this.#length("ext", u32(bytes, p + 1), limits.maxExtLength); break;
          case 0xd9: size = header + this.#length("str", bytes[p + 1]!, limits.maxStrLength); break;
          case 0xda: size = header + this.#length("str", u16(bytes, p + 1), limits.maxStrLength); break;
          case 0xdb: size = header + this.#length("str", u32(bytes, p + 1), limits.maxStrLength); break;
          case 0xdc: count = this.#length("array", u16(bytes, p + 1), limits.maxArrayLength); size = header; break;
          case 0xdd: count = this.#length("array", u32(bytes, p + 1), limits.maxArrayLength); size = header; break;
          case 0xde: count = 2 * this.#length("map", u16(bytes, p + 1), limits.maxMapLength); size = header; break;
          case 0xdf: count = 2 * this.#length("map", u32(bytes, p + 1), limits.maxMapLength); size = header; break;
          case 0xc1: throw new DecodeError(`MsgpackDecoderStream: byte 0xc1 at stream offset ${this.base + p} is not MessagePack (that type byte is never used)`);
          default: size = header; // fixed-size scalars and fixext
        }
      }
      if (count >= 0 && open.length >= limits.maxDepth) {
        // A container one level past the bound, refused at its header (before its items arrive).
        throw new RangeError(
          `MsgpackDecoderStream: an array or map at stream offset ${this.base + p} nests deeper than maxDepth (${limits.maxDepth} levels)`,
        );
      }
      if (p + size > end) {
        this.need = p + size;
        break;
      }
      p += size;
      if (count > 0) {
        open.push(count);
        continue;
      }
      // An item ended: close every container it was the last element of.
      for (;;) {
        const top = open.length - 1;
        if (top < 0) {
          complete = p;
          break;
        }
        if (--open[top]! > 0) break;
        open.pop();
      }
    }
    this.scanned += p - this.pos;
    this.pos = p;
    if (this.need === 0) this.need = p + 1;
    return complete;
  }

  #length(kind: "str" | "bin" | "ext" | "array" | "map", length: number, max: number): number {
    if (length > max) {
      const unit = kind === "array" ? "elements" : kind === "map" ? "entries" : "bytes";
      const option = { str: "maxStrLength", bin: "maxBinLength", ext: "maxExtLength", array: "maxArrayLength", map: "maxMapLength" }[kind];
      throw new RangeError(`MsgpackDecoderStream: a ${kind} of ${length} ${unit} exceeds ${option} (${max})`);
    }
    return length;
  }
}

/** Header length of each format 0xc0..0xdf (type byte and length or payload of fixed size). */
const HEADER = [
  1, 1, 1, 1, // nil, (never used), false, true
  2, 3, 5, // bin 8/16/32
  2, 3, 5, // ext 8/16/32 (the type byte is added to the size)
  5, 9, // float 32/64
  2, 3, 5, 9, // uint 8/16/32/64
  2, 3, 5, 9, // int 8/16/32/64
  3, 4, 6, 10, 18, // fixext 1/2/4/8/16
  2, 3, 5, // str 8/16/32
  3, 5, // array 16/32
  3, 5, // map 16/32
];

function u16(bytes: Uint8Array, p: number): number {
  return (bytes[p]! << 8) | bytes[p + 1]!;
}

function u32(bytes: Uint8Array, p: number): number {
  return ((bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!) >>> 0;
}

/** How much work a `MsgpackDecoderStream` has done, for tests that check it stays linear and bounded. */
export interface DecoderWork {
  /** Calls of the library's decoder. */
  decodeCalls: number;
  /** Bytes looked at for boundaries (headers and skipped payloads alike). */
  scannedBytes: number;
  /** The size of the buffer held for a value that spans chunks (0 when none). */
  capacity: number;
}

const work = new WeakMap<object, () => DecoderWork>();

/** Lets {@linkcode workOf} report on `stream`. */
export function registerWork(stream: object, report: () => DecoderWork): void {
  work.set(stream, report);
}

/** The work `stream` (a `MsgpackDecoderStream`) has done so far. */
export function workOf(stream: object): DecoderWork {
  const report = work.get(stream);
  if (report === undefined) throw new TypeError("workOf: not a MsgpackDecoderStream");
  return report();
}
