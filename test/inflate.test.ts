// The strict inflater behind GunzipStream and InflateStream (lib/_inflate.ts), on deflate data
// written bit by bit: each kind of corruption zlib rejects is rejected with zlib's words, the
// special cases zlib allows are read as zlib reads them, and the decoder keeps its window,
// its stored blocks and its limit across any chunking. zlib itself is asked every time.
import { describe, expect, test } from "vitest";
import { DeflateStream, GunzipStream, GzipStream, InflateStream } from "../lib/gzip.ts";
import { BitWriter, collectBytes, concat, cutAt, referenceDecompress, streamOf } from "./_support/util.ts";

/** Canonical Huffman codes for code lengths (RFC 1951, 3.2.2), -1 where the length is 0 (no code). */
function canonical(lengths: readonly number[]): number[] {
  const count = new Array<number>(16).fill(0);
  for (const l of lengths) if (l > 0) count[l]!++;
  const next = new Array<number>(16).fill(0);
  for (let len = 1, code = 0; len < 16; len++) {
    code = (code + count[len - 1]!) << 1;
    next[len] = code;
  }
  return lengths.map((l) => (l > 0 ? next[l]!++ : -1));
}

const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
/** A complete code length code: 0..15 in 4 bits each, 16, 17 and 18 unused. */
const PLAIN_CODE_LENGTHS = [...new Array<number>(16).fill(4), 0, 0, 0];
/** A complete code length code with repeats: 0..12 and 18 in 4 bits, 13, 14, 16 and 17 in 5, 15 unused. */
const REPEAT_CODE_LENGTHS = [...new Array<number>(13).fill(4), 5, 5, 0, 5, 5, 4];

interface Dynamic {
  final?: boolean;
  /** Lengths of the code length code, by symbol 0..18. */
  codeLengths?: number[];
  /** How many of them to write (HCLEN + 4); the rest are 0. */
  codeLengthCount?: number;
  literals: number[];
  distances: number[];
  /** Code length symbols to write instead of `literals` and `distances` as they are: [symbol, extra]. */
  symbols?: [number, number?][];
}

/** Writes a dynamic block's header and returns the codes of its literal/length and distance codes. */
function dynamicHeader(w: BitWriter, d: Dynamic): { lit: number[]; dist: number[] } {
  const cl = d.codeLengths ?? PLAIN_CODE_LENGTHS;
  const clCount = d.codeLengthCount ?? 19;
  w.bits(d.final === false ? 0 : 1, 1).bits(2, 2);
  w.bits(d.literals.length - 257, 5).bits(d.distances.length - 1, 5).bits(clCount - 4, 4);
  for (let i = 0; i < clCount; i++) w.bits(cl[ORDER[i]!]!, 3);
  const clCodes = canonical(cl);
  const symbols = d.symbols ?? [...d.literals, ...d.distances].map((l): [number] => [l]);
  for (const [s, extra] of symbols) {
    w.code(clCodes[s]!, cl[s]!);
    if (s === 16) w.bits(extra!, 2);
    if (s === 17) w.bits(extra!, 3);
    if (s === 18) w.bits(extra!, 7);
  }
  return { lit: canonical(d.literals), dist: canonical(d.distances) };
}

/** `n` code lengths, 0 but for the given symbols. */
function lengthsOf(n: number, entries: Record<number, number>): number[] {
  const out = new Array<number>(n).fill(0);
  for (const [s, l] of Object.entries(entries)) out[Number(s)] = l;
  return out;
}

/** A complete literal/length code: 'a' (97), 'b' (98), end-of-block (256) and length 258 (285), 2 bits each. */
const FOUR_LITERALS = lengthsOf(286, { 97: 2, 98: 2, 256: 2, 285: 2 });

/** Fixed-code writers (RFC 1951, 3.2.6). */
function fixedLiteral(w: BitWriter, s: number): void {
  if (s < 144) w.code(0x30 + s, 8);
  else if (s < 256) w.code(0x190 + s - 144, 9);
  else if (s < 280) w.code(s - 256, 7);
  else w.code(0xc0 + s - 280, 8);
}
function fixedBlock(w: BitWriter, final: boolean): void {
  w.bits(final ? 1 : 0, 1).bits(1, 2);
}

