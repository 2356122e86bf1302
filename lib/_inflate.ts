/**
 * A strict, resumable DEFLATE decoder (RFC 1951) for `GunzipStream` and `InflateStream`: it
 * rejects everything zlib's inflate rejects, takes input in pieces of any size, and produces
 * output in bounded steps into a buffer that also keeps the 32 KiB window. Internal.
 * @module
 */

import { concatBytes } from "./_internal.ts";

/** {@linkcode Inflater.run} stopped: all input was used and the stream goes on. */
export const NEED_INPUT = 0;
/** {@linkcode Inflater.run} stopped: the next step writes output and there is no room for it. */
export const OUTPUT_FULL = 1;
/** {@linkcode Inflater.run} stopped: the final block ended; {@linkcode Inflater.position} is the byte after it. */
export const STREAM_END = 2;

/** How far back a distance may reach (RFC 1951, 2.2). */
const WINDOW = 32768;
/** Output produced between slides of the window: the most one step of `run` writes. */
const STEP = 1 << 18;

// A decoding table entry is one 32-bit integer:
//   bits 0-3   how many bits the code takes (for a link: the root bits)
//   bits 4-7   extra bits after the code (lengths, distances), or a link's sub-table index bits
//   bits 8-10  the kind, below
//   bits 16-31 the literal, the base length or distance, the symbol (code lengths), or a sub-table's offset
const LITERAL = 0;
const BASE = 1 << 8;
const END_OF_BLOCK = 2 << 8;
const INVALID = 3 << 8;
const LINK = 4 << 8;
const KIND = 7 << 8;

/** Which code a table decodes: they differ in their symbols and in what zlib lets be incomplete. */
const CODE_LENGTHS = 0;
const LITERAL_LENGTHS = 1;
const DISTANCES = 2;

/** Root table bits: codes up to this long are one lookup, longer ones a second in a sub-table. */
const LITERAL_ROOT = 10;
const DISTANCE_ROOT = 8;
// Each long code's prefix gets at most one sub-table of at most 2^(15 - root) entries.
const LITERAL_TABLE = (1 << LITERAL_ROOT) + 288 * (1 << (15 - LITERAL_ROOT));
const DISTANCE_TABLE = (1 << DISTANCE_ROOT) + 32 * (1 << (15 - DISTANCE_ROOT));

/** The order in which a dynamic block gives the code length code's lengths (RFC 1951, 3.2.7). */
const LENGTH_ORDER = Uint8Array.of(16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15);

/** Table entries, without their code length, for each symbol of the three codes. */
const LITERAL_ENTRY = new Int32Array(288);
const DISTANCE_ENTRY = new Int32Array(32);
const CODE_LENGTH_ENTRY = new Int32Array(19);
{
  for (let s = 0; s < 256; s++) LITERAL_ENTRY[s] = LITERAL | (s << 16);
  LITERAL_ENTRY[256] = END_OF_BLOCK;
  // Length codes 257..284 come in groups of four with 0..5 extra bits; 285 is 258 exactly.
  for (let s = 257, base = 3; s < 285; s++) {
    const extra = s < 265 ? 0 : (s - 261) >> 2;
    LITERAL_ENTRY[s] = BASE | (base << 16) | (extra << 4);
    base += 1 << extra;
  }
  LITERAL_ENTRY[285] = BASE | (258 << 16);
  // 286 and 287 have codes in the fixed code but no meaning.
  LITERAL_ENTRY[286] = LITERAL_ENTRY[287] = INVALID;
  // Distance codes come in pairs with 0..13 extra bits; 30 and 31 have no meaning.
  for (let s = 0, base = 1; s < 30; s++) {
    const extra = s < 4 ? 0 : (s >> 1) - 1;
    DISTANCE_ENTRY[s] = BASE | (base << 16) | (extra << 4);
    base += 1 << extra;
  }
  DISTANCE_ENTRY[30] = DISTANCE_ENTRY[31] = INVALID;
  for (let s = 0; s < 19; s++) CODE_LENGTH_ENTRY[s] = LITERAL | (s << 16);
}

