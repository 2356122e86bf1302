// sluice/s3 against a real S3 server: Ceph's RADOS Gateway, started by the
// global setup (test/_support/s3/gateway.ts). Every case runs in every runtime; the
// browser pages presign through the Vitest process and check the bucket
// through it too (test/_support/s3/kit.ts), so they hold no secret except in the
// cases that test signing with credentials.
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { captureArchive } from "../lib/archive.ts";
import { jsonStream } from "../lib/json.ts";
import { S3Error, s3PartSize, s3Presigner, s3Sink, type S3SinkOptions } from "../lib/s3.ts";
import { s3Kit, type S3Kit } from "./_support/s3/kit.ts";
import { collect, sha256Hex } from "./_support/util.ts";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // S3's minimum part size, to keep the tests small
const CHUNK = 64 * 1024;

let kit: S3Kit;
let keys: string[] = [];
const run = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  kit = await s3Kit();
});

afterEach(async () => {
  await Promise.all(keys.map((k) => kit.remove(k)));
  keys = [];
});

/** A fresh key for this test, removed (with any upload left under it) when the test ends. */
function newKey(name: string): string {
  const runtime = (globalThis as { Deno?: unknown }).Deno ? "deno" : kit.browser ? "browser" : "node";
  const key = `sluice-tests/${runtime}-${run}/${name}-${keys.length}-${Math.random().toString(36).slice(2, 8)}`;
  keys.push(key);
  return key;
}

/** Bytes that never repeat with a short period (so swapped parts would show). */
function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

interface SourceOptions {
  chunk?: number;
  /** Error the stream with this once `at` bytes were pulled. */
  failAt?: { at: number; error: unknown };
  /** Called after each pull with the bytes pulled so far. */
  onPull?: (pulled: number) => void | Promise<void>;
}

/** Streams `bytes` in chunks, one per pull. */
function source(bytes: Uint8Array, options: SourceOptions = {}): ReadableStream<Uint8Array> {
  const chunk = options.chunk ?? CHUNK;
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (options.failAt && offset >= options.failAt.at) return controller.error(options.failAt.error);
      if (offset >= bytes.length) return controller.close();
      const end = Math.min(bytes.length, offset + chunk);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
      await options.onPull?.(offset);
    },
  }, { highWaterMark: 0 });
}

type Mode = "credentials" | "presigned";

function sinkOptions(mode: Mode, key: string, extra: Partial<S3SinkOptions> = {}, endpoint?: string): S3SinkOptions {
  const c = kit.config;
  return mode === "credentials"
    ? { endpoint: endpoint ?? c.endpoint, region: c.region, bucket: c.bucket, key, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, partSize: PART, ...extra }
    : { presign: kit.presign(endpoint), bucket: c.bucket, key, partSize: PART, ...extra };
}

/** Expects nothing under `key`: no object and no multipart upload. */
async function expectNothingLeft(key: string): Promise<void> {
  expect(await kit.inspect(key)).toEqual({ status: 404, uploads: 0 });
}

/** Expects the object under `key` to hold exactly `bytes`, and no upload left. */
async function expectStored(key: string, bytes: Uint8Array): Promise<void> {
  const stored = await kit.inspect(key);
  expect({ status: stored.status, length: stored.length, sha256: stored.sha256, uploads: stored.uploads })
    .toEqual({ status: 200, length: bytes.length, sha256: await sha256Hex(bytes), uploads: 0 });
}

