// What both streaming flows share: the archive sink (a Blob in memory, an
// OPFS file, or an S3 object the page uploads with URLs the dev server
// presigns, through sluice's sinks), the gzip branch measured live, and the
// check that gunzips an archive as a stream.
import { GunzipStream, GzipStream, MeasureStream, blobSink, opfsSink, s3Sink } from "../../lib/index.ts";
import { archiveToOpfs, archiveToS3 } from "../controls.ts";
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
  /** Where the archive panel links to, when not to the Blob itself (an S3 object). */
  url?: string;
}

export async function makeArchive(run: Run): Promise<Archive> {
  const name = `auction-${run.mb}MB-${run.mode}-${run.no}.json.gz`;
  if (archiveToS3()) {
    const key = `sluice-demo/${run.token}/${name}`;
    const sink = s3Sink({ presign: "/api/s3/presign", key, contentType: "application/json", contentEncoding: "gzip" });
    const url = `/api/s3/object?key=${encodeURIComponent(key)}`;
    const archive: Archive = {
      name, sink, url, where: "S3",
      // Read back from the bucket: what is checked is what was stored.
      file: async () => {
        const done = await sink.uploaded;
        archive.where = `S3 (${done.parts} part${done.parts === 1 ? "" : "s"}, ETag ${done.etag})`;
        const response = await fetch(url);
        if (!response.ok) throw new Error(`reading the archive back from S3 failed: HTTP ${response.status}`);
        return response.blob();
      },
    };
    return archive;
  }
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