const REVERSED = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let r = 0;
  for (let b = 0; b < 8; b++) r |= ((i >> b) & 1) << (7 - b);
  REVERSED[i] = r;
}

// Scratch space of the table builder, which never runs twice at once.
const lengthCount = new Uint16Array(16);
const nextCode = new Uint16Array(16);
const reversedCode = new Uint16Array(320);
const longest = new Uint8Array(1 << LITERAL_ROOT);
const subTableAt = new Uint16Array(1 << LITERAL_ROOT);

/**
 * Fills `table` to decode the canonical Huffman code whose code lengths are `lengths[from ..
 * from + n)` (RFC 1951, 3.2.2), least significant bit first as deflate stores codes. Returns
 * the root table's index bits, or -1 where zlib refuses the code: over-subscribed, or
 * incomplete, which zlib allows only for a literal/length or distance code made of one code
 * of one bit. A code with no lengths at all is allowed, as zlib allows it: its table decodes
 * every bit as an invalid symbol (for the code lengths' code, as a length of 0, which ends in
 * a missing end-of-block code: zlib's reading of such a block, to the same error).
 */
function buildTable(lengths: Uint8Array, from: number, n: number, type: number, table: Int32Array, root: number): number {
  const count = lengthCount;
  count.fill(0);
  for (let i = 0; i < n; i++) count[lengths[from + i]!]!++;
  let max = 15;
  while (max > 0 && count[max] === 0) max--;
  if (max === 0) {
    table[0] = table[1] = INVALID | 1;
    return 1;
  }
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left = (left << 1) - count[len]!;
    if (left < 0) return -1;
  }
  if (left > 0 && (type === CODE_LENGTHS || max !== 1)) return -1;
  const bits = Math.min(root, max);
  const size = 1 << bits;
  const mask = size - 1;
  // The one-bit code's other half decodes to nothing.
  if (left > 0) table[0] = table[1] = INVALID | 1;
  nextCode[1] = 0;
  for (let len = 2; len <= 15; len++) nextCode[len] = (nextCode[len - 1]! + count[len - 1]!) << 1;
  const entries = type === LITERAL_LENGTHS ? LITERAL_ENTRY : type === DISTANCES ? DISTANCE_ENTRY : CODE_LENGTH_ENTRY;
  const long = max > bits;
  if (long) longest.fill(0, 0, size);
  for (let s = 0; s < n; s++) {
    const len = lengths[from + s]!;
    if (len === 0) continue;
    const code = nextCode[len]!++;
    const r = ((REVERSED[code & 0xff]! << 8) | REVERSED[code >>> 8]!) >>> (16 - len);
    reversedCode[s] = r;
    if (len > bits && longest[r & mask]! < len) longest[r & mask] = len;
  }
  if (long) {
    // A sub-table for each root prefix of longer codes, as wide as the longest of them needs.
    let at = size;
    for (let p = 0; p < size; p++) {
      const most = longest[p]!;
      if (most === 0) continue;
      table[p] = LINK | (at << 16) | ((most - bits) << 4) | bits;
      subTableAt[p] = at;
      at += 1 << (most - bits);
    }
    if (at > table.length) throw new Error("sluice: internal error: Huffman table overflow");
  }
  for (let s = 0; s < n; s++) {
    const len = lengths[from + s]!;
    if (len === 0) continue;
    const r = reversedCode[s]!;
    const entry = entries[s]! | len;
    if (len <= bits) {
      for (let i = r; i < size; i += 1 << len) table[i] = entry;
    } else {
      const p = r & mask;
      const start = subTableAt[p]!;
      const width = 1 << (longest[p]! - bits);
      for (let i = r >>> bits; i < width; i += 1 << (len - bits)) table[start + i] = entry;
    }
  }
  return bits;
}

