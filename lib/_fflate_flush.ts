// Temporary home of the sync flush until it joins the fflate internals module.
import type { Deflate } from "fflate";

interface DeflateState {
  s: { r?: number; z?: number; w?: number };
}

/**
 * Compresses what `deflate` still buffers, without ending on a byte boundary, and returns its
 * pending bits: the low 3 bits are how many bits of the last byte are used, the rest that byte.
 */
export function flushPending(deflate: Deflate): number {
  const st = (deflate as unknown as DeflateState).s;
  if ((st.z ?? 0) > (st.w ?? 0)) deflate.flush();
  return st.r ?? 0;
}

/**
 * The bytes that end a deflate stream's output on a byte boundary, as zlib's Z_SYNC_FLUSH
 * does, given its pending bits: the partial byte, an empty non-final stored block (BFINAL 0,
 * BTYPE 00: three zero bits), the padding to a byte, then LEN/NLEN 00 00 FF FF. (fflate's own
 * `flush(true)` mispositions the block when the partial byte has 6 or 7 bits used: #267.)
 */
export function syncFlushTail(pending: number): Uint8Array {
  const bits = pending & 7;
  const out = new Uint8Array(bits + 3 > 8 ? 6 : 5);
  out[0] = pending >>> 3;
  out[out.length - 2] = 0xff;
  out[out.length - 1] = 0xff;
  return out;
}

/** Ends what `deflate` was given on a byte boundary; returns the last bytes. Do not use it afterwards. */
export function syncFlushed(deflate: Deflate): Uint8Array {
  return syncFlushTail(flushPending(deflate));
}
