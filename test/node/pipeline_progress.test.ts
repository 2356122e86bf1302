// The upload server's GET /progress feed (demo/pipeline_server.ts): watchers see each upload's
// progress and its end, and a watcher never holds an upload back.
import { afterEach, expect, test } from "vitest";
import { startUploadServer, type UploadProgress, type UploadServer } from "../../demo/pipeline_server.ts";
import { SseDecoderStream, type SseEvent } from "../../lib/sse.ts";
import { sequence } from "../_support/util.ts";

let server: UploadServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Reads `progress` events from the feed until one says the request ended. */
async function watchUntilEnd(events: ReadableStreamDefaultReader<SseEvent>): Promise<UploadProgress[]> {
  const seen: UploadProgress[] = [];
  for (let r = await events.read(); !r.done; r = await events.read()) {
    expect(r.value.event).toBe("progress");
    const p = JSON.parse(r.value.data) as UploadProgress;
    seen.push(p);
    if (p.status !== "receiving") break;
  }
  return seen;
}

test.skipIf((globalThis as { __sluicePolyfilled?: boolean }).__sluicePolyfilled)(
  "the upload server's progress feed shows an upload's bytes as they arrive and its end, to two watchers",
  async () => {
    // Read slowly (5 ms per socket read), so that the upload lasts long enough for updates.
    server = await startUploadServer({ readDelayMs: 5 });
    const watchers = await Promise.all([0, 1].map(async () => (await fetch(server!.progressUrl)).body!.pipeThrough(new SseDecoderStream()).getReader()));
    const body = sequence(4 << 20);
    const upload = await fetch(server.url, { method: "POST", body: body as Uint8Array<ArrayBuffer> });
    expect(await upload.json()).toMatchObject({ bytes: body.length });
    for (const events of watchers) {
      const seen = await watchUntilEnd(events);
      expect(seen.at(-1)).toEqual({ request: 0, bytes: body.length, status: "complete" });
      expect(seen.filter((p) => p.status === "receiving").length).toBeGreaterThan(0);
      const bytes = seen.map((p) => p.bytes);
      expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
      await events.cancel();
    }
  },
);
