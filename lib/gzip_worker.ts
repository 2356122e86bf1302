/**
 * The worker side of `GzipStream`/`DeflateStream` with `worker` set: receives
 * 64 KiB blocks (moved, not copied), compresses them with the same core as the
 * main thread, and moves the output back. Loaded as a module Web Worker, or in
 * Node through `nodeCompressionWorker` from `sluice/node`, which provides the
 * same `onmessage`/`postMessage` globals.
 * @module
 */

import { BlockDeflater, type FromWorker, type ToWorker } from "./_gzip.ts";

interface WorkerScope {
  onmessage: ((event: { data: ToWorker }) => void) | null;
  postMessage(message: FromWorker, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let deflater: BlockDeflater | undefined;
let out: Uint8Array[] = [];

function send(message: FromWorker): void {
  const transfer: Transferable[] = [];
  if (message.type !== "error") {
    for (const chunk of message.chunks) {
      // fflate's output arrays own their buffers; a buffer is listed once even if shared.
      if (!transfer.includes(chunk.buffer as ArrayBuffer)) transfer.push(chunk.buffer as ArrayBuffer);
    }
  }
  scope.postMessage(message, transfer);
}

scope.onmessage = (event) => {
  const m = event.data;
  try {
    switch (m.type) {
      case "init":
        deflater = new BlockDeflater(m.options, (chunk) => out.push(chunk));
        return;
      case "block":
        deflater!.push(m.block);
        send({ type: "out", chunks: out, ack: true });
        out = [];
        return;
      case "end":
        deflater!.finish();
        deflater = undefined;
        send({ type: "end", chunks: out });
        out = [];
        return;
    }
  } catch (error) {
    send({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
};
