/**
 * The decompressing side of `GunzipStream`/`InflateStream`'s `"fflate"` engine, in two
 * parts: the framing of gzip members (header, trailer, the boundary to the next member),
 * and the feeding of one deflate stream to sluice's strict inflater (lib/_inflate.ts) in
 * steps that keep backpressure. Not part of the public API: names and shapes here may change
 * in any release.
 * @module
 */

import { checkChunk, crc32 } from "./_gzip.ts";
import { Inflater, NEED_INPUT, STREAM_END } from "./_inflate.ts";
import { readerCaughtUp } from "./_internal.ts";

/** Work counters of one decompressing stream, for tests that check nothing is done twice. */
export interface InflateWork {
  /** How many input bytes the inflater read (each should be read once). */
  inflated: number;
  /** How many header bytes were searched for the NUL ending a name or comment. */
  headerScanned: number;
}

/** The work counters of each `GunzipStream`/`InflateStream` (fflate engine), for tests. */
export const inflateWork: WeakMap<object, InflateWork> = new WeakMap();

/** The largest gzip header sluice accepts (FEXTRA is at most 64 KiB; names are rarely long). */
const MAX_HEADER = 1 << 20;
/** Unread output chunks past which inflating waits for the reader, and how few it waits for. */
const PAUSE_AT = 8;
const RESUME_AT = 2;

/** The error of a stream whose output would pass `maxOutputBytes`, with either engine. */
export function overLimit(name: string, max: number): RangeError {
  return new RangeError(`${name}: decompressed output would pass maxOutputBytes (${max} bytes); stopped (possible decompression bomb)`);
}

/** A growable byte buffer for headers and trailers that arrive in pieces. */
class Pending {
  bytes = new Uint8Array(64);
  length = 0;
  append(data: Uint8Array): void {
    if (this.length + data.length > this.bytes.length) {
      const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + data.length));
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
    }
    this.bytes.set(data, this.length);
    this.length += data.length;
  }
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
  /** Empties the buffer, dropping it if it grew past `keep` bytes. */
  clear(keep = 4096): void {
    this.length = 0;
    if (this.bytes.length > keep) this.bytes = new Uint8Array(64);
  }
}

function hex(b: number): string {
  return "0x" + b.toString(16).padStart(2, "0");
}

/**
 * What earlier calls learned about a header arriving in pieces, for FNAME (index 0) and
 * FCOMMENT (1): where the field starts, how far it is known to hold no NUL, and its NUL once
 * found. The bytes of a header only ever grow at the end, so this stays true, and a long name
 * arriving a few bytes at a time is searched once in all, not once per piece.
 */
class HeaderScan {
  readonly from = [-1, -1];
  readonly clean = [0, 0];
  readonly nul = [-1, -1];
  scanned = 0;
  reset(): void {
    this.from[0] = this.from[1] = this.nul[0] = this.nul[1] = -1;
  }
}

/** The header length, or -1 while incomplete; throws on a header that is not gzip. */
function headerLength(name: string, b: Uint8Array, member: number, memo: HeaderScan): number {
  const where = `member ${member} header`;
  if ((b.length > 0 && b[0] !== 0x1f) || (b.length > 1 && b[1] !== 0x8b)) {
    const got = Array.from(b.subarray(0, 2), hex).join(" ");
    if (member > 1) {
      // zlib and gzip(1) skip such bytes; sluice does not guess what they were meant to be.
      throw new Error(`${name}: unexpected bytes after member ${member - 1}: they start with ${got}, not with a gzip header's 0x1f 0x8b (trailing garbage?)`);
    }
    throw new Error(`${name}: not gzip data: ${where} starts with ${got}, expected 0x1f 0x8b`);
  }
  if (b.length < 10) return -1;
  if (b[2] !== 8) throw new Error(`${name}: unsupported compression method ${b[2]} in ${where} (only 8, deflate)`);
  const flags = b[3]!;
  if (flags & 0xe0) throw new Error(`${name}: corrupt ${where}: reserved flag bits set (FLG ${hex(flags)})`);
  let p = 10;
  if (flags & 4) {
    if (b.length < p + 2) return -1;
    p += 2 + (b[p]! | (b[p + 1]! << 8));
    if (b.length < p) return -1;
  }
  for (let i = 0; i < 2; i++) {
    if (!(flags & (i === 0 ? 8 : 16))) continue;
    let nul = memo.from[i] === p ? memo.nul[i]! : -1;
    if (nul < 0) {
      const start = memo.from[i] === p ? memo.clean[i]! : p;
      nul = b.indexOf(0, start);
      memo.scanned += (nul < 0 ? b.length : nul + 1) - start;
      memo.from[i] = p;
      memo.clean[i] = b.length;
      memo.nul[i] = nul;
    }
    if (nul < 0) return b.length > MAX_HEADER ? tooLong(name, where) : -1;
    p = nul + 1;
  }
  if (flags & 2) {
    if (b.length < p + 2) return -1;
    const expected = crc32(0, b.subarray(0, p)) & 0xffff;
    const stored = b[p]! | (b[p + 1]! << 8);
    if (expected !== stored) {
      throw new Error(`${name}: corrupt ${where}: header CRC16 is ${stored}, computed ${expected}`);
    }
    p += 2;
  }
  return p;
}

