// Property tests for the decoders that face untrusted bytes (GunzipStream, InflateStream,
// MsgpackDecoderStream, SseDecoderStream, JsonLinesParseStream, JsonItemStream): random and mutated inputs, cut
// into random chunks, each compared with a reference decoder. Every decoder must end in time
// (close, or error with an Error), emit nothing a reference would not, never close normally
// where the reference finds the input corrupt, stay within its limits, and leave no unhandled
// rejection. A small budget runs in every runtime with `npm test`, from a fixed seed so that
// every run tries the same inputs; `npm run fuzz` runs a larger one in Node from a new seed
// each time (SLUICE_FUZZ_RUNS runs per property, SLUICE_FUZZ_SEED to replay a failure's seed).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import fc from "fast-check";
import { decodeMulti, encode } from "@msgpack/msgpack";
import { deflateSync, gzipSync } from "fflate";
import { GunzipStream, InflateStream } from "../lib/gzip.ts";
import { MsgpackDecoderStream, type MsgpackDecoderOptions } from "../lib/msgpack.ts";
import { SseDecoderStream, type SseEvent } from "../lib/sse.ts";
import { JsonLinesParseStream } from "../lib/json_lines.ts";
import { JsonItemStream, JsonLimitError, JsonParseError } from "../lib/json_items.ts";
import { concat, cutAt, referenceDecompress, streamOf } from "./_support/util.ts";

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
/** Runs per property: a few seconds in all with `npm test`, more with `npm run fuzz`. */
const RUNS = Number(env.SLUICE_FUZZ_RUNS) || 30;
/** The seed: fixed unless given; "random" for a new one each run (fast-check prints it on a failure). */
const SEED = env.SLUICE_FUZZ_SEED === "random" ? undefined : Number(env.SLUICE_FUZZ_SEED ?? 20261201);
const PARAMS = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };
/** A decoder that has not ended this long after its input did is stuck (generous: the machine is shared). */
const DEADLINE_MS = 10_000;
const TEST_TIMEOUT = 30_000 + RUNS * 2_000;

// --- No unhandled rejection, in any runtime ---------------------------------------------------

const unhandled: unknown[] = [];
const onNodeRejection = (reason: unknown) => void unhandled.push(reason);
const onEventRejection = (event: Event) => void unhandled.push((event as PromiseRejectionEvent).reason);
const nodeProcess = (globalThis as { process?: { on?: Function; off?: Function } }).process;
beforeAll(() => {
  if (typeof nodeProcess?.on === "function") nodeProcess.on("unhandledRejection", onNodeRejection);
  else globalThis.addEventListener?.("unhandledrejection", onEventRejection);
});
afterAll(() => {
  if (typeof nodeProcess?.off === "function") nodeProcess.off("unhandledRejection", onNodeRejection);
  else globalThis.removeEventListener?.("unhandledrejection", onEventRejection);
});

/** Lets pending rejections surface (a rejection is reported after a macrotask), then checks there were none. */
async function expectNoUnhandledRejection(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect(unhandled).toEqual([]);
}

// --- The harness ------------------------------------------------------------------------------

interface Outcome<T> {
  out: T[];
  /** The error the stream ended with, or undefined when it closed normally. */
  error?: unknown;
}

