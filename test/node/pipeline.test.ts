// The flagship pipeline end to end (demo/pipeline.ts): a generated auction
// streamed as JSON to a local HTTP server (best-effort) and gzipped into a
// file (required), with the faults a real deployment meets.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, inject, test } from "vitest";
import { makeAuction, type Auction } from "../../demo/auction.ts";
import { JSON_PATH_PROPERTY } from "../../lib/json.ts";
import { formatReport, ordersOf, runPipeline } from "../../demo/pipeline.ts";
import { startUploadServer, type UploadServer, type UploadServerOptions } from "../../demo/pipeline_server.ts";
import { s3Sink } from "../../lib/s3.ts";
import { inspectObject, readObject, removeObject } from "../_support/s3/client.ts";

const MB = 1e6;

let dir: string;
let servers: UploadServer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-pipeline-"));
  servers = [];
});

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function server(options?: UploadServerOptions): Promise<UploadServer> {
  const s = await startUploadServer(options);
  servers.push(s);
  return s;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The bytes the pipeline must produce: what `JSON.stringify` gives, as UTF-8. */
function expectedBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** Compares two large byte arrays without printing megabytes on failure. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(sha256(actual)).toBe(sha256(expected));
}

/** Puts an object whose toJSON runs `hook` at `fraction` of the orders, and returns its path. */
function hookAt(value: Auction, fraction: number, hook: () => unknown): string {
  const index = Math.floor(value.orders.length * fraction);
  const order = value.orders[index]!;
  (value.orders as unknown[])[index] = { toJSON: () => hook() ?? order };
  return `$.orders[${index}]`;
}

/** An error's message and its cause's, as a user would read them. */
function describeError(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return `${String(error)}${cause === undefined ? "" : ` (cause: ${String(cause)})`}`;
}

/** Records unhandled rejections until `stop()` is called (after a macrotask, so late ones count). */
function watchUnhandledRejections(): { stop: () => Promise<unknown[]> } {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => void seen.push(reason);
  process.on("unhandledRejection", onRejection);
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 50));
      process.off("unhandledRejection", onRejection);
      return seen;
    },
  };
}