async function inflateWith(chunks: Uint8Array[], options: { maxOutputBytes?: number } = {}): Promise<{ out: Uint8Array; error?: Error }> {
  const parts: Uint8Array[] = [];
  const reader = streamOf(chunks).pipeThrough(new InflateStream(options)).getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    return { out: concat(parts) };
  } catch (error) {
    return { out: concat(parts), error: error as Error };
  }
}

/**
 * Checks that zlib and InflateStream both reject `bytes` with `message`, whole and one byte at a
 * time, having output at most `before` (the bytes that precede the corruption).
 */
async function expectRejected(bytes: Uint8Array, message: string, before = new Uint8Array(0)): Promise<void> {
  const reference = await referenceDecompress("deflate-raw", bytes);
  expect(reference.ok, "zlib rejects it").toBe(false);
  expect(reference.message).toBe(message);
  expect(isPrefix(reference.out, before)).toBe(true);
  for (const chunks of [[bytes], cutAt(bytes, Array.from(bytes, (_, i) => i))]) {
    const ours = await inflateWith(chunks);
    expect(ours.error?.message).toBe(`InflateStream: corrupt deflate data: ${message}`);
    expect(isPrefix(ours.out, before)).toBe(true);
  }
}

function isPrefix(a: Uint8Array, of: Uint8Array): boolean {
  return a.length <= of.length && sameBytes(a, of.subarray(0, a.length));
}

/** Checks that zlib and InflateStream both read `bytes` to `expected`, whole and one byte at a time. */
async function expectRead(bytes: Uint8Array, expected: Uint8Array): Promise<void> {
  const reference = await referenceDecompress("deflate-raw", bytes);
  expect(reference.ok, `zlib reads it (${reference.message})`).toBe(true);
  expect(sameBytes(reference.out, expected)).toBe(true);
  for (const chunks of [[bytes], cutAt(bytes, Array.from(bytes, (_, i) => i))]) {
    const ours = await inflateWith(chunks);
    expect(ours.error).toBeUndefined();
    expect(sameBytes(ours.out, expected)).toBe(true);
  }
}

const text = (s: string) => new TextEncoder().encode(s);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