describe("s3Sink round trips", () => {
  for (const mode of ["credentials", "presigned"] as const) {
    for (const [name, length, parts] of [
      ["0 bytes", 0, 1],
      ["1 byte", 1, 1],
      ["exactly one part", PART, 1],
      ["one part and one byte", PART + 1, 2],
    ] as const) {
      test(`stores ${name} byte for byte (${mode})`, async () => {
        const key = newKey(name.replace(/ /g, "-"));
        const bytes = randomBytes(length);
        const sink = s3Sink(sinkOptions(mode, key));
        await source(bytes).pipeTo(sink);
        const result = await sink.uploaded;
        await expectStored(key, bytes);
        const stored = await kit.inspect(key);
        expect(result).toEqual({ bucket: kit.config.bucket, key, etag: stored.etag, bytes: length, parts, durationMs: result.durationMs });
        expect(result.etag).toMatch(parts === 1 ? /^"[0-9a-f]{32}"$/ : /^"[0-9a-f]{32}-2"$/);
      });
    }
  }

  test("puts many parts in order while up to `concurrency` are in flight, from odd-sized chunks", async () => {
    const key = newKey("parts");
    const bytes = randomBytes(3 * PART + 12_345);
    const proxy = await kit.startProxy({});
    try {
      const sink = s3Sink(sinkOptions("credentials", key, { concurrency: 2 }, proxy.endpoint));
      await source(bytes, { chunk: 100_003 }).pipeTo(sink);
      expect((await sink.uploaded).parts).toBe(4);
      const stats = await proxy.stats();
      expect(stats.maxConcurrentParts).toBeGreaterThanOrEqual(1);
      expect(stats.maxConcurrentParts).toBeLessThanOrEqual(2);
      expect(stats.attempts).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1 });
    } finally {
      await proxy.close();
    }
    await expectStored(key, bytes);
  });

  test("sends the object's Content-Type, Content-Encoding and metadata", async () => {
    const key = newKey("headers");
    const bytes = randomBytes(PART + 10);
    const sink = s3Sink(sinkOptions("presigned", key, { contentType: "application/json", contentEncoding: "gzip", metadata: { source: "sluice-test", Run: run } }));
    await source(bytes).pipeTo(sink);
    await sink.uploaded;
    const stored = await kit.inspect(key);
    expect({ contentType: stored.contentType, contentEncoding: stored.contentEncoding, metadata: stored.metadata })
      .toEqual({ contentType: "application/json", contentEncoding: "gzip", metadata: { source: "sluice-test", run } });
    await expectStored(key, bytes);
  });

  test("uploads through a presign route of the application's server (s3Presigner().handle)", async () => {
    const prefix = newKey("route");
    const key = `${prefix}/object`;
    keys.push(key);
    const route = await kit.startPresignRoute(prefix);
    try {
      const bytes = randomBytes(PART + 777);
      const sink = s3Sink({ presign: route.url, key, partSize: PART });
      await source(bytes).pipeTo(sink);
      expect((await sink.uploaded).parts).toBe(2);
      await expectStored(key, bytes);
      // A key the route does not authorise: refused before anything reaches the bucket.
      const other = newKey("not-under-prefix");
      const refused = s3Sink({ presign: route.url, key: other, partSize: PART });
      const error = await source(randomBytes(10)).pipeTo(refused).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(S3Error);
      expect(String((error as Error).message)).toMatch(/PutObject .*presigning failed: .*HTTP 403.*not authorised/);
      await expectNothingLeft(other);
    } finally {
      await route.close();
    }
  });
});