describe("the pipeline", () => {
  test("the receiving server reports a body that is not JSON, with where it stops being JSON", async () => {
    const s = await server();
    const body = '{"orders":[{"sellAmount":"5"},{"sellAmount":"7"},]}';
    const response = await fetch(s.url, { method: "POST", body });
    const answer = (await response.json()) as { jsonError?: string };
    expect(answer.jsonError).toMatch(/JsonItemStream: unexpected byte at offset 49 .* in \$\.orders\[2\]/);
    expect(await s.outcome()).toMatchObject({ status: "complete", bytes: body.length, jsonError: answer.jsonError });
    const good = await fetch(s.url, { method: "POST", body: '{"orders":[{"sellAmount":"5"},{"sellAmount":"7"}]}' });
    expect(await good.json()).toMatchObject({ orders: 2, total: "12" });
  });

  test("uploads the JSON of the value and archives it gzipped, both byte for byte", async () => {
    const value = makeAuction(3 * MB);
    const expected = expectedBytes(value);
    const s = await server();
    const archive = join(dir, "auction.json.gz");

    const report = await runPipeline(value, { url: s.url, archive });

    const outcome = await s.outcome();
    // The server parsed the orders out of the body as it arrived: the same count and total as sent.
    const sent = ordersOf(value);
    expect(sent.orders).toBe(value.orders.length);
    expect(outcome).toEqual({ status: "complete", bytes: expected.length, sha256: sha256(expected), ...sent });
    expect(report.upload.response).toEqual({ bytes: expected.length, sha256: sha256(expected), ...sent });
    expect(formatReport(report, archive, sent)).toContain(`server parsed     ${sent.orders} orders, total sellAmount ${sent.total}: the same as sent`);
    expect(formatReport(report, archive, { ...sent, orders: sent.orders + 1 })).toContain("NOT what was sent");
    expect(report.upload.error).toBeUndefined();
    expectSameBytes(gunzipSync(readFileSync(archive)), expected);
    expect(readdirSync(dir)).toEqual(["auction.json.gz"]);

    expect(report.json.status).toBe("closed");
    expect(report.json.bytes).toBe(expected.length);
    expect(report.json.chunks).toBe(Math.ceil(expected.length / 65536));
    expect(report.json.firstChunkMs).toBeGreaterThanOrEqual(0);
    expect(report.json.durationMs).toBeGreaterThan(0);
    expect(report.upload.branch).toMatchObject({ index: 0, status: "closed", bytes: expected.length });
    expect(report.archive.branch).toMatchObject({ index: 1, status: "closed", bytes: expected.length });
    expect(report.archive.gzip.bytes).toBe(readFileSync(archive).length);
  });

  test("a server that resets the connection at 40% fails the upload with a clear error, and the archive is still complete", async () => {
    // Larger than the loopback socket buffers, so that the upload cannot have handed over the whole body before the reset.
    const value = makeAuction(12 * MB);
    const expected = expectedBytes(value);
    const s = await server({ resetAfterBytes: 0.4 * expected.length });
    const archive = join(dir, "auction.json.gz");

    const report = await runPipeline(value, { url: s.url, archive });

    const outcome = await s.outcome();
    expect(outcome.status).toBe("reset");
    expect(outcome.bytes).toBeLessThan(0.5 * expected.length);
    expect(report.upload.error).toBeInstanceOf(Error);
    expect(describeError(report.upload.error)).toMatch(/ECONNRESET|reset/i);
    expect(report.upload.response).toBeUndefined();
    // The best-effort branch went away without holding the others back; the required one got everything.
    expect(report.upload.branch.status).toMatch(/^(cancelled|detached)$/);
    expect(report.upload.branch.bytes).toBeLessThan(expected.length);
    expect(report.archive.branch).toMatchObject({ status: "closed", bytes: expected.length });
    expectSameBytes(gunzipSync(readFileSync(archive)), expected);
    expect(readdirSync(dir)).toEqual(["auction.json.gz"]);
  });

  test("archived to S3 with a server that resets at 40%: the S3 object still completes and gunzips to the JSON", async () => {
    const s3 = inject("s3");
    // About 6.5 MB gzipped: two parts of 5 MiB, so the multipart path is the one exercised.
    const value = makeAuction(16 * MB);
    const expected = expectedBytes(value);
    const s = await server({ resetAfterBytes: 0.4 * expected.length });
    const key = `sluice-tests/pipeline-${Math.random().toString(36).slice(2, 10)}.json.gz`;
    const sink = s3Sink({
      endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, key,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      partSize: 5 * 1024 * 1024, contentType: "application/json", contentEncoding: "gzip",
    });
    try {
      const report = await runPipeline(value, { url: s.url, archive: sink });

      expect((await s.outcome()).status).toBe("reset");
      expect(describeError(report.upload.error)).toMatch(/ECONNRESET|reset/i);
      expect(report.archive.branch).toMatchObject({ status: "closed", bytes: expected.length });
      const result = await sink.uploaded;
      expect(result).toMatchObject({ bucket: s3.bucket, key, bytes: report.archive.gzip.bytes, parts: 2 });
      const stored = await inspectObject(s3, key);
      expect({ status: stored.status, etag: stored.etag, uploads: stored.uploads, contentEncoding: stored.contentEncoding })
        .toEqual({ status: 200, etag: result.etag, uploads: 0, contentEncoding: "gzip" });
      // Read raw: a fetch would undo the Content-Encoding itself.
      expectSameBytes(gunzipSync((await readObject(s3, key, { raw: true }))!), expected);
    } finally {
      await removeObject(s3, key);
    }
  }, 60_000);

  test("a toJSON that throws at 60% aborts the upload, leaves no archive and no temporary file, and the error names the value's path", async () => {
    const value = makeAuction(4 * MB);
    const failure = new Error("price feed unavailable");
    const path = hookAt(value, 0.6, () => {
      throw failure;
    });
    const s = await server();
    const archive = join(dir, "auction.json.gz");
    const watch = watchUnhandledRejections();

    const error = await runPipeline(value, { url: s.url, archive }).then(() => undefined, (e: unknown) => e);

    // The value's own error, passed on as it is, with the path of the value that threw attached.
    expect(error).toBe(failure);
    expect((error as Record<string, unknown>)[JSON_PATH_PROPERTY]).toBe(path);
    const outcome = await s.outcome();
    expect(outcome.status).toBe("aborted");
    expect(outcome.sha256).toBeUndefined();
    expect(existsSync(archive)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    expect(await watch.stop()).toEqual([]);
  });

  test("a slow server holds the pipeline back with bounded memory, and the report shows the time stalled on it", async () => {
    // The RSS bound is a sanity check (test/bench/pipeline.bench.ts measures memory at 20-300 MB,
    // each in a process of its own); the stall assertions show that the source was held back
    // rather than buffered ahead of the server.
    const value = makeAuction(8 * MB);
    // makeAuction's strings are ropes that the first serialisation flattens (allocating); a real
    // value's are flat already, so flatten them before the baseline, one order at a time.
    for (const order of value.orders) JSON.stringify(order);
    // At most 64 KiB per 16 ms (4 MB/s): slower than the pipeline even on a loaded machine.
    const s = await server({ readDelayMs: 16 });
    const archive = join(dir, "auction.json.gz");
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);

    const report = await runPipeline(value, { url: s.url, archive }).finally(() => clearInterval(sampler));

    peak = Math.max(peak, process.memoryUsage.rss());
    expect((await s.outcome()).status).toBe("complete");
    expect(report.upload.response).toMatchObject({ bytes: report.json.bytes });
    expect(peak - baseline).toBeLessThan(100 * MB);
    // The source waited for the server: a pipeline that buffered instead would never have held it back.
    expect(report.json.stalledMs).toBeGreaterThan(0.25 * report.json.durationMs);
    expect(report.upload.transfer.stalledMs).toBeGreaterThan(0.25 * report.json.durationMs);
  }, 60_000);

  test("an archive sink that fails at 50% fails the whole pipeline and aborts the upload", async () => {
    const value = makeAuction(8 * MB);
    const expected = expectedBytes(value);
    // zlib's gzip of the same JSON at the same level tells about how far 50% of the archive is.
    const half = gzipSync(expected).length / 2;
    const diskFull = new Error("disk full");
    let written = 0;
    const sink = new WritableStream<Uint8Array>({
      write(chunk) {
        written += chunk.length;
        if (written >= half) throw diskFull;
      },
    });
    const s = await server();
    const watch = watchUnhandledRejections();

    const error = await runPipeline(value, { url: s.url, archive: sink }).then(() => undefined, (e: unknown) => e);

    expect(error).toBe(diskFull);
    const outcome = await s.outcome();
    expect(outcome.status).toBe("aborted");
    expect(outcome.bytes).toBeLessThan(expected.length);
    expect(await watch.stop()).toEqual([]);
  });

  test("an abort signal fired mid-way stops everything, leaves nothing behind and no unhandled rejection", async () => {
    const value = makeAuction(8 * MB);
    const expected = expectedBytes(value);
    const stop = new AbortController();
    const reason = new Error("user cancelled");
    // Mid-way as the server sees it: once it has 40% of the body.
    const s = await server({ onData: (bytes) => bytes >= 0.4 * expected.length && stop.abort(reason) });
    const archive = join(dir, "auction.json.gz");
    const watch = watchUnhandledRejections();

    const error = await runPipeline(value, { url: s.url, archive, signal: stop.signal }).then(() => undefined, (e: unknown) => e);

    expect(error).toBe(reason);
    const outcome = await s.outcome();
    expect(outcome.status).toBe("aborted");
    expect(outcome.bytes).toBeLessThan(expected.length);
    expect(existsSync(archive)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    expect(await watch.stop()).toEqual([]);
  });
});