describe("InflateStream rejects what zlib rejects", () => {
  test("a block type of 3 is an invalid block type", async () => {
    await expectRejected(new BitWriter().bits(1, 1).bits(3, 2).finish(), "invalid block type");
  });

  test("a stored block whose NLEN is not the complement of LEN has invalid stored block lengths", async () => {
    const w = new BitWriter().bits(1, 1).bits(0, 2).align().bits(3, 16).bits(~3 & 0xffff ^ 0x100, 16).bytes(text("abc"));
    await expectRejected(w.finish(), "invalid stored block lengths");
  });

  test("more than 286 literal/length or 30 distance codes are too many length or distance symbols", async () => {
    const lit = new BitWriter().bits(1, 1).bits(2, 2).bits(30, 5).bits(0, 5).bits(15, 4);
    await expectRejected(lit.finish(), "too many length or distance symbols");
    const dist = new BitWriter().bits(1, 1).bits(2, 2).bits(0, 5).bits(30, 5).bits(15, 4);
    await expectRejected(dist.finish(), "too many length or distance symbols");
  });

  test("an over-subscribed or incomplete code length code is an invalid code lengths set", async () => {
    const over = new BitWriter();
    dynamicHeader(over, { codeLengths: [1, 1, 1, ...new Array<number>(16).fill(0)], literals: FOUR_LITERALS, distances: [1], symbols: [] });
    await expectRejected(over.finish(), "invalid code lengths set");
    // One code of one bit: zlib allows that shape only for literal/length and distance codes.
    const incomplete = new BitWriter();
    dynamicHeader(incomplete, { codeLengths: [1, ...new Array<number>(18).fill(0)], literals: FOUR_LITERALS, distances: [1], symbols: [] });
    await expectRejected(incomplete.finish(), "invalid code lengths set");
  });

  test("a code length code with no codes at all reads every length as 0, so the end-of-block code is missing", async () => {
    // zlib's reading: each bit decodes as a length of 0 (258 of them here), then the check fails.
    const w = new BitWriter();
    dynamicHeader(w, { codeLengths: new Array<number>(19).fill(0), codeLengthCount: 4, literals: lengthsOf(257, {}), distances: [1], symbols: [] });
    w.bits(0, 258);
    await expectRejected(w.finish(), "invalid code -- missing end-of-block");
  });

  test("a repeat of the previous length with none before it, or past the last length, is an invalid bit length repeat", async () => {
    const first = new BitWriter();
    dynamicHeader(first, { codeLengths: REPEAT_CODE_LENGTHS, literals: FOUR_LITERALS, distances: [1], symbols: [[16, 0]] });
    await expectRejected(first.finish(), "invalid bit length repeat");
    // 257 literal/length and 1 distance lengths: 18 repeating zero 138 times twice overshoots 258.
    const past = new BitWriter();
    dynamicHeader(past, { codeLengths: REPEAT_CODE_LENGTHS, literals: new Array<number>(257).fill(0), distances: [1], symbols: [[18, 127], [18, 127]] });
    await expectRejected(past.finish(), "invalid bit length repeat");
  });

  test("a repeat may run from the literal/length lengths into the distance lengths, as zlib reads it", async () => {
    // 'a' and end-of-block in 1 bit, the rest 0; the last zero repeat runs from symbol 257 into both distances.
    const lit = lengthsOf(258, { 97: 1, 256: 1 });
    const w = new BitWriter();
    const symbols: [number, number?][] = [[18, 97 - 11], [1], [18, 127], [18, 256 - 98 - 138 - 11], [1], [17, 0]];
    const { lit: codes } = dynamicHeader(w, { codeLengths: REPEAT_CODE_LENGTHS, literals: lit, distances: [0, 0], symbols });
    w.code(codes[97]!, 1).code(codes[97]!, 1).code(codes[256]!, 1);
    await expectRead(w.finish(), text("aa"));
  });

  test("a literal/length code without an end-of-block code is an invalid code -- missing end-of-block", async () => {
    const w = new BitWriter();
    dynamicHeader(w, { literals: lengthsOf(286, { 97: 2, 98: 2, 99: 2, 285: 2 }), distances: [1] });
    await expectRejected(w.finish(), "invalid code -- missing end-of-block");
  });

  test("an over-subscribed or incomplete literal/length code is an invalid literal/lengths set", async () => {
    const over = new BitWriter();
    dynamicHeader(over, { literals: lengthsOf(286, { 97: 1, 98: 1, 256: 1 }), distances: [1] });
    await expectRejected(over.finish(), "invalid literal/lengths set");
    const incomplete = new BitWriter();
    dynamicHeader(incomplete, { literals: lengthsOf(286, { 97: 2, 256: 2, 285: 2 }), distances: [1] });
    await expectRejected(incomplete.finish(), "invalid literal/lengths set");
  });

  test("an over-subscribed or incomplete distance code is an invalid distances set", async () => {
    const over = new BitWriter();
    dynamicHeader(over, { literals: FOUR_LITERALS, distances: [1, 1, 1] });
    await expectRejected(over.finish(), "invalid distances set");
    const incomplete = new BitWriter();
    dynamicHeader(incomplete, { literals: FOUR_LITERALS, distances: [2, 2, 2] });
    await expectRejected(incomplete.finish(), "invalid distances set");
    const oneLong = new BitWriter();
    dynamicHeader(oneLong, { literals: FOUR_LITERALS, distances: [2] });
    await expectRejected(oneLong.finish(), "invalid distances set");
  });

  test("the fixed code's literal/length codes 286 and 287 are an invalid literal/length code", async () => {
    for (const symbol of [286, 287]) {
      const w = new BitWriter();
      fixedBlock(w, true);
      fixedLiteral(w, 97);
      fixedLiteral(w, symbol);
      await expectRejected(w.finish(), "invalid literal/length code", text("a"));
    }
  });

  test("the unused half of a literal/length code of one code in one bit is an invalid literal/length code", async () => {
    const w = new BitWriter();
    dynamicHeader(w, { literals: lengthsOf(257, { 256: 1 }), distances: [1] });
    w.bits(1, 1);
    await expectRejected(w.finish(), "invalid literal/length code");
  });

  test("the fixed code's distance codes 30 and 31, or any distance without a distance code, are an invalid distance code", async () => {
    for (const symbol of [30, 31]) {
      const w = new BitWriter();
      fixedBlock(w, true);
      fixedLiteral(w, 97);
      fixedLiteral(w, 257);
      w.code(symbol, 5);
      await expectRejected(w.finish(), "invalid distance code", text("a"));
    }
    // No distance lengths at all is allowed, until a length needs one.
    const w = new BitWriter();
    const { lit } = dynamicHeader(w, { literals: FOUR_LITERALS, distances: [0] });
    w.code(lit[97]!, 2).code(lit[285]!, 2).bits(0, 1);
    await expectRejected(w.finish(), "invalid distance code", text("a"));
    // The unused half of a distance code of one code in one bit.
    const half = new BitWriter();
    const codes = dynamicHeader(half, { literals: FOUR_LITERALS, distances: [1] });
    half.code(codes.lit[97]!, 2).code(codes.lit[285]!, 2).bits(1, 1);
    await expectRejected(half.finish(), "invalid distance code", text("a"));
  });

  test("a distance before the start of the output is an invalid distance too far back", async () => {
    const w = new BitWriter();
    fixedBlock(w, true);
    fixedLiteral(w, 97);
    fixedLiteral(w, 257); // length 3
    w.code(1, 5); // distance 2
    await expectRejected(w.finish(), "invalid distance too far back", text("a"));
  });

  test("a distance into the previous gzip member is too far back: each member has a window of its own", async () => {
    const first = await collectBytes(streamOf([text("abc")]).pipeThrough(new GzipStream({ level: 0 })));
    const w = new BitWriter();
    fixedBlock(w, true);
    fixedLiteral(w, 257);
    w.code(0, 5); // distance 1, with nothing before it in this member
    fixedLiteral(w, 256);
    const second = concat([first.subarray(0, 10), w.finish(), new Uint8Array(8)]);
    const bytes = concat([first, second]);
    const reference = await referenceDecompress("gzip", bytes);
    expect(reference.ok).toBe(false);
    await expect(collectBytes(streamOf([bytes]).pipeThrough(new GunzipStream()))).rejects.toThrow(
      "GunzipStream: corrupt deflate data in member 2: invalid distance too far back",
    );
  });

  test("input that ends inside a dynamic block's header, a stored block or a match is truncated", async () => {
    const w = new BitWriter();
    const { lit } = dynamicHeader(w, { literals: FOUR_LITERALS, distances: [1] });
    w.code(lit[97]!, 2).code(lit[256]!, 2);
    const whole = w.finish();
    const stored = new BitWriter().bits(1, 1).bits(0, 2).align().bits(3, 16).bits(~3 & 0xffff, 16).bytes(text("abc")).finish();
    for (const bytes of [whole, stored]) {
      for (let end = 0; end < bytes.length; end++) {
        expect((await referenceDecompress("deflate-raw", bytes.subarray(0, end))).ok).toBe(false);
        expect((await inflateWith(cutAt(bytes.subarray(0, end), [end >> 1]))).error?.message).toMatch(/ended before the end of the deflate stream \(truncated\)/);
      }
    }
  });
});