// The fixed codes (RFC 1951, 3.2.6), built on first use.
let fixedLiterals: Int32Array | undefined;
let fixedDistances: Int32Array | undefined;
let fixedLiteralBits = 0;
let fixedDistanceBits = 0;

function buildFixed(): void {
  const lengths = new Uint8Array(288 + 32);
  lengths.fill(8, 0, 144);
  lengths.fill(9, 144, 256);
  lengths.fill(7, 256, 280);
  lengths.fill(8, 280, 288);
  lengths.fill(5, 288, 320);
  fixedLiterals = new Int32Array(LITERAL_TABLE);
  fixedDistances = new Int32Array(DISTANCE_TABLE);
  fixedLiteralBits = buildTable(lengths, 0, 288, LITERAL_LENGTHS, fixedLiterals, LITERAL_ROOT);
  fixedDistanceBits = buildTable(lengths, 288, 32, DISTANCES, fixedDistances, DISTANCE_ROOT);
}

// Where the decoder is: between blocks, inside a stored block, reading a dynamic block's
// header, or inside a Huffman-coded block (a symbol, its extra bits, a distance, a copy).
const BLOCK = 0;
const STORED_LENGTH = 1;
const STORED_COMPLEMENT = 2;
const STORED_COPY = 3;
const TABLE_SIZES = 4;
const CODE_LENGTH_LENGTHS = 5;
const CODE_LENGTH_SYMBOLS = 6;
const SYMBOL = 7;
const LENGTH_EXTRA = 8;
const DISTANCE = 9;
const DISTANCE_EXTRA = 10;
const COPY = 11;
const DONE = 12;

/**
 * Decodes one deflate stream at a time ({@linkcode Inflater.reset} starts the next). Give it
 * input with {@linkcode Inflater.input}, decode with {@linkcode Inflater.run}, and collect what
 * that wrote with {@linkcode Inflater.take}. Input is read once, straight from the caller's
 * bytes (a stored block is copied once, from input to output); bits not yet used wait in a
 * 32-bit buffer. Corrupt data throws an `Error` with zlib's message for it.
 */
export class Inflater {
  /** Output, after up to 32 KiB already taken that later distances may refer to. */
  readonly #out = new Uint8Array(WINDOW + STEP);
  /** Where the next output byte goes, and where the output not yet taken starts. */
  #op = 0;
  #taken = 0;
  #in: Uint8Array = new Uint8Array(0);
  #ip = 0;
  /** Bits read from the input and not yet used, the first in the lowest bit; how many. */
  #bits = 0;
  #count = 0;
  #mode = BLOCK;
  #final = false;
  /** Bytes left to copy (stored block, match), and the match's distance. */
  #length = 0;
  #distance = 0;
  /** The current length or distance entry while its extra bits are awaited. */
  #entry = 0;
  // A dynamic block's header: how many of each kind of length, how many read so far.
  #literalCount = 0;
  #distanceCount = 0;
  #codeLengthCount = 0;
  #have = 0;
  readonly #lengths = new Uint8Array(320);
  #codeLengths = new Int32Array(1 << 7);
  #codeLengthBits = 0;
  readonly #literalTable = new Int32Array(LITERAL_TABLE);
  readonly #distanceTable = new Int32Array(DISTANCE_TABLE);
  /** The tables of the current block: its own, or the fixed ones. */
  #literals: Int32Array = this.#literalTable;
  #distances: Int32Array = this.#distanceTable;
  #literalBits = 0;
  #distanceBits = 0;

  /** Starts a new deflate stream, with an empty window. */
  reset(): void {
    this.#op = this.#taken = 0;
    this.#bits = this.#count = 0;
    this.#mode = BLOCK;
    this.#final = false;
    this.#in = new Uint8Array(0);
    this.#ip = 0;
  }

  /** Gives the next input; the decoder reads it (without copying) until `run` says it needs more. */
  input(data: Uint8Array): void {
    this.#in = data;
    this.#ip = 0;
  }

