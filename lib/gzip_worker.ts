/**
 * The worker side of `GzipStream`/`DeflateStream` with `workers` (or `worker`) set: one
 * thread of the shared compression pool. It receives blocks (their buffers moved, not
 * copied), compresses each with the same core as the calling thread, and moves the output
 * and the input buffer back. Loaded as a module Web Worker, or in Node on a `worker_threads`
 * thread that provides the same `onmessage`/`postMessage` globals.
 * @module
 */

import { type BlockJob, type BlockResult, runJob } from "./_gzip.ts";

interface WorkerScope {
  onmessage: ((event: { data: BlockJob }) => void) | null;
  postMessage(message: BlockResult, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (event) => {
  const job = event.data;
  let result: BlockResult;
  const transfer: Transferable[] = [];
  try {
    const { chunks, crc } = runJob(job);
    // Every chunk owns its buffer (fflate's output and the flush's tail are fresh arrays).
    for (const chunk of chunks) transfer.push(chunk.buffer as ArrayBuffer);
    transfer.push(job.buffer);
    result = { type: "done", id: job.id, chunks, crc, buffer: job.buffer };
  } catch (error) {
    result = { type: "error", id: job?.id ?? -1, message: error instanceof Error ? error.message : String(error) };
  }
  scope.postMessage(result, transfer);
};
