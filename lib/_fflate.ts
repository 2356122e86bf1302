/**
 * The one place where sluice reaches into fflate's private state. fflate is
 * pinned to an exact version in package.json; every shape assumed here is
 * checked once, at first use, and a mismatch throws instead of writing
 * archives that cannot be read. Not part of the public API.
 * @module
 */

import { Deflate, deflateSync } from "fflate";
import { inflateWhole } from "./_inflate.ts";
import { concatBytes } from "./_internal.ts";

/** The private state of fflate 0.8.3's streaming `Deflate` that sluice adjusts. */
interface DeflateState {
  /** Buffer: a 32 KiB lookback window followed by pending input. */
  b: Uint8Array;
  /**
   * `l` last, `i` next index to hash, `w` next index to emit, `z` end of the data in `b`;
   * `r`, once something was compressed, the pending bits: the low 3 bits are how many bits of
   * the last output byte are used, the bits above them that byte (not yet emitted).
   */
  s: { l: number; i: number; w: number; z: number; r?: number };
}

const WINDOW = 32768;

/**
 * A streaming `Deflate` that never refers to bytes before the start of its
 * output, which fflate 0.8.3's own does on its first push (fflate issue #260).
 *
 * fflate keeps a 32 KiB lookback window in front of the input. Before the first
 * push that window is zero-filled, yet its match finder caps back-reference
 * distances by the buffer index (`min(32767, i)`), so input that matches those
 * zeros gets references to bytes the decoder never saw: zlib rejects the stream
 * ("invalid distance too far back"), fflate's own inflater too. The cap is right
 * when the real data starts at buffer index 0, which is where this puts it (after
 * the dictionary, if one is given; the bytes in front of the input are then the
 * dictionary, all real). After fflate's first buffer shift the window holds only
 * real data and its state is the ordinary one.
 */
export function safeDeflate(
  level: number,
  ondata: (data: Uint8Array, final: boolean) => void,
  dictionary?: Uint8Array,
  /** fflate's `mem`: a hash table of 2^(12 + mem) entries (fflate's streaming default is 2^20). */
  mem?: number,
): Deflate {
  checkShape();
  const dict = dictionary === undefined || dictionary.length === 0 ? undefined : dictionary.subarray(-WINDOW);
  const deflate = new Deflate({ level: level as 6, dictionary: dict, ...(mem === undefined ? {} : { mem: mem as 5 }) }, ondata);
  // A full 32 KiB dictionary fills the whole window with real bytes: fflate's
  // own layout is already right, and its output is kept as it is.
  if (dict !== undefined && dict.length === WINDOW) return deflate;
  const state = deflate as unknown as DeflateState;
  const start = dict === undefined ? 0 : dict.length;
  if (dict !== undefined) state.b.set(dict, 0);
  state.s.i = 0;
  state.s.w = start;
  state.s.z = start;
  if (start === 0) {
    // fflate reads an end of 0 as "the whole buffer", so a stream that never got
    // a byte must not reach it: its one final block is what deflateSync writes.
    const push = deflate.push.bind(deflate);
    deflate.push = (chunk: Uint8Array, final?: boolean) => {
      if (final && chunk.length === 0 && state.s.z === 0 && !state.s.l) {
        state.s.l = 1;
        deflate.ondata(deflateSync(chunk, { level: level as 6 }), true);
        return;
      }
      push(chunk, final);
    };
  }
  return deflate;
}

/**
 * Compresses what `deflate` still buffers, without ending on a byte boundary, and returns its
 * pending bits (see {@linkcode DeflateState}). Nothing is compressed when nothing is buffered,
 * so that no empty block is written.
 */
export function flushPending(deflate: Deflate): number {
  checkFlush();
  const st = (deflate as unknown as DeflateState).s;
  if (st.z > st.w) deflate.flush();
  return st.r ?? 0;
}