  /** Where in the last input the decoder is: after `STREAM_END`, the first byte after the stream. */
  get position(): number {
    return this.#ip;
  }

  /** The output written since the last call, copied (the buffer is reused). */
  take(): Uint8Array {
    const out = this.#out;
    const piece = out.slice(this.#taken, this.#op);
    // Keep the window in front, and room for a whole step after it.
    if (this.#op > WINDOW && out.length - this.#op < WINDOW) {
      out.copyWithin(0, this.#op - WINDOW, this.#op);
      this.#op = WINDOW;
    }
    this.#taken = this.#op;
    return piece;
  }

  /**
   * Decodes until the input is used up (`NEED_INPUT`), the final block ends (`STREAM_END`),
   * or the next byte to write would be past `room` bytes of output since the last `take` or
   * past the end of this step (`OUTPUT_FULL`: nothing that needs room has been read yet, so
   * running again after `take` goes on where this stopped).
   */
  run(room: number): number {
    const inp = this.#in;
    const inEnd = inp.length;
    const out = this.#out;
    const outEnd = Math.min(out.length, this.#op + room);
    let ip = this.#ip;
    let op = this.#op;
    let bits = this.#bits;
    let count = this.#count;
    let status = NEED_INPUT;

    run: for (;;) {
      switch (this.#mode) {
        case BLOCK: {
          while (count < 3) {
            if (ip === inEnd) break run;
            bits |= inp[ip++]! << count;
            count += 8;
          }
          this.#final = (bits & 1) === 1;
          const type = (bits >>> 1) & 3;
          bits >>>= 3;
          count -= 3;
          if (type === 0) {
            // A stored block starts at the next byte boundary.
            bits >>>= count & 7;
            count -= count & 7;
            this.#mode = STORED_LENGTH;
          } else if (type === 1) {
            if (fixedLiterals === undefined) buildFixed();
            this.#literals = fixedLiterals!;
            this.#distances = fixedDistances!;
            this.#literalBits = fixedLiteralBits;
            this.#distanceBits = fixedDistanceBits;
            this.#mode = SYMBOL;
          } else if (type === 2) {
            this.#mode = TABLE_SIZES;
          } else {
            throw new Error("invalid block type");
          }
          continue;
        }

        case STORED_LENGTH:
        case STORED_COMPLEMENT: {
          while (count < 16) {
            if (ip === inEnd) break run;
            bits |= inp[ip++]! << count;
            count += 8;
          }
          const value = bits & 0xffff;
          bits >>>= 16;
          count -= 16;
          if (this.#mode === STORED_LENGTH) {
            this.#length = value;
            this.#mode = STORED_COMPLEMENT;
            continue;
          }
          if (value !== (~this.#length & 0xffff)) throw new Error("invalid stored block lengths");
          this.#mode = STORED_COPY;
          continue;
        }

        case STORED_COPY: {
          // The bit buffer is empty here: lengths end on a byte boundary, and were read bytewise.
          while (this.#length > 0) {
            if (op === outEnd) {
              status = OUTPUT_FULL;
              break run;
            }
            if (ip === inEnd) break run;
            const n = Math.min(this.#length, inEnd - ip, outEnd - op);
            out.set(inp.subarray(ip, ip + n), op);
            ip += n;
            op += n;
            this.#length -= n;
          }
          this.#mode = this.#final ? DONE : BLOCK;
          continue;
        }

        case TABLE_SIZES: {
          while (count < 14) {
            if (ip === inEnd) break run;
            bits |= inp[ip++]! << count;
            count += 8;
          }
          this.#literalCount = 257 + (bits & 31);
          this.#distanceCount = 1 + ((bits >>> 5) & 31);
          this.#codeLengthCount = 4 + ((bits >>> 10) & 15);
          bits >>>= 14;
          count -= 14;
          if (this.#literalCount > 286 || this.#distanceCount > 30) throw new Error("too many length or distance symbols");
          this.#have = 0;
          this.#mode = CODE_LENGTH_LENGTHS;
          continue;
        }

        case CODE_LENGTH_LENGTHS: {
          const lengths = this.#lengths;
          while (this.#have < this.#codeLengthCount) {
            while (count < 3) {
              if (ip === inEnd) break run;
              bits |= inp[ip++]! << count;
              count += 8;
            }
            lengths[LENGTH_ORDER[this.#have++]!] = bits & 7;
            bits >>>= 3;
            count -= 3;
          }
          for (let i = this.#have; i < 19; i++) lengths[LENGTH_ORDER[i]!] = 0;
          this.#codeLengthBits = buildTable(lengths, 0, 19, CODE_LENGTHS, this.#codeLengths, 7);
          if (this.#codeLengthBits < 0) throw new Error("invalid code lengths set");
          this.#have = 0;
          this.#mode = CODE_LENGTH_SYMBOLS;
          continue;
        }

        case CODE_LENGTH_SYMBOLS: {
          const lengths = this.#lengths;
          const table = this.#codeLengths;
          const mask = (1 << this.#codeLengthBits) - 1;
          const total = this.#literalCount + this.#distanceCount;
          while (this.#have < total) {
            let entry = table[bits & mask]!;
            while ((entry & 15) > count) {
              if (ip === inEnd) break run;
              bits |= inp[ip++]! << count;
              count += 8;
              entry = table[bits & mask]!;
            }
            const len = entry & 15;
            const symbol = entry >>> 16;
            if (symbol < 16) {
              bits >>>= len;
              count -= len;
              lengths[this.#have++] = symbol;
              continue;
            }
            // A repeat: the symbol and its extra bits are read together, or not at all.
            const extra = symbol === 16 ? 2 : symbol === 17 ? 3 : 7;
            while (count < len + extra) {
              if (ip === inEnd) break run;
              bits |= inp[ip++]! << count;
              count += 8;
            }
            bits >>>= len;
            count -= len;
            let repeat = (symbol === 18 ? 11 : 3) + (bits & ((1 << extra) - 1));
            bits >>>= extra;
            count -= extra;
            let value = 0;
            if (symbol === 16) {
              if (this.#have === 0) throw new Error("invalid bit length repeat");
              value = lengths[this.#have - 1]!;
            }
            if (this.#have + repeat > total) throw new Error("invalid bit length repeat");
            while (repeat-- > 0) lengths[this.#have++] = value;
          }
          if (lengths[256] === 0) throw new Error("invalid code -- missing end-of-block");
          this.#literalBits = buildTable(lengths, 0, this.#literalCount, LITERAL_LENGTHS, this.#literalTable, LITERAL_ROOT);
          if (this.#literalBits < 0) throw new Error("invalid literal/lengths set");
          this.#distanceBits = buildTable(lengths, this.#literalCount, this.#distanceCount, DISTANCES, this.#distanceTable, DISTANCE_ROOT);
          if (this.#distanceBits < 0) throw new Error("invalid distances set");
          this.#literals = this.#literalTable;
          this.#distances = this.#distanceTable;
          this.#mode = SYMBOL;
          continue;
        }

        case SYMBOL: {
          const literals = this.#literals;
          const literalBits = this.#literalBits;
          const literalMask = (1 << literalBits) - 1;
          // Most symbols: see #fast.
          if (count < 8 && inEnd - ip >= 7 && outEnd - op >= 258) {
            this.#ip = ip;
            this.#op = op;
            this.#bits = bits;
            this.#count = count;
            const ended = this.#fast(outEnd);
            ip = this.#ip;
            op = this.#op;
            bits = this.#bits;
            count = this.#count;
            if (ended) {
              this.#mode = this.#final ? DONE : BLOCK;
              continue;
            }
          }
          // One symbol at a time, near the end of the input or of the room.
          let entry = literals[bits & literalMask]!;
          if ((entry & KIND) === LINK) entry = literals[(entry >>> 16) + ((bits >>> literalBits) & ((1 << ((entry >>> 4) & 15)) - 1))]!;
          while ((entry & 15) > count) {
            if (ip === inEnd) break run;
            bits |= inp[ip++]! << count;
            count += 8;
            entry = literals[bits & literalMask]!;
            if ((entry & KIND) === LINK) entry = literals[(entry >>> 16) + ((bits >>> literalBits) & ((1 << ((entry >>> 4) & 15)) - 1))]!;
          }
          const kind = entry & KIND;
          if (kind === INVALID) throw new Error("invalid literal/length code");
          if (kind !== END_OF_BLOCK && op === outEnd) {
            // Left unread: the bits wait in the buffer, or as whole bytes in the input.
            const back = Math.min(count >>> 3, ip - this.#ip);
            ip -= back;
            count -= back << 3;
            bits &= (1 << count) - 1;
            status = OUTPUT_FULL;
            break run;
          }
          const n = entry & 15;
          bits >>>= n;
          count -= n;
          if (kind === LITERAL) {
            out[op++] = entry >>> 16;
          } else if (kind === END_OF_BLOCK) {
            this.#mode = this.#final ? DONE : BLOCK;
          } else {
            this.#entry = entry;
            this.#mode = LENGTH_EXTRA;
          }
          continue;
        }

        case LENGTH_EXTRA:
        case DISTANCE_EXTRA: {
          const entry = this.#entry;
          const n = (entry >>> 4) & 15;
          while (count < n) {
            if (ip === inEnd) break run;
            bits |= inp[ip++]! << count;
            count += 8;
          }
          const value = (entry >>> 16) + (bits & ((1 << n) - 1));
          bits >>>= n;
          count -= n;
          if (this.#mode === LENGTH_EXTRA) {
            this.#length = value;
            this.#mode = DISTANCE;
            continue;
          }
          if (value > op) throw new Error("invalid distance too far back");
          this.#distance = value;
          this.#mode = COPY;
          continue;
        }

        case DISTANCE: {
          const distances = this.#distances;
          const distanceBits = this.#distanceBits;
          const mask = (1 << distanceBits) - 1;
          let entry = distances[bits & mask]!;
          if ((entry & KIND) === LINK) entry = distances[(entry >>> 16) + ((bits >>> distanceBits) & ((1 << ((entry >>> 4) & 15)) - 1))]!;
          while ((entry & 15) > count) {
            if (ip === inEnd) break run;
            bits |= inp[ip++]! << count;
            count += 8;
            entry = distances[bits & mask]!;
            if ((entry & KIND) === LINK) entry = distances[(entry >>> 16) + ((bits >>> distanceBits) & ((1 << ((entry >>> 4) & 15)) - 1))]!;
          }
          if ((entry & KIND) !== BASE) throw new Error("invalid distance code");
          const n = entry & 15;
          bits >>>= n;
          count -= n;
          this.#entry = entry;
          this.#mode = DISTANCE_EXTRA;
          continue;
        }

        case COPY: {
          const distance = this.#distance;
          while (this.#length > 0) {
            if (op === outEnd) {
              status = OUTPUT_FULL;
              break run;
            }
            const end = op + Math.min(this.#length, outEnd - op);
            this.#length -= end - op;
            let from = op - distance;
            while (op < end) out[op++] = out[from++]!;
          }
          this.#mode = SYMBOL;
          continue;
        }

        case DONE:
          status = STREAM_END;
          break run;
      }
    }

    this.#ip = ip;
    this.#op = op;
    this.#bits = bits;
    this.#count = count;
    return status;
  }

  /**
   * The fast loop: no input or output bounds to check while at least 7 input bytes (the most
   * one symbol with its distance takes) and 258 bytes of room are left. It starts with fewer
   * than 8 bits buffered, so the whole bytes still buffered when it stops are ones it read,
   * and go back to the input. Returns whether it stopped at the end of the block. In a method
   * of its own, it is compiled as soon as it runs hot.
   */
  #fast(outEnd: number): boolean {
    const inp = this.#in;
    const inEnd = inp.length;
    const out = this.#out;
    let ip = this.#ip;
    let op = this.#op;
    let bits = this.#bits;
    let count = this.#count;
    const literals = this.#literals;
    const literalBits = this.#literalBits;
    const literalMask = (1 << literalBits) - 1;
    const distances = this.#distances;
    const distanceBits = this.#distanceBits;
    const distanceMask = (1 << distanceBits) - 1;
    const inLast = inEnd - 7;
    const outLast = outEnd - 258;
    let ended = false;
    while (ip <= inLast && op <= outLast) {
      if (count < 15) {
        bits |= inp[ip++]! << count;
        count += 8;
        bits |= inp[ip++]! << count;
        count += 8;
      }
      let entry = literals[bits & literalMask]!;
      if ((entry & KIND) === LINK) entry = literals[(entry >>> 16) + ((bits >>> literalBits) & ((1 << ((entry >>> 4) & 15)) - 1))]!;
      let n = entry & 15;
      bits >>>= n;
      count -= n;
      let kind = entry & KIND;
      if (kind === LITERAL) {
        out[op++] = entry >>> 16;
        continue;
      }
      if (kind !== BASE) {
        if (kind === END_OF_BLOCK) {
          ended = true;
          break;
        }
        throw new Error("invalid literal/length code");
      }
      n = (entry >>> 4) & 15;
      if (count < n) {
        bits |= inp[ip++]! << count;
        count += 8;
      }
      const length = (entry >>> 16) + (bits & ((1 << n) - 1));
      bits >>>= n;
      count -= n;
      if (count < 15) {
        bits |= inp[ip++]! << count;
        count += 8;
        bits |= inp[ip++]! << count;
        count += 8;
      }
      entry = distances[bits & distanceMask]!;
      if ((entry & KIND) === LINK) entry = distances[(entry >>> 16) + ((bits >>> distanceBits) & ((1 << ((entry >>> 4) & 15)) - 1))]!;
      n = entry & 15;
      bits >>>= n;
      count -= n;
      kind = entry & KIND;
      if (kind !== BASE) throw new Error("invalid distance code");
      n = (entry >>> 4) & 15;
      if (count < n) {
        bits |= inp[ip++]! << count;
        count += 8;
        if (count < n) {
          bits |= inp[ip++]! << count;
          count += 8;
        }
      }
      const distance = (entry >>> 16) + (bits & ((1 << n) - 1));
      bits >>>= n;
      count -= n;
      // Before the first slide `op` counts all output; after it, the window is full.
      if (distance > op) throw new Error("invalid distance too far back");
      let from = op - distance;
      const end = op + length;
      if (distance >= length && length > 32) {
        out.copyWithin(op, from, from + length);
        op = end;
      } else {
        while (op < end) out[op++] = out[from++]!;
      }
    }
    const back = count >>> 3;
    ip -= back;
    count -= back << 3;
    bits &= (1 << count) - 1;
    this.#ip = ip;
    this.#op = op;
    this.#bits = bits;
    this.#count = count;
    return ended;
  }
}

/**
 * Inflates a whole raw deflate stream at once, for the deflater's self-checks: throws, as
 * {@linkcode Inflater.run} does, on corrupt data, and on data that ends early or goes on
 * after the final block.
 */
export function inflateWhole(data: Uint8Array): Uint8Array {
  const inflater = new Inflater();
  inflater.input(data);
  const parts: Uint8Array[] = [];
  for (;;) {
    const status = inflater.run(Infinity);
    parts.push(inflater.take());
    if (status === NEED_INPUT) throw new Error("unexpected end of deflate data");
    if (status === STREAM_END) {
      if (inflater.position !== data.length) throw new Error("unexpected bytes after the deflate data");
      return concatBytes(parts);
    }
  }
}
