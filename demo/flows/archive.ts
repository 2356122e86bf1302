// What both streaming flows share: the archive sink (a Blob in memory or an
// OPFS file, through sluice's sinks), the gzip branch measured live, and the
// check that gunzips an archive as a stream.
import { GunzipStream, GzipStream, MeasureStream, blobSink, opfsSink } from "../../lib/index.ts";
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

/** Gzips one tee branch into the archive's sink, with the bytes going in and out measured live. */
export function archiveBranch(branch: ReadableStream<Uint8Array>, archive: Archive, run: Run): Promise<void> {
  return branch
    .pipeThrough(new MeasureStream({ onProgress: (p) => (run.archivedIn = p.bytes) }))
    .pipeThrough(new GzipStream({ worker: true }))
    .pipeThrough(new MeasureStream({ onProgress: (p) => (run.archivedOut = p.bytes) }))
    .pipeTo(archive.sink, { signal: run.abort.signal });
}
