// ChunkStream against an identity TransformStream on the same input:
// splitting 64 KiB chunks into 16 KiB views, and joining 16 KiB chunks into 1 MiB copies.
import { ChunkStream } from "../../lib/chunk.ts";
import { main, suite } from "./_harness.ts";

const TOTAL = 256 * 2 ** 20;

function chunks(size: number): Uint8Array[] {
  const backing = new Uint8Array(TOTAL);
  for (let i = 0; i < TOTAL; i += 4096) backing[i] = i & 255;
  const out: Uint8Array[] = [];
  for (let o = 0; o < TOTAL; o += size) out.push(backing.subarray(o, o + size));
  return out;
}

async function drain(input: Uint8Array[], transform: TransformStream<Uint8Array, Uint8Array> | null): Promise<void> {
  let i = 0;
  let source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < input.length) c.enqueue(input[i++]!);
      else c.close();
    },
  }, { highWaterMark: 0 });
  if (transform) source = source.pipeThrough(transform);
  const reader = source.getReader();
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  if (bytes !== TOTAL) throw new Error(`lost bytes: ${bytes}`);
}

suite({
  title: "ChunkStream splitting: 256 MiB in 64 KiB chunks re-cut to 16 KiB",
  input: () => chunks(64 * 1024),
  bytes: TOTAL,
  cases: {
    "identity TransformStream": (input) => drain(input, new TransformStream()),
    "ChunkStream(16 KiB)": (input) => drain(input, new ChunkStream(16 * 1024)),
  },
});

suite({
  title: "ChunkStream joining: 256 MiB in 16 KiB chunks re-cut to 1 MiB",
  input: () => chunks(16 * 1024),
  bytes: TOTAL,
  cases: {
    "identity TransformStream": (input) => drain(input, new TransformStream()),
    "ChunkStream(1 MiB)": (input) => drain(input, new ChunkStream(2 ** 20)),
  },
});

await main(import.meta.url);