describe("InflateStream reads what zlib reads", () => {
  test("a distance code of one code in one bit is allowed, as zlib allows it", async () => {
    const w = new BitWriter();
    const { lit, dist } = dynamicHeader(w, { literals: FOUR_LITERALS, distances: [1] });
    w.code(lit[97]!, 2).code(lit[98]!, 2).code(lit[285]!, 2).code(dist[0]!, 1).code(lit[256]!, 2);
    const expected = new Uint8Array(260);
    expected[0] = 97;
    expected[1] = 98;
    for (let i = 2; i < 260; i++) expected[i] = 98;
    // Distance code 0 is distance 1: 258 copies of 'b'.
    await expectRead(w.finish(), expected);
  });

  test("a block without distance lengths that uses no distance is read", async () => {
    const w = new BitWriter();
    const { lit } = dynamicHeader(w, { literals: FOUR_LITERALS, distances: [0] });
    w.code(lit[98]!, 2).code(lit[97]!, 2).code(lit[256]!, 2);
    await expectRead(w.finish(), text("ba"));
  });

  test("a literal/length code holding only the end-of-block code, in one bit, is read as an empty block", async () => {
    const w = new BitWriter();
    dynamicHeader(w, { literals: lengthsOf(257, { 256: 1 }), distances: [1] });
    w.bits(0, 1);
    await expectRead(w.finish(), new Uint8Array(0));
  });

  test("length code 284 with all extra bits set is length 258, as zlib reads it", async () => {
    const w = new BitWriter();
    fixedBlock(w, true);
    fixedLiteral(w, 97);
    fixedLiteral(w, 284);
    w.bits(31, 5).code(0, 5);
    fixedLiteral(w, 256);
    await expectRead(w.finish(), new Uint8Array(259).fill(97));
  });
});