/** Pipes `chunks` through `stream` and reads it to its end; fails the property if it does not end in time. */
async function run<I, O>(stream: TransformStream<I, O>, chunks: I[]): Promise<Outcome<O>> {
  const out: O[] = [];
  const reader = streamOf(chunks).pipeThrough(stream).getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"stuck">((resolve) => {
    timer = setTimeout(() => resolve("stuck"), DEADLINE_MS);
  });
  const reading = (async (): Promise<Outcome<O>> => {
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
      return { out };
    } catch (error) {
      return { out, error };
    }
  })();
  try {
    const result = await Promise.race([reading, deadline]);
    if (result === "stuck") {
      await reader.cancel("stuck").catch(() => {});
      throw new Error(`the decoder neither closed nor errored within ${DEADLINE_MS} ms of its input's end (${out.length} outputs so far)`);
    }
    if (result.error !== undefined) expect(result.error).toBeInstanceOf(Error);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes and where to cut them: each case is fed in a random chunking. */
function chunked(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<{ bytes: Uint8Array; chunks: Uint8Array[] }> {
  return fc
    .tuple(bytes, fc.oneof(fc.array(fc.nat(), { maxLength: 12 }), fc.constant("bytewise" as const)))
    .map(([b, cuts]) => ({
      bytes: b,
      chunks: cuts === "bytewise" ? Array.from(b, (_, i) => b.subarray(i, i + 1)) : cutAt(b, cuts.map((c) => c % (b.length + 1))),
    }));
}

type Mutation = (bytes: Uint8Array) => Uint8Array;

/** One random damage: a flipped byte, a cut, bytes inserted, a range removed, garbage appended or a copy. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, xor]): Mutation => (b) => {
    if (b.length === 0) return b;
    const c = b.slice();
    c[at % c.length]! ^= xor;
    return c;
  }),
  fc.nat().map((at): Mutation => (b) => b.slice(0, at % (b.length + 1))),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, extra]): Mutation => (b) => {
    const p = at % (b.length + 1);
    return concat([b.subarray(0, p), extra, b.subarray(p)]);
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 })).map(([at, n]): Mutation => (b) => {
    const p = at % (b.length + 1);
    return concat([b.subarray(0, p), b.subarray(p + n)]);
  }),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra): Mutation => (b) => concat([b, extra])),
  fc.constant((b: Uint8Array) => concat([b, b])),
);

/** `valid` as it is about half the time, else damaged one to three times. */
function damaged(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.oneof(fc.constant([]), fc.array(mutation, { minLength: 1, maxLength: 3 }))).map(([b, ms]) => ms.reduce((acc, m) => m(acc), b));
}

/** Whether one of `a` and `b` is a prefix of the other. */
function consistent(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

// --- Inputs --------------------------------------------------------------------------------

/** Binary of every shape: random, runs of few symbols, and records repeated with zero bytes (the shape of fonts and images). */
const plainBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 3000, size: "large" }),
  fc.array(fc.constantFrom(0, 1, 97, 255), { maxLength: 3000, size: "large" }).map((a) => new Uint8Array(a)),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 64 }))
    .map(([record, times, zeros]) => concat([new Uint8Array(zeros), ...Array.from({ length: times }, () => record)])),
);
const level = fc.integer({ min: 0, max: 9 }) as fc.Arbitrary<0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9>;
const gzipMembers = fc
  .array(fc.tuple(plainBytes, level, fc.boolean()), { minLength: 1, maxLength: 3 })
  .map((members) => concat(members.map(([b, l, named]) => gzipSync(b, { level: l, mtime: 0, ...(named ? { filename: "f.bin" } : {}) }))));
const rawDeflate = fc.tuple(plainBytes, level).map(([b, l]) => deflateSync(b, { level: l }));

/**
 * Where sluice is stricter than zlib, on purpose (documented on GunzipStream/InflateStream): bytes
 * after the last member or after the end of the deflate data, and an input without any member.
 */
const STRICTER = /unexpected bytes after|empty input/;

/** Corrupt deflate data is found as zlib finds it, and named in zlib's words. */
function expectZlibWords(message: string, zlibMessage: string | undefined): void {
  const corrupt = /: corrupt deflate data(?: in member \d+)?: (.*)$/.exec(message);
  if (corrupt) expect(corrupt[1]).toBe(zlibMessage);
}