/**
 * The bytes that end a deflate stream's output on a byte boundary, as zlib's Z_SYNC_FLUSH
 * does, from its pending bits: the partial byte, an empty non-final stored block (BFINAL 0,
 * BTYPE 00: three zero bits after the used ones), the padding to a byte, then LEN and NLEN,
 * 00 00 FF FF. fflate's own `flush(true)` puts LEN one byte too early when 6 bits of the last
 * byte are used (fflate issue #267): zlib then reads "invalid stored block lengths".
 */
export function syncFlushTail(pending: number): Uint8Array {
  const used = pending & 7;
  // The header's three bits spill into a second byte when more than 5 bits are used.
  const out = new Uint8Array(used > 5 ? 6 : 5);
  out[0] = pending >>> 3;
  out[out.length - 2] = 0xff;
  out[out.length - 1] = 0xff;
  return out;
}

/** Ends what `deflate` was given on a byte boundary (a sync flush); returns the last bytes. Do not use it afterwards. */
export function syncFlushed(deflate: Deflate): Uint8Array {
  return syncFlushTail(flushPending(deflate));
}

let flushChecked = false;

/**
 * Proves the sync flush once, on an input whose compressed form ends with 6 bits used in its
 * last byte (the case fflate's own flush gets wrong): the flushed bytes, followed by a final
 * empty block, must inflate to the input.
 */
function checkFlush(): void {
  if (flushChecked) return;
  flushChecked = true;
  const input = new TextEncoder().encode("sluice gate ".repeat(12));
  const parts: Uint8Array[] = [];
  const deflate = safeDeflate(6, (d) => parts.push(d));
  deflate.push(input, false);
  const st = (deflate as unknown as Partial<DeflateState>).s;
  let ok = typeof st?.z === "number" && typeof st.w === "number" && st.z > st.w;
  if (ok) deflate.flush();
  ok &&= typeof st!.r === "number";
  if (ok) {
    parts.push(syncFlushTail(st!.r!), new Uint8Array([3, 0]));
    try {
      const out = inflateWhole(concatBytes(parts));
      ok = out.length === input.length && out.every((b, i) => b === input[i]);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    flushChecked = false;
    throw new Error("sluice: self-check of the fflate sync flush failed (sluice needs fflate 0.8.3 exactly)");
  }
}

let checked = false;

/**
 * Fails loudly when fflate's `Deflate` is not shaped as this file assumes (a
 * different fflate version), and proves the adjusted deflater on an input that
 * fflate 0.8.3 on its own compresses into an unreadable stream.
 */
function checkShape(): void {
  if (checked) return;
  const probe = new Deflate({ level: 6 }, () => {}) as unknown as Partial<DeflateState>;
  const s = probe.s;
  const shapeOk = probe.b instanceof Uint8Array && probe.b.length === 3 * WINDOW && s !== undefined &&
    s.l === 0 && s.i === WINDOW && s.w === WINDOW && s.z === WINDOW;
  if (!shapeOk) {
    throw new Error(
      "sluice: fflate's Deflate is not shaped as sluice expects (sluice needs fflate 0.8.3 exactly); " +
        "refusing to compress rather than risk unreadable output",
    );
  }
  checked = true;
  let ok = true;
  for (const input of [selfCheckInput(), new Uint8Array(0)]) {
    const parts: Uint8Array[] = [];
    safeDeflate(6, (d) => parts.push(d)).push(input, true);
    try {
      const out = inflateWhole(concatBytes(parts));
      ok &&= out.length === input.length && out.every((b, i) => b === input[i]);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    checked = false;
    throw new Error("sluice: self-check of the fflate deflater failed (is fflate 0.8.3 installed?)");
  }
}

/**
 * Ten bytes that fflate 0.8.3's own first push compresses with a reference
 * 4 bytes before the start (found by shrinking a failing binary input).
 */
function selfCheckInput(): Uint8Array {
  const out = new Uint8Array(10);
  out[4] = 116;
  return out;
}
