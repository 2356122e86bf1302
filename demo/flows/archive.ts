// What both streaming flows share: the archive sink (a Blob in memory or an
// OPFS file, through sluice's sinks), the stream taps that count bytes and
// stalls for the live view, and the check that gunzips an archive as a stream.
import { GunzipStream, blobSink, opfsSink } from "../../lib/index.ts";
import { archiveToOpfs } from "../controls.ts";
import { setPhase } from "../render.ts";
import { Sha256 } from "../sha256.ts";
import type { Run } from "../state.ts";

/** Chunks of the generated JSON, and the high-water mark (in bytes) of each tee branch. */
export const CHUNK = 64 * 1024;
export const BRANCH_HWM = 1024 * 1024;

export interface Archive {
  name: string;
  sink: WritableStream<Uint8Array>;
  /** The stored archive, once the sink has closed. */
  file(): Promise<Blob>;
  where: string;
}

export async function makeArchive(run: Run): Promise<Archive> {
  const name = `auction-${run.mb}MB-${run.mode}-${run.no}.json.gz`;
  if (archiveToOpfs()) {
    const sink = opfsSink(name);
    return {
      name, sink, where: "OPFS",
      file: async () => (await (await navigator.storage.getDirectory()).getFileHandle(name)).getFile(),
    };
  }
  const sink = blobSink();
  return { name, sink, where: "memory", file: () => sink.blob };
}

/** Gunzips the archive as a stream and hashes it on the way: the archive is never held unzipped. */
export async function verifyArchive(file: Blob): Promise<{ bytes: number; sha256: string }> {
  setPhase("verifying the archive…", true);
  const hash = new Sha256();
  let bytes = 0;
  const reader = file.stream().pipeThrough(new GunzipStream()).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    hash.update(r.value);
    bytes += r.value.length;
  }
  return { bytes, sha256: hash.hex() };
}

/** A pass-through that counts bytes as they go by. */
export function counter(onBytes: (n: number) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      onBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Wraps a stream so that the time it holds a chunk its consumer has not yet
 * asked for is known while it runs (MeasureStream reports the same at the end).
 */
export function stallProbe(source: ReadableStream<Uint8Array>, run: Run): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let heldSince = -1;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (heldSince >= 0 && !run.finalStall) run.stalledMs += performance.now() - heldSince;
      heldSince = -1;
      const r = await reader.read();
      if (r.done) return controller.close();
      controller.enqueue(r.value);
      heldSince = performance.now();
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