async function checkDecompressor(
  format: "gzip" | "deflate-raw",
  make: (options: { maxOutputBytes?: number }) => TransformStream<Uint8Array, Uint8Array>,
  bytes: Uint8Array,
  chunks: Uint8Array[],
  limit: number | undefined,
): Promise<void> {
  const reference = await referenceDecompress(format, bytes);
  const ours = await run(make(limit === undefined ? {} : { maxOutputBytes: limit }), chunks);
  const out = concat(ours.out);
  // Never more than the limit, and never bytes that differ from the reference's.
  if (limit !== undefined) expect(out.length).toBeLessThanOrEqual(limit);
  expect(consistent(out, reference.out)).toBe(true);
  if (ours.error === undefined) {
    // Closed normally: the reference read the whole input too, to the same bytes.
    expect(reference.ok).toBe(true);
    expect(out.length).toBe(reference.out.length);
    return;
  }
  const message = (ours.error as Error).message;
  if (!reference.ok) return expectZlibWords(message, reference.message);
  // The reference read it all, and sluice did not: only past the limit, or where sluice is stricter.
  if (limit !== undefined && reference.out.length > limit) expect(ours.error).toBeInstanceOf(RangeError);
  else expect(message).toMatch(STRICTER);
}

describe("fuzz: decompressors", () => {
  // Both found by this suite when the inflater was fflate's, which accepted them.
  test("GunzipStream errors on a stored block whose NLEN is not the complement of LEN (zlib: invalid stored block lengths)", async () => {
    const gz = gzipSync(new Uint8Array(0), { level: 0, mtime: 0 });
    gz[13]! ^= 1;
    expect((await referenceDecompress("gzip", gz)).ok).toBe(false);
    expect(((await run(new GunzipStream(), [gz])).error as Error).message).toMatch(/corrupt deflate data in member 1: invalid stored block lengths/);
  });

  test("InflateStream errors on deflate data with an invalid literal/length code, as zlib does", async () => {
    const bad = Uint8Array.from([99, 0, 2, 198, 81, 60, 138, 7, 3, 26, 3, 0]);
    expect((await referenceDecompress("deflate-raw", bad)).ok).toBe(false);
    expect(((await run(new InflateStream(), [bad])).error as Error).message).toMatch(/corrupt deflate data: invalid literal\/length code/);
  });

  test("GunzipStream on valid and damaged gzip in random chunkings agrees with zlib and never closes on a corrupt member", async () => {
    await fc.assert(
      fc.asyncProperty(chunked(damaged(gzipMembers)), fc.option(fc.integer({ min: 0, max: 4096 })), async ({ bytes, chunks }, limit) => {
        await checkDecompressor("gzip", (o) => new GunzipStream(o), bytes, chunks, limit ?? undefined);
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);

  test("GunzipStream errors on every single-byte corruption of a member's deflate data or trailer that zlib rejects", async () => {
    await fc.assert(
      fc.asyncProperty(plainBytes, level, fc.nat(), fc.integer({ min: 1, max: 255 }), async (plain, l, at, xor) => {
        const gz = gzipSync(plain, { level: l, mtime: 0 });
        // Past the 10-byte header: the deflate data, the CRC32 and the length.
        const bad = gz.slice();
        bad[10 + (at % (gz.length - 10))]! ^= xor;
        const reference = await referenceDecompress("gzip", bad);
        const ours = await run(new GunzipStream(), cutAt(bad, [at % bad.length]));
        if (reference.ok) expect(concat(ours.out)).toEqual(reference.out);
        else {
          expect(ours.error).toBeInstanceOf(Error);
          expectZlibWords((ours.error as Error).message, reference.message);
        }
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);

  test("InflateStream on valid and damaged raw deflate in random chunkings agrees with zlib", async () => {
    await fc.assert(
      fc.asyncProperty(chunked(damaged(rawDeflate)), fc.option(fc.integer({ min: 0, max: 4096 })), async ({ bytes, chunks }, limit) => {
        await checkDecompressor("deflate-raw", (o) => new InflateStream(o), bytes, chunks, limit ?? undefined);
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);
});

// --- MessagePack ------------------------------------------------------------------------------

const MSGPACK_LIMITS = {
  maxStrLength: 64,
  maxBinLength: 64,
  maxArrayLength: 16,
  maxMapLength: 16,
  maxExtLength: 64,
} as const;
const MSGPACK_DEPTH = 6;

const msgpackValues = fc
  .array(
    fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).filter((v) => JSON.stringify(v).length < 400),
      fc.uint8Array({ maxLength: 80 }),
      fc.date({ noInvalidDate: true }),
      fc.string({ maxLength: 70 }),
      fc.double(),
    ),
    { maxLength: 6 },
  )
  .map((values) => concat(values.map((v) => encode(v))));
/** Hand-made hostile headers too: long announced lengths, deep nesting, unused type bytes. */
const msgpackHostile = fc.oneof(
  fc.constant(new Uint8Array(12).fill(0x91)),
  fc.constant(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 1])),
  fc.constant(new Uint8Array([0xdb, 0, 0, 1, 0, 0x61])),
  fc.constant(new Uint8Array([0xc1])),
  fc.uint8Array({ maxLength: 200, size: "medium" }),
);

/** The reference: @msgpack/msgpack's decodeMulti on the whole input, with the same limits; values up to where it threw. */
function referenceMsgpack(bytes: Uint8Array): { ok: boolean; values: unknown[] } {
  const values: unknown[] = [];
  try {
    for (const v of decodeMulti(bytes, MSGPACK_LIMITS)) values.push(v);
    return { ok: true, values };
  } catch {
    return { ok: false, values };
  }
}

/**
 * Equality of decoded values, but for one thing: @msgpack/msgpack 3.1's UTF-8 decoder for short
 * strings reads past the end of a str whose payload ends inside a multi-byte sequence, so the
 * last code units of such a (broken) string depend on the byte that follows, which differs
 * where a stream cut its batches. Those may differ here; everything else must be equal.
 */
function sameDecoded(a: unknown, b: unknown): boolean {
  if (typeof a === "string" && typeof b === "string") {
    if (a === b) return true;
    const n = Math.min(a.length, b.length) - 2;
    return Math.abs(a.length - b.length) <= 1 && a.slice(0, Math.max(n, 0)) === b.slice(0, Math.max(n, 0));
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (a instanceof Date && b instanceof Date) return Object.is(a.getTime(), b.getTime());
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameDecoded(x, b[i]));
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    if (a.constructor !== b.constructor) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    return ka.length === kb.length && ka.every((k, i) => sameDecoded(k, kb[i]) && sameDecoded(ra[k], rb[kb[i]!]));
  }
  return Object.is(a, b);
}

/** Nesting depth of a decoded value: 0 for a scalar (binaries, dates and extensions included). */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array) && !(value instanceof Date) && value.constructor === Object) {
    return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  }
  return 0;
}

/** Whether a decoded value keeps within the limits the stream was given. */
function withinLimits(value: unknown): boolean {
  // The limit counts the string's bytes in the input. Re-encoding is no measure of them (each invalid byte decodes to
  // a U+FFFD of 3 bytes), but the UTF-16 length is: n bytes decode to at most n code units, plus one where the last
  // byte is a 4-byte lead, which @msgpack/msgpack's decoder turns into a surrogate pair.
  if (typeof value === "string") return value.length <= MSGPACK_LIMITS.maxStrLength + 1;
  if (value instanceof Uint8Array) return value.length <= MSGPACK_LIMITS.maxBinLength;
  if (Array.isArray(value)) return value.length <= MSGPACK_LIMITS.maxArrayLength && value.every(withinLimits);
  if (value !== null && typeof value === "object" && value.constructor === Object) {
    const entries = Object.entries(value);
    return entries.length <= MSGPACK_LIMITS.maxMapLength && entries.every(([k, v]) => withinLimits(k) && withinLimits(v));
  }
  return true;
}

describe("fuzz: MsgpackDecoderStream", () => {
  test("MsgpackDecoderStream on valid, damaged and hostile input in random chunkings agrees with decodeMulti and keeps its limits", async () => {
    const options: MsgpackDecoderOptions = { ...MSGPACK_LIMITS, maxDepth: MSGPACK_DEPTH };
    await fc.assert(
      fc.asyncProperty(chunked(damaged(fc.oneof(msgpackValues, msgpackHostile))), async ({ bytes, chunks }) => {
        const reference = referenceMsgpack(bytes);
        const ours = await run(new MsgpackDecoderStream(options), chunks);
        for (const v of ours.out) {
          expect(depthOf(v)).toBeLessThanOrEqual(MSGPACK_DEPTH);
          expect(withinLimits(v)).toBe(true);
        }
        // Never a value the reference would not give, in its place.
        const expected = reference.values.slice(0, ours.out.length);
        if (!sameDecoded(ours.out, expected)) expect(ours.out).toEqual(expected);
        if (ours.error === undefined) {
          expect(reference.ok).toBe(true);
          expect(ours.out.length).toBe(reference.values.length);
        } else if (reference.ok) {
          // Only the depth bound, which the library does not have, may stop what it reads.
          expect((ours.error as Error).message).toMatch(/maxDepth/);
          expect(reference.values.slice(ours.out.length).some((v) => depthOf(v) > MSGPACK_DEPTH)).toBe(true);
        }
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);
});

// --- Server-sent events -----------------------------------------------------------------------

const SSE_MAX_EVENT = 120;
const SSE_MAX_LINE = 150;

/** The HTML standard's "interpreting an event stream", written plainly over the whole text. */
function referenceSse(text: string): { ok: boolean; events: SseEvent[] } {
  const events: SseEvent[] = [];
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let data = "";
  let type = "";
  let id: string | undefined;
  let retry: number | undefined;
  let lastEventId = "";
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text.charCodeAt(i);
    const end = i === text.length;
    if (!end && c !== 10 && c !== 13) continue;
    const line = text.slice(start, i);
    if (line.length > SSE_MAX_LINE) return { ok: false, events };
    if (end) break; // an unterminated last line is dropped
    if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
    start = i + 1;
    if (line === "") {
      if (data !== "") {
        const event: SseEvent = { data: data.slice(0, -1), event: type === "" ? "message" : type, lastEventId };
        if (id !== undefined) event.id = id;
        if (retry !== undefined) event.retry = retry;
        events.push(event);
      }
      data = "";
      type = "";
      id = undefined;
      retry = undefined;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon === 0) continue;
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      data += value + "\n";
      if (data.length > SSE_MAX_EVENT) return { ok: false, events };
    } else if (field === "event") type = value;
    else if (field === "id") {
      if (!value.includes("\0")) lastEventId = id = value;
    } else if (field === "retry" && /^[0-9]+$/.test(value)) retry = Number(value);
  }
  return { ok: true, events };
}

const sseLine = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => `data: ${s}`),
  fc.string({ maxLength: 40 }).map((s) => `data:${s}`),
  fc.constant("data"),
  fc.string({ maxLength: 10 }).map((s) => `event: ${s}`),
  fc.oneof(fc.nat().map(String), fc.string({ maxLength: 6 })).map((s) => `id: ${s}`),
  fc.oneof(fc.nat({ max: 99999 }).map(String), fc.string({ maxLength: 4 })).map((s) => `retry: ${s}`),
  fc.string({ maxLength: 20 }).map((s) => `:${s}`),
  fc.constant(""),
  fc.constant("data: " + "x".repeat(130)),
  fc.string({ maxLength: 30 }),
);
const sseStream = fc
  .tuple(fc.array(fc.tuple(sseLine, fc.constantFrom("\n", "\r", "\r\n")), { maxLength: 30, size: "medium" }), fc.boolean())
  .map(([lines, bom]) => new TextEncoder().encode((bom ? "\ufeff" : "") + lines.map(([l, end]) => l + end).join("")));

describe("fuzz: SseDecoderStream", () => {
  test("SseDecoderStream on valid and damaged event streams in random chunkings agrees with the standard's parsing and keeps its limits", async () => {
    await fc.assert(
      fc.asyncProperty(chunked(damaged(sseStream)), async ({ bytes, chunks }) => {
        const reference = referenceSse(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes));
        const ours = await run(new SseDecoderStream({ maxEventSize: SSE_MAX_EVENT, maxLineLength: SSE_MAX_LINE }), chunks);
        for (const event of ours.out) expect(event.data.length).toBeLessThanOrEqual(SSE_MAX_EVENT);
        expect(ours.out).toEqual(reference.events.slice(0, ours.out.length));
        if (ours.error === undefined) {
          expect(reference.ok).toBe(true);
          expect(ours.out.length).toBe(reference.events.length);
        } else {
          expect(reference.ok).toBe(false);
          expect(ours.error).toBeInstanceOf(RangeError);
        }
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);
});

// --- JSON Lines and JSON items (a new decoder: a block like these, the same harness) ---------

const JSONL_MAX_LINE = 60;

/** JSON.parse per line of the whole text: a BOM only at the start, LF or CRLF ends, blank lines skipped. */
function referenceJsonLines(bytes: Uint8Array): { ok: boolean; values: unknown[] } {
  const values: unknown[] = [];
  const lines = new TextDecoder().decode(bytes).split("\n");
  for (let line of lines) {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.length > JSONL_MAX_LINE) return { ok: false, values };
    if (/^[ \t\r]*$/.test(line)) continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      return { ok: false, values };
    }
  }
  return { ok: true, values };
}

const jsonLinesText = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.constantFrom("", "  ", "\t", "\ufeff1", '"\ufeff"')), fc.constantFrom("\n", "\r\n")), { maxLength: 12, size: "medium" }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([lines, bom, lastEnd]) => {
    let text = lines.map(([l, end]) => l + end).join("");
    if (!lastEnd) text = text.replace(/\r?\n$/, "");
    return concat([bom ? new Uint8Array([0xef, 0xbb, 0xbf]) : new Uint8Array(0), new TextEncoder().encode(text)]);
  });

describe("fuzz: JsonLinesParseStream", () => {
  test("JsonLinesParseStream on valid and damaged JSON Lines in random chunkings agrees with JSON.parse per line and keeps maxLineLength", async () => {
    await fc.assert(
      fc.asyncProperty(chunked(damaged(jsonLinesText)), async ({ bytes, chunks }) => {
        const reference = referenceJsonLines(bytes);
        const ours = await run(new JsonLinesParseStream({ maxLineLength: JSONL_MAX_LINE }), chunks);
        expect(ours.out).toEqual(reference.values.slice(0, ours.out.length));
        if (ours.error === undefined) {
          expect(reference.ok).toBe(true);
          expect(ours.out.length).toBe(reference.values.length);
        } else {
          expect(reference.ok).toBe(false);
        }
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);
});

/** One JSON text: a value with orders and other members, some whitespace, at times a BOM. */
const jsonText = fc
  .tuple(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 }), fc.boolean(), fc.boolean())
  .map(([other, orders, bom, pretty]) => {
    const text = JSON.stringify({ other, orders, tail: other }, null, pretty ? 1 : undefined);
    return concat([bom ? new Uint8Array([0xef, 0xbb, 0xbf]) : new Uint8Array(0), new TextEncoder().encode(text)]);
  });

describe("fuzz: JsonItemStream", () => {
  test("JsonItemStream on valid and damaged JSON in random chunkings agrees with JSON.parse and keeps its limits", async () => {
    await fc.assert(
      fc.asyncProperty(chunked(damaged(jsonText)), async ({ bytes, chunks }) => {
        let reference: { orders?: unknown } | undefined;
        // A fresh decoder each time: after a fatal decoder throws, Firefox 153's stops stripping a BOM.
        try {
          reference = { orders: (JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as { orders?: unknown } | null)?.orders };
        } catch {
          reference = undefined;
        }
        const limits = { maxDepth: 64, maxStringLength: 4096, maxNumberLength: 64, maxValueBytes: 1 << 16, maxTotalBytes: 1 << 20 };
        const ours = await run(new JsonItemStream("$.orders[*]", limits), chunks);
        if (ours.error === undefined) {
          expect(reference).toBeDefined();
          const orders = reference!.orders;
          if (Array.isArray(orders)) expect(ours.out).toEqual(orders.map((value, key) => ({ path: "$.orders[*]", key, value })));
          else if (typeof orders === "object" && orders !== null) {
            // Members in text order, a repeated name once per occurrence: the last is JSON.parse's.
            const members: Record<string, unknown> = {};
            for (const { key, value } of ours.out) Object.defineProperty(members, key as string, { value, enumerable: true, configurable: true, writable: true });
            expect(members).toEqual(orders);
          } else expect(ours.out).toEqual([]);
        } else if (!(ours.error instanceof JsonLimitError)) {
          // A syntax error only where JSON.parse finds one too (a limit may stop a valid text).
          expect(ours.error).toBeInstanceOf(JsonParseError);
          expect(reference).toBeUndefined();
        }
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);
});

/** JSON.parse of the whole text, as `Response.json()` reads bytes: strict UTF-8, a leading BOM skipped. */
function referenceJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

const jsonValueText = fc
  .tuple(
    fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 20, size: "medium" })),
    fc.constantFrom(undefined, 1, "\t"),
    fc.boolean(),
  )
  .map(([value, space, bom]) => concat([bom ? new Uint8Array([0xef, 0xbb, 0xbf]) : new Uint8Array(0), new TextEncoder().encode(JSON.stringify(value, null, space))]));

describe("fuzz: JsonItemStream at the top level", () => {
  test("JsonItemStream on valid and damaged JSON in random chunkings gives JSON.parse's values at $ and $[*], and errors where it throws", async () => {
    await fc.assert(
      fc.asyncProperty(chunked(damaged(jsonValueText)), fc.constantFrom("$", "$[*]"), async ({ bytes, chunks }, path) => {
        const reference = referenceJson(bytes);
        const stream = new JsonItemStream(path);
        stream.summary.catch(() => {});
        const ours = await run(stream, chunks);
        const values = ours.out.map((item) => item.value);
        if (!reference.ok) {
          expect(ours.error).toBeInstanceOf(Error);
          // A whole top-level value may come out before what follows it fails (trailing data):
          // then it is JSON.parse of a prefix of the text.
          if (path === "$" && values.length > 0) {
            expect(values).toHaveLength(1);
            const prefixes = Array.from({ length: bytes.length }, (_, n) => referenceJson(bytes.subarray(0, n + 1)));
            expect(prefixes.some((p) => p.ok && sameDecoded(p.value, values[0]))).toBe(true);
          }
          return;
        }
        expect(ours.error).toBeUndefined();
        const root = reference.value;
        if (path === "$" || Array.isArray(root) || root === null || typeof root !== "object") {
          expect(values).toEqual(path === "$" ? [root] : Array.isArray(root) ? root : []);
        } else {
          // The members of an object, in text order, a repeated name each time: the last wins, as in JSON.parse.
          const members: Record<string, unknown> = {};
          for (const item of ours.out) Object.defineProperty(members, String(item.key), { value: item.value, enumerable: true, configurable: true, writable: true });
          expect(members).toEqual(root);
        }
      }),
      PARAMS,
    );
    await expectNoUnhandledRejection();
  }, TEST_TIMEOUT);
});