function tooLong(name: string, where: string): never {
  throw new Error(`${name}: ${where} is longer than ${MAX_HEADER} bytes (unterminated file name or comment?)`);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * The framing of gzip members around their deflate data: parses each header (in place when it
 * arrives whole, else gathered), checks each trailer against the CRC-32 and length of the
 * member's output, and counts members.
 */
class GzipMembers {
  /** The member being read, from 1. */
  member = 1;
  /** Members read completely. */
  members = 0;
  #crc = 0;
  #size = 0;
  readonly #pending = new Pending();
  readonly #scan = new HeaderScan();
  readonly #name: string;
  readonly #work: InflateWork;

  constructor(name: string, work: InflateWork) {
    this.#name = name;
    this.#work = work;
  }

  /** Bytes of a header or trailer gathered so far. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Counts output of the current member for its trailer. */
  count(out: Uint8Array): void {
    this.#crc = crc32(this.#crc, out);
    this.#size = (this.#size + out.length) >>> 0;
  }

  /** Takes header bytes; returns what follows the header, or undefined while it is incomplete. */
  header(data: Uint8Array): Uint8Array | undefined {
    const name = this.#name;
    const pending = this.#pending;
    // Usually the whole header is in one chunk: parse it in place, without copying.
    const whole = pending.length === 0;
    if (!whole) pending.append(data);
    const b = whole ? data : pending.view();
    const n = headerLength(name, b, this.member, this.#scan);
    this.#work.headerScanned = this.#scan.scanned;
    if (n < 0) {
      if (whole) pending.append(data);
      if (b.length > MAX_HEADER) tooLong(name, `member ${this.member} header`);
      return undefined;
    }
    const rest = whole ? data.subarray(n) : b.slice(n);
    pending.clear();
    this.#scan.reset();
    this.#crc = 0;
    this.#size = 0;
    return rest;
  }

  /** Takes trailer bytes; returns what follows the trailer once it is complete and matches. */
  trailer(data: Uint8Array): Uint8Array | undefined {
    const name = this.#name;
    const pending = this.#pending;
    const take = Math.min(8 - pending.length, data.length);
    pending.append(data.subarray(0, take));
    if (pending.length < 8) return undefined;
    const t = pending.view();
    const storedCrc = readU32(t, 0);
    const storedSize = readU32(t, 4);
    pending.clear();
    if (storedCrc !== this.#crc) {
      throw new Error(`${name}: CRC32 mismatch in member ${this.member}: trailer says ${storedCrc.toString(16).padStart(8, "0")}, data has ${this.#crc.toString(16).padStart(8, "0")}`);
    }
    if (storedSize !== this.#size) {
      throw new Error(`${name}: length mismatch in member ${this.member}: trailer says ${storedSize} bytes (mod 2^32), got ${this.#size}`);
    }
    this.members++;
    return data.subarray(take);
  }

  /** Starts the next member. */
  next(): void {
    this.member++;
  }
}

/**
 * Feeds deflate streams (one per gzip member) to sluice's inflater, in steps of at most 256 KiB
 * of output that never pass the limit, pausing when the reader is more than `PAUSE_AT` chunks
 * behind.
 */
class DeflateFeeder {
  /** Output so far, over all members (what `maxOutputBytes` limits). */
  total = 0;
  /** Input not yet inflated when inflating paused for the reader. */
  paused: Uint8Array | undefined;
  /** Made at the first deflate stream: its buffers are about 350 KiB. */
  #inflater: Inflater | undefined;
  #started = false;

  constructor(
    readonly name: string,
    readonly max: number,
    readonly work: InflateWork,
    readonly controller: TransformStreamDefaultController<Uint8Array>,
    /** Counts each piece of output for the trailer; names the member in errors. */
    readonly members: GzipMembers | undefined,
  ) {}

  /** Begins a new deflate stream. */
  start(): void {
    (this.#inflater ??= new Inflater()).reset();
    this.#started = true;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Forgets the deflate stream (ended, or the input ended). */
  stop(): void {
    this.#started = false;
  }

  /** Feeds deflate data; returns what follows the end of the deflate stream, or undefined. */
  feed(data: Uint8Array): Uint8Array | undefined {
    const inflater = this.#inflater!;
    const controller = this.controller;
    inflater.input(data);
    for (;;) {
      const from = inflater.position;
      let status: number;
      try {
        status = inflater.run(this.max - this.total);
      } catch (error) {
        const where = this.members ? ` in member ${this.members.member}` : "";
        throw new Error(`${this.name}: corrupt deflate data${where}: ${(error as Error).message}`, { cause: error });
      }
      this.work.inflated += inflater.position - from;
      const out = inflater.take();
      if (out.length > 0) {
        this.total += out.length;
        this.members?.count(out);
        controller.enqueue(out);
      }
      if (status === STREAM_END) return data.subarray(inflater.position);
      if (status === NEED_INPUT) return undefined;
      // OUTPUT_FULL: more output is ready to be written.
      if (this.total >= this.max) throw overLimit(this.name, this.max);
      if (controller.desiredSize !== null && controller.desiredSize < -PAUSE_AT) {
        this.paused = data.subarray(inflater.position);
        return undefined;
      }
    }
  }
}

/** The transformer of `GunzipStream` (`gzip`) and `InflateStream` with the fflate engine. */
export function decompressor(name: string, gzip: boolean, max: number, work: InflateWork): Transformer<Uint8Array, Uint8Array> {
  let state: "header" | "body" | "trailer" | "between" = gzip ? "header" : "body";
  const members = gzip ? new GzipMembers(name, work) : undefined;
  let feeder!: DeflateFeeder;
  let controller!: TransformStreamDefaultController<Uint8Array>;

  const feed = (input: Uint8Array): void | Promise<void> => {
    let data: Uint8Array | undefined = input;
    while (data.length > 0) {
      switch (state) {
        case "between":
          state = "header";
          members!.next();
          continue;
        case "header":
          data = members!.header(data);
          if (data === undefined) return;
          feeder.start();
          state = "body";
          continue;
        case "body": {
          if (!feeder.started) feeder.start();
          const rest = feeder.feed(data);
          if (rest === undefined) {
            const more = feeder.paused;
            if (more === undefined) return;
            feeder.paused = undefined;
            return readerCaughtUp(controller, RESUME_AT).then(() => {
              if (controller.desiredSize !== null) return feed(more);
            });
          }
          feeder.stop();
          if (!gzip) {
            if (rest.length > 0) throw new Error(`${name}: ${rest.length} unexpected bytes after the end of the deflate stream`);
            state = "between";
            return;
          }
          data = rest;
          state = "trailer";
          continue;
        }
        case "trailer":
          data = members!.trailer(data);
          if (data === undefined) return;
          state = "between";
          continue;
      }
    }
  };

  return {
    start(c) {
      controller = c;
      feeder = new DeflateFeeder(name, max, work, c, members);
    },
    transform(chunk) {
      checkChunk(name, chunk);
      if (!gzip && state === "between" && chunk.length > 0) {
        throw new Error(`${name}: ${chunk.length} unexpected bytes after the end of the deflate stream`);
      }
      return feed(chunk);
    },
    flush() {
      feeder.stop();
      if (!gzip) {
        if (state !== "between") throw new Error(`${name}: input ended before the end of the deflate stream (truncated)`);
        return;
      }
      const m = members!;
      switch (state) {
        case "between":
          return;
        case "header":
          if (m.members === 0 && m.pending === 0) throw new Error(`${name}: input ended before any gzip member (empty input)`);
          throw new Error(`${name}: input ended inside the header of member ${m.member} (truncated)`);
        case "body":
          throw new Error(`${name}: input ended inside the compressed data of member ${m.member} (truncated)`);
        case "trailer":
          throw new Error(`${name}: input ended inside the trailer of member ${m.member}: ${m.pending} of 8 bytes (truncated)`);
      }
    },
  };
}