describe("s3Sink leaves nothing behind when the upload cannot complete", () => {
  test("a source that errors half-way: the stream errors, no object and no upload are left", async () => {
    const key = newKey("source-error");
    const reason = new Error("source broke");
    const sink = s3Sink(sinkOptions("credentials", key));
    const piped = source(randomBytes(3 * PART), { failAt: { at: Math.floor(1.5 * PART), error: reason } }).pipeTo(sink);
    await expect(piped).rejects.toBe(reason);
    await expect(sink.uploaded).rejects.toBe(reason);
    await expectNothingLeft(key);
  });

  test("an abort signal: the upload is aborted and nothing is left", async () => {
    const key = newKey("signal");
    const abort = new AbortController();
    const reason = new Error("user cancelled");
    const sink = s3Sink(sinkOptions("presigned", key, { signal: abort.signal }));
    const piped = source(randomBytes(4 * PART), {
      onPull: (pulled) => {
        if (pulled >= 2 * PART + CHUNK) abort.abort(reason);
      },
    }).pipeTo(sink);
    await expect(piped).rejects.toBe(reason);
    await expect(sink.uploaded).rejects.toBe(reason);
    await expectNothingLeft(key);
  });

  test("writer.abort(): resolves once the upload is aborted and nothing is left", async () => {
    const key = newKey("writer-abort");
    const sink = s3Sink(sinkOptions("credentials", key));
    const writer = sink.getWriter();
    const bytes = randomBytes(2 * PART + 5);
    for (let i = 0; i < bytes.length; i += CHUNK) await writer.write(bytes.subarray(i, i + CHUNK));
    const reason = new Error("stop");
    await writer.abort(reason);
    await expect(sink.uploaded).rejects.toBe(reason);
    await expectNothingLeft(key);
  });

  test("a captureArchive whose value throws in toJSON: no object and no upload are left", async () => {
    const key = newKey("archive-tojson");
    const reason = new Error("toJSON failed");
    // Random hex compresses to about half: 16 MB of it is more than one gzipped part.
    const rows = Array.from({ length: 256 }, () => [...randomBytes(32 * 1024)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    const value = { rows, broken: { toJSON: () => { throw reason; } } };
    const sink = s3Sink(sinkOptions("credentials", key, { contentEncoding: "gzip" }));
    const { stream, archived } = captureArchive(jsonStream(value), sink, { gzip: { level: 1 } });
    // Read with a reader: Chromium's Response.arrayBuffer() replaces the stream's error with its own.
    const read = collect(stream).then(() => undefined, (e: unknown) => e);
    await expect(archived).rejects.toBe(reason);
    await expect(sink.uploaded).rejects.toBe(reason);
    expect(await read).toBe(reason);
    await expectNothingLeft(key);
  });

  test("a chunk that is not a Uint8Array: TypeError, nothing left", async () => {
    const key = newKey("bad-chunk");
    const sink = s3Sink(sinkOptions("credentials", key));
    const writer = sink.getWriter();
    await writer.write(randomBytes(PART + 1));
    await expect(writer.write("text" as unknown as Uint8Array)).rejects.toThrow(/s3Sink expects Uint8Array chunks, got string/);
    await expect(sink.uploaded).rejects.toThrow(TypeError);
    await expectNothingLeft(key);
  });
});

describe("s3Sink with faults between it and the gateway", () => {
  const firstAttemptFaults = [
    { fault: "a connection reset on a part's first attempt", rules: { resetFirstAttemptOfPart: 2 }, options: {} },
    { fault: "a part's first attempt that is never answered (requestTimeout)", rules: { stallFirstAttemptOfPart: 2 }, options: { requestTimeout: 5000 } },
  ];
  for (const { fault, rules, options } of firstAttemptFaults) {
    test(`${fault}: the part is retried and the object completes`, async () => {
      const key = newKey("retried");
      const proxy = await kit.startProxy(rules);
      const bytes = randomBytes(2 * PART + 99);
      try {
        const sink = s3Sink(sinkOptions(kit.browser ? "presigned" : "credentials", key, options, proxy.endpoint));
        await source(bytes).pipeTo(sink);
        expect((await sink.uploaded).parts).toBe(3);
        expect((await proxy.stats()).attempts).toEqual({ 1: 1, 2: 2, 3: 1 });
      } finally {
        await proxy.close();
      }
      await expectStored(key, bytes);
    });
  }

  test("a part never answered with retries: 0 fails after requestTimeout with a TimeoutError as the cause, nothing left", async () => {
    const key = newKey("stall-fails");
    const proxy = await kit.startProxy({ stallFirstAttemptOfPart: 1 });
    try {
      const sink = s3Sink(sinkOptions(kit.browser ? "presigned" : "credentials", key, { requestTimeout: 2000, retries: 0 }, proxy.endpoint));
      const error = await source(randomBytes(2 * PART)).pipeTo(sink).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(S3Error);
      const e = error as S3Error;
      expect({ operation: e.operation, partNumber: e.partNumber, attempts: e.attempts }).toEqual({ operation: "UploadPart", partNumber: 1, attempts: 1 });
      expect(e.message).toMatch(/^S3 UploadPart \(part 1\) of .* failed: network error \(no answer within requestTimeout \(2000 ms\)\)/);
      expect((e.cause as Error).name).toBe("TimeoutError");
    } finally {
      await proxy.close();
    }
    await expectNothingLeft(key);
  });

  test("a part that always fails: aborted after the retries, nothing left, the error names the part and why", async () => {
    const key = newKey("always-fails");
    const proxy = await kit.startProxy({ failPart: { partNumber: 2, status: 503, code: "ServiceUnavailable" } });
    try {
      const sink = s3Sink(sinkOptions(kit.browser ? "presigned" : "credentials", key, { retries: 2 }, proxy.endpoint));
      const error = await source(randomBytes(3 * PART)).pipeTo(sink).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(S3Error);
      const e = error as S3Error;
      expect({ operation: e.operation, partNumber: e.partNumber, status: e.status, code: e.code, attempts: e.attempts })
        .toEqual({ operation: "UploadPart", partNumber: 2, status: 503, code: "ServiceUnavailable", attempts: 3 });
      expect(e.message).toMatch(/^S3 UploadPart \(part 2\) of s3:\/\/.* failed after 3 attempts: HTTP 503 ServiceUnavailable: injected by the test proxy$/);
      await expect(sink.uploaded).rejects.toBe(error);
      expect((await proxy.stats()).attempts[2]).toBe(3);
    } finally {
      await proxy.close();
    }
    await expectNothingLeft(key);
  });

  test("a slow gateway: bytes taken from the source but not yet stored stay within (concurrency + 1) × partSize", async () => {
    const key = newKey("slow");
    const concurrency = 2;
    const proxy = await kit.startProxy({ partReadDelayMs: 2 });
    const bytes = randomBytes(6 * PART);
    let worst = 0;
    let checks: Promise<void> = Promise.resolve();
    try {
      const sink = s3Sink(sinkOptions(kit.browser ? "presigned" : "credentials", key, { concurrency }, proxy.endpoint));
      await source(bytes, {
        onPull: (pulled) => {
          // Sampled every MiB (a stats call crosses to the Vitest process in browsers).
          if (pulled % MiB !== 0) return;
          checks = checks.then(async () => {
            worst = Math.max(worst, pulled - (await proxy.stats()).acknowledgedPartBytes);
          });
          return checks;
        },
      }).pipeTo(sink);
      await sink.uploaded;
      const stats = await proxy.stats();
      expect(stats.maxConcurrentParts).toBeLessThanOrEqual(concurrency);
    } finally {
      await proxy.close();
    }
    // The parts in flight, the part being filled, the stream's 64 KiB queue and one chunk.
    expect(worst).toBeGreaterThan(PART);
    expect(worst).toBeLessThanOrEqual((concurrency + 1) * PART + 2 * CHUNK);
    await expectStored(key, bytes);
  });
});

describe("s3Sink errors", () => {
  const base = () => sinkOptions("credentials", "k");

  test("rejects a partSize under 5 MiB, a concurrency under 1 or not an integer, a negative requestTimeout, at construction", () => {
    expect(() => s3Sink({ ...base(), partSize: PART - 1 })).toThrow(new RangeError("Cannot create s3Sink: partSize must be an integer from 5242880 to 5368709120 bytes (5 MiB to 5 GiB, as S3 requires), got number 5242879"));
    expect(() => s3Sink({ ...base(), concurrency: 0 })).toThrow(new RangeError("Cannot create s3Sink: concurrency must be an integer of at least 1, got number 0"));
    expect(() => s3Sink({ ...base(), concurrency: 1.5 })).toThrow(new RangeError("Cannot create s3Sink: concurrency must be an integer of at least 1, got number 1.5"));
    expect(() => s3Sink({ ...base(), retries: -1 })).toThrow(RangeError);
    expect(() => s3Sink({ ...base(), requestTimeout: -1 })).toThrow(new RangeError("Cannot create s3Sink: requestTimeout must be an integer from 0 to 2147483647 milliseconds, got number -1"));
    expect(() => s3Sink({ ...base(), requestTimeout: "5s" as unknown as number })).toThrow(/requestTimeout must be an integer from 0 to 2147483647 milliseconds, got string/);
  });

  test("rejects missing or mistyped options with a TypeError naming them", () => {
    const { credentials, ...noAuth } = base();
    expect(() => s3Sink(noAuth)).toThrow(new TypeError("Cannot create s3Sink: give exactly one of credentials (to sign here) and presign (to have each request presigned by your server)"));
    expect(() => s3Sink({ ...base(), presign: kit.presign() })).toThrow(TypeError);
    expect(() => s3Sink({ ...base(), bucket: "" })).toThrow(new TypeError('Cannot create s3Sink: bucket must be a non-empty string, got string ""'));
    expect(() => s3Sink({ ...base(), key: undefined })).toThrow(new TypeError("Cannot create s3Sink: key must be a non-empty string, got undefined"));
    expect(() => s3Sink({ ...base(), endpoint: "ftp://x" })).toThrow(/endpoint must be an http\(s\) URL/);
    expect(() => s3Sink({ ...base(), credentials: { ...credentials!, secretAccessKey: 1 as unknown as string } })).toThrow(/credentials\.secretAccessKey must be a non-empty string/);
    expect(() => s3Sink({ ...base(), metadata: { "bad name": "x" } })).toThrow(/metadata name "bad name" is not a valid header name/);
    expect(() => s3Sink(null as unknown as S3SinkOptions)).toThrow(TypeError);
  });

  test("wrong credentials: the first request fails at once, naming the status and S3's code", async () => {
    const key = newKey("wrong-secret");
    const options = sinkOptions("credentials", key, { credentials: { accessKeyId: kit.config.accessKeyId, secretAccessKey: "wrong" } });
    // Small object: the first request is the PutObject.
    const small = s3Sink(options);
    const e1 = await source(randomBytes(10)).pipeTo(small).then(() => undefined, (e: unknown) => e);
    if (kit.browser) {
      // The gateway's 403 carries no CORS headers, so the page only sees a network error (documented).
      expect(e1).toMatchObject({ name: "S3Error", operation: "PutObject", status: undefined, attempts: 4 });
      expect((e1 as Error).message).toMatch(/^S3 PutObject of s3:\/\/.* failed after 4 attempts: network error .*without CORS headers/);
    } else {
      expect(e1).toMatchObject({ name: "S3Error", operation: "PutObject", status: 403, code: "SignatureDoesNotMatch", attempts: 1 });
      expect((e1 as Error).message).toMatch(/^S3 PutObject of s3:\/\/.* failed: HTTP 403 SignatureDoesNotMatch/);
    }
    // Bigger: the first request is CreateMultipartUpload.
    const big = s3Sink(options);
    const e2 = await source(randomBytes(PART + 1)).pipeTo(big).then(() => undefined, (e: unknown) => e);
    expect(e2).toMatchObject(kit.browser
      ? { name: "S3Error", operation: "CreateMultipartUpload", status: undefined, attempts: 4 }
      : { name: "S3Error", operation: "CreateMultipartUpload", status: 403, code: "SignatureDoesNotMatch", attempts: 1 });
    await expect(big.uploaded).rejects.toBe(e2);
    await expectNothingLeft(key);
  });

  test("a missing bucket: NoSuchBucket on the first request", async () => {
    const sink = s3Sink({ ...sinkOptions("credentials", "k"), bucket: `no-such-bucket-${run}` });
    const error = await source(randomBytes(PART + 1)).pipeTo(sink).then(() => undefined, (e: unknown) => e);
    if (kit.browser) {
      // A bucket that does not exist has no CORS rule: the page only sees a network error (documented).
      expect(error).toMatchObject({ name: "S3Error", operation: "CreateMultipartUpload", status: undefined, attempts: 4 });
      expect((error as Error).message).toMatch(/^S3 CreateMultipartUpload of s3:\/\/no-such-bucket-.*\/k failed after 4 attempts: network error .*without CORS headers/);
    } else {
      expect(error).toMatchObject({ name: "S3Error", operation: "CreateMultipartUpload", status: 404, code: "NoSuchBucket", attempts: 1 });
      expect((error as Error).message).toMatch(/^S3 CreateMultipartUpload of s3:\/\/no-such-bucket-.*\/k failed: HTTP 404 NoSuchBucket/);
    }
  });

  test("an abort whose cleanup fails is reported, not swallowed", async () => {
    const key = newKey("cleanup-fails");
    const proxy = await kit.startProxy({});
    let uploadId = "";
    try {
      const presign = kit.presign(proxy.endpoint);
      // The application's presigner is reachable for the upload but refuses the cleanup.
      const sink = s3Sink({
        partSize: PART,
        key,
        retries: 0,
        presign: async (request) => {
          if (request.operation === "AbortMultipartUpload" || request.operation === "ListParts") throw new Error("presign server is down");
          if (request.uploadId) uploadId = request.uploadId;
          return presign(request);
        },
      });
      const reason = new Error("stop here");
      const writer = sink.getWriter();
      await writer.write(randomBytes(PART + 1));
      await writer.write(randomBytes(10)); // the first part is sent
      const aborted = await writer.abort(reason).then(() => undefined, (e: unknown) => e);
      expect(aborted).toBeInstanceOf(Error);
      expect((aborted as Error).message).toMatch(/the upload failed \(stop here\) and its cleanup failed too: S3 AbortMultipartUpload .*presign server is down; multipart upload .* may still hold parts/);
      expect((aborted as Error).cause).toBe(reason);
      await expect(sink.uploaded).rejects.toBe(aborted);
      expect(uploadId).not.toBe("");
      expect((await kit.inspect(key)).uploads).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe("s3Presigner", () => {
  const presigner = () =>
    s3Presigner({ endpoint: kit.config.endpoint, region: kit.config.region, bucket: kit.config.bucket, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }, authorize: (r) => r.key!.startsWith("ok/") });
  const post = (body: unknown, method = "POST") => new Request("http://app.example/api/s3/presign", { method, body: method === "GET" ? undefined : JSON.stringify(body) });

  test("signs one request: its method, URL (path-style, expiring) and the body's SHA-256 as a signed header", async () => {
    const sha256 = "a".repeat(64);
    const signed = await presigner().presign({ operation: "UploadPart", key: "ok/a b", uploadId: "u~1", partNumber: 3, sha256 });
    expect(signed.method).toBe("PUT");
    const url = new URL(signed.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${kit.config.endpoint}/${kit.config.bucket}/ok/a%20b`);
    expect(url.searchParams.get("partNumber")).toBe("3");
    expect(url.searchParams.get("uploadId")).toBe("u~1");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host;x-amz-content-sha256");
    expect(signed.headers).toEqual({ "x-amz-content-sha256": sha256 });
  });

  test("its handler answers 400 for a malformed request, 403 for a refused one, 405 for another method", async () => {
    const p = presigner();
    const r400 = await p.handle(post({ operation: "UploadPart", key: "ok/x", uploadId: "u", partNumber: 1 }));
    expect(r400.status).toBe(400);
    expect(await r400.json()).toEqual({ error: "invalid presign request: UploadPart needs sha256, the lowercase hex SHA-256 of the body, got undefined" });
    const r403 = await p.handle(post({ operation: "HeadObject", key: "other/x" }));
    expect([r403.status, await r403.json()]).toEqual([403, { error: "not authorised to presign HeadObject of other/x" }]);
    expect((await p.handle(post(null, "GET"))).status).toBe(405);
    expect((await p.handle(post({ operation: "DeleteBucket", key: "ok/x" }))).status).toBe(400);
    const ok = await p.handle(post({ operation: "CreateMultipartUpload", key: "ok/x", contentType: "text/plain" }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ method: "POST", headers: { "content-type": "text/plain" } });
  });
});

test("s3PartSize doubles every 1,000 parts, so 10,000 parts hold any object S3 accepts", () => {
  expect([1, 1000, 1001, 2000, 2001, 10_000].map((n) => s3PartSize(8 * MiB, n) / MiB)).toEqual([8, 8, 16, 16, 32, 4096]);
  let total = 0;
  for (let n = 1; n <= 10_000; n++) total += s3PartSize(8 * MiB, n);
  expect(total).toBeGreaterThan(5 * 2 ** 40);
  expect(s3PartSize(5 * 1024 * MiB, 9000)).toBe(5 * 1024 * MiB);
});
