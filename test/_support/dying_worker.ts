// A compression worker that fails on purpose after its first block, for the tests of what a
// stream does when a pool thread fails: told its mode by a first message ({ mode }), it
// compresses one block as the real worker does, then on the next one throws an uncaught
// error ("throw"), answers with an error ("reply"), or ends its thread ("exit", Node only).
import { type BlockJob, runJob } from "../../lib/_gzip.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: { data: BlockJob | { mode: string } }) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};
let mode = "throw";
let blocks = 0;

scope.onmessage = (event) => {
  const data = event.data;
  if ("mode" in data) {
    mode = data.mode;
    return;
  }
  if (blocks++ === 0) {
    const { chunks, crc } = runJob(data);
    scope.postMessage({ type: "done", id: data.id, chunks, crc, buffer: data.buffer }, [data.buffer]);
    return;
  }
  if (mode === "reply") scope.postMessage({ type: "error", id: data.id, message: "refused on purpose" });
  else if (mode === "exit") (globalThis as unknown as { process: { exit(code: number): void } }).process.exit(3);
  else setTimeout(() => {
    throw new Error("crashed on purpose");
  });
};