/** Pseudo-random bytes (xorshift32): no match for a compressor to find. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

describe("InflateStream across chunks", () => {
  /**
   * Stored blocks of 65535 bytes of noise (more than the decoder's output step), then fixed
   * blocks that copy 258 bytes from 32768 back, again and again: the farthest distance there is.
   */
  function farReferences(): { bytes: Uint8Array; expected: Uint8Array } {
    const w = new BitWriter();
    const head = noise(5 * 65535, 7);
    for (let i = 0; i < 5; i++) {
      w.bits(0, 1).bits(0, 2).align().bits(65535, 16).bits(0, 16).bytes(head.subarray(i * 65535, (i + 1) * 65535));
    }
    const copies = 2000;
    const expected = new Uint8Array(head.length + copies * 258);
    expected.set(head);
    for (let i = head.length; i < expected.length; i++) expected[i] = expected[i - 32768]!;
    fixedBlock(w, true);
    for (let i = 0; i < copies; i++) {
      fixedLiteral(w, 285);
      w.code(29, 5).bits(32768 - 24577, 13);
    }
    fixedLiteral(w, 256);
    return { bytes: w.finish(), expected };
  }

  test("distances of 32768 reach back across chunks and output steps, and 65535-byte stored blocks arrive in many pieces", async () => {
    const { bytes, expected } = farReferences();
    const reference = await referenceDecompress("deflate-raw", bytes);
    expect(reference.ok).toBe(true);
    expect(sameBytes(reference.out, expected)).toBe(true);
    for (const size of [bytes.length, 65536, 4099, 777]) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const ours = await inflateWith(chunks);
      expect(ours.error).toBeUndefined();
      expect(ours.out.length).toBe(expected.length);
      expect(sameBytes(ours.out, expected)).toBe(true);
    }
  });

  test("deflate data fed one byte at a time gives the same bytes as fed whole", async () => {
    const input = concat([text("sluice ".repeat(3000)), noise(5000, 3), text("gate ".repeat(2000))]);
    for (const level of [1, 6, 9]) {
      const raw = await collectBytes(streamOf([input]).pipeThrough(new DeflateStream({ level })));
      const ours = await inflateWith(cutAt(raw, Array.from(raw, (_, i) => i)));
      expect(ours.error).toBeUndefined();
      expect(sameBytes(ours.out, input)).toBe(true);
    }
  });

  test("maxOutputBytes lets through a stream of exactly that many bytes and stops one byte more", async () => {
    const { bytes, expected } = farReferences();
    for (const chunks of [[bytes], cutAt(bytes, [1000, 200_000, 330_000])]) {
      const exact = await inflateWith(chunks, { maxOutputBytes: expected.length });
      expect(exact.error).toBeUndefined();
      expect(exact.out.length).toBe(expected.length);
      // The error discards what the reader had not read yet: what came is a prefix, within the limit.
      const short = await inflateWith(chunks, { maxOutputBytes: expected.length - 1 });
      expect(short.error).toBeInstanceOf(RangeError);
      expect(isPrefix(short.out, expected.subarray(0, expected.length - 1))).toBe(true);
    }
  });
});
