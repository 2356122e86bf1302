// The job sluice is for, end to end against the real S3 gateway: a 200 MB auction
// streamed as JSON, gzipped and archived to S3 with concurrency 4 and the default
// 8 MiB parts, while the bytes the sink has taken but the gateway has not yet
// acknowledged are sampled through a counting proxy. Node only: one run of this
// size is enough, and the other runtimes run the same sink in test/s3.test.ts.
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { describe, expect, inject, test } from "vitest";
import { makeAuction } from "../../demo/auction.ts";
import { GzipStream } from "../../lib/gzip.ts";
import { jsonStream } from "../../lib/json.ts";
import { s3Sink } from "../../lib/s3.ts";
import { inspectObject, readObject, removeObject } from "../_support/s3/client.ts";
import { startFaultProxy } from "../_support/s3/fault_proxy.ts";

const MiB = 2 ** 20;
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

describe.runIf(inject("runtime") === "node")("s3Sink with a gzipped auction", () => {
  test("200 MB of auction JSON, gzipped, with concurrency 4: the object gunzips to JSON.stringify(value) and at most (concurrency + 1) × partSize is held", async () => {
    const s3 = inject("s3");
    const value = makeAuction(200e6);
    const expected = sha256(JSON.stringify(value));
    const key = `sluice-tests/auction-${Math.random().toString(36).slice(2, 10)}.json.gz`;
    const proxy = await startFaultProxy(s3.endpoint);
    const concurrency = 4;
    const partSize = 8 * MiB;
    let written = 0;
    let worst = 0;
    try {
      const sink = s3Sink({
        endpoint: proxy.endpoint, region: s3.region, bucket: s3.bucket, key, concurrency, partSize,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        contentType: "application/json", contentEncoding: "gzip",
      });
      const counted = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          written += chunk.length;
          worst = Math.max(worst, written - proxy.stats().acknowledgedPartBytes);
          controller.enqueue(chunk);
        },
      });
      await jsonStream(value).pipeThrough(new GzipStream()).pipeThrough(counted).pipeTo(sink);
      const result = await sink.uploaded;
      expect(result.bytes).toBe(written);
      expect(result.parts).toBe(Math.ceil(written / partSize));
      expect(result.parts).toBeGreaterThan(concurrency + 1);
      expect(proxy.stats().maxConcurrentParts).toBeLessThanOrEqual(concurrency);
      // What the sink took and the gateway had not yet acknowledged: the parts in flight, the part being
      // filled, and the chunks queued in front of the sink (64 KiB each, a few).
      console.log(`s3Sink, 200 MB auction: ${result.parts} parts, ${(written / MiB).toFixed(1)} MiB stored, at most ${(worst / MiB).toFixed(1)} MiB taken but not yet acknowledged (bound ${(concurrency + 1) * partSize / MiB} MiB)`);
      expect(worst).toBeGreaterThan(partSize);
      expect(worst).toBeLessThanOrEqual((concurrency + 1) * partSize + MiB);
      const stored = await readObject(s3, key, { raw: true });
      expect(stored?.length).toBe(written);
      expect(sha256(gunzipSync(stored!))).toBe(expected);
      expect((await inspectObject(s3, key)).uploads).toBe(0);
    } finally {
      await proxy.close();
      await removeObject(s3, key);
    }
  }, 240_000);
});
