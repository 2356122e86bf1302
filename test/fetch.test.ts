import { beforeEach, describe, expect, inject, test } from "vitest";
import { ReadableStream as PolyfillReadableStream } from "web-streams-polyfill";
import { supportsRequestStreams, uploadStream, type UploadStreamOptions } from "../lib/fetch.ts";
import { concat, deferred, sequence, sha256Hex } from "./_support/util.ts";
import type { UploadRecord } from "./_support/servers/upload_server.ts";
import { startServers } from "./_support/servers/per_test.ts";

// Browser projects are named "chromium (chromium)": the project, then the instance.
const runtime = inject("runtime").split(" ")[0]!;

// Every test gets servers of its own (HTTP/1.1, HTTP/2, HTTPS/1.1 on 127.0.0.1,
// port 0), closed when it ends, passed or failed: the cleanup returned here
// runs after every test. The last describe below checks that they are.
let httpUrl: string;
let http2Url: string;
let https1Url: string;
let tlsCert: string;
beforeEach(async () => {
  const servers = await startServers();
  ({ httpUrl, http2Url, https1Url, tlsCert } = servers);
  return () => servers.close();
});

const inBrowser = runtime === "chromium" || runtime === "firefox" || runtime === "webkit";
// Firefox and WebKit (Safari) cannot send a ReadableStream as a request body: they buffer.
const streams = runtime !== "firefox" && runtime !== "webkit";

type Seen = UploadRecord | { id: string; state: "none" };

// Node, Deno and Bun must be told to trust the self-signed certificate (browsers
// are launched to accept it); Node's fetch also needs an agent that offers HTTP/2.
// Bun's fetch takes the certificate in its own `tls` option and speaks HTTP/1.1.
// Not in the polyfill run: undici's experimental HTTP/2 client stalls on a
// request body once the stream globals are replaced, so that run uploads to
// the same TLS server over HTTP/1.1.
// Made once per certificate (every test's servers present the same one).
const tlsInitCache = new Map<string, Promise<Record<string, unknown>>>();
function tlsInit(): Promise<Record<string, unknown>> {
  const cached = tlsInitCache.get(tlsCert);
  if (cached) return cached;
  const init = (async () => {
    // workerd's network is set up to trust it (test/workerd/project.ts).
    if (inBrowser || runtime === "workerd") return {};
    const deno = (globalThis as { Deno?: { createHttpClient(o: object): unknown } }).Deno;
    if (deno) return { client: deno.createHttpClient({ caCerts: [tlsCert], http2: true }) };
    if (runtime === "bun") return { tls: { ca: tlsCert } };
    // Node's bundled undici exposes no Agent class; its global dispatcher is one.
    await (await fetch(`${httpUrl}/health`)).text();
    const global = (globalThis as Record<symbol, object>)[Symbol.for("undici.globalDispatcher.1")]!;
    const Agent = global.constructor as new (options: object) => object;
    return { dispatcher: new Agent({ allowH2: runtime !== "polyfill", connect: { ca: tlsCert } }) };
  })();
  tlsInitCache.set(tlsCert, init);
  return init;
}

async function optionsFor(base: string, init: UploadStreamOptions = {}): Promise<UploadStreamOptions> {
  return base.startsWith("https:") ? { ...(await tlsInit()), ...init } : init;
}

let counter = 0;
function newId(): string {
  return `${runtime}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** What the server saw of upload `id`; `wait` long-polls (`bytes=N`, `settled=1`). */
async function serverSaw(base: string, id: string, wait = ""): Promise<Seen> {
  const response = await fetch(`${base}/uploads/${id}?timeout=5000${wait ? `&${wait}` : ""}`, await optionsFor(base) as RequestInit);
  return response.json() as Promise<Seen>;
}

/** A byte source the test writes by hand, recording its cancellation. */
function handSource(Stream: typeof ReadableStream = ReadableStream) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled = deferred<unknown>();
  const stream = new Stream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel(reason) {
      cancelled.resolve(reason);
    },
  });
  return { stream, controller, cancelled: cancelled.promise };
}

/** The streaming proof: chunk 2 is produced only once the server has reported chunk 1. */
async function proveStreaming(base: string, Stream: typeof ReadableStream = ReadableStream) {
  const id = newId();
  const first = sequence(3000);
  const second = sequence(2000, 3000 % 256);
  const { stream, controller } = handSource(Stream);
  const upload = uploadStream(`${base}/upload?id=${id}`, stream, await optionsFor(base));
  upload.catch(() => {});
  controller.enqueue(first);
  const before = await serverSaw(base, id, `bytes=${first.length}`);
  controller.enqueue(second);
  controller.close();
  const response = await upload;
  const answer = await response.json() as { bytes: number; sha256: string; httpVersion: string };
  return { before, answer, digest: await sha256Hex(concat([first, second])) };
}

describe("supportsRequestStreams", () => {
  test("supportsRequestStreams is true where fetch streams request bodies and false in Firefox and WebKit", () => {
    expect(supportsRequestStreams()).toBe(streams);
  });
});

describe("uploadStream streams", () => {
  test("uploadStream over HTTP/1.1 delivers chunk 1 before chunk 2 exists, except in browsers, which refuse", async () => {
    if (inBrowser) {
      const id = newId();
      const { stream } = handSource();
      const error = await uploadStream(`${httpUrl}/upload?id=${id}`, stream).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DOMException);
      expect((error as DOMException).name).toBe("NotSupportedError");
      expect((error as Error).message).toMatch(runtime === "chromium" ? /HTTP\/2.*http:/ : /duplex/);
      expect((error as Error).message).toMatch(/fallback: "buffer"/);
      expect(stream.locked).toBe(false);
      expect(await serverSaw(httpUrl, id)).toEqual({ id, state: "none" });
      return;
    }
    const { before, answer, digest } = await proveStreaming(httpUrl);
    expect(before).toMatchObject({ state: "receiving", bytes: 3000 });
    expect(answer).toMatchObject({ bytes: 5000, sha256: digest, httpVersion: "1.1" });
  });

  test("uploadStream over HTTP/2 delivers chunk 1 before chunk 2 exists, except in Firefox and WebKit, which refuse", async () => {
    if (!streams) {
      const id = newId();
      const { stream } = handSource();
      const error = await uploadStream(`${http2Url}/upload?id=${id}`, stream).catch((e: unknown) => e);
      expect((error as DOMException).name).toBe("NotSupportedError");
      expect((error as Error).message).toBe(
        `Cannot upload to ${http2Url}/upload as a stream: this runtime's fetch cannot send a ReadableStream as a ` +
          'request body (no `duplex: "half"` support; Firefox and Safari lack it). Nothing was sent. To upload ' +
          'anyway, pass fallback: "buffer" to send the body buffered (up to maxBufferBytes); Node, Deno, Bun, Workers and ' +
          "Chromium (over HTTP/2) stream.",
      );
      expect(await serverSaw(http2Url, id)).toEqual({ id, state: "none" });
      return;
    }
    const { before, answer, digest } = await proveStreaming(http2Url);
    expect(before).toMatchObject({ state: "receiving", bytes: 3000 });
    // Bun's and workerd's fetch speak only HTTP/1.1 (the server offers both).
    const http1Only = runtime === "polyfill" || runtime === "bun" || runtime === "workerd";
    expect(answer).toMatchObject({ bytes: 5000, sha256: digest, httpVersion: http1Only ? "1.1" : "2.0" });
  });

  test("uploadStream streams a ReadableStream from another implementation (web-streams-polyfill)", async () => {
    const Polyfill = PolyfillReadableStream as unknown as typeof ReadableStream;
    if (!streams) {
      const { stream } = handSource(Polyfill);
      await expect(uploadStream(`${http2Url}/upload`, stream)).rejects.toThrow(/Nothing was sent/);
      return;
    }
    const { before, answer, digest } = await proveStreaming(inBrowser ? http2Url : httpUrl, Polyfill);
    expect(before).toMatchObject({ state: "receiving", bytes: 3000 });
    expect(answer).toMatchObject({ bytes: 5000, sha256: digest });
  });

  test("uploadStream in Chromium explains the failure of a streamed upload to an HTTPS server without HTTP/2 and buffers on request", async () => {
    const id = newId();
    const { stream, controller } = handSource();
    controller.enqueue(sequence(100));
    controller.close();
    const result = await uploadStream(`${https1Url}/upload?id=${id}`, stream, await optionsFor(https1Url)).then(
      (r) => r.json() as Promise<{ bytes: number }>,
      (e: unknown) => e,
    );
    if (runtime === "chromium") {
      expect(result).toBeInstanceOf(TypeError);
      expect((result as Error).message).toMatch(/only over HTTP\/2.*fallback: "buffer"/);
      // Chromium fails before reading the body, so fallback "buffer" retries buffered.
      const again = newId();
      const bytes = sequence(5000) as Uint8Array<ArrayBuffer>;
      const response = await uploadStream(`${https1Url}/upload?id=${again}`, new Blob([bytes]).stream(), { fallback: "buffer" });
      expect(await response.json()).toMatchObject({ bytes: 5000, sha256: await sha256Hex(bytes), httpVersion: "1.1" });
    } else if (!streams) {
      expect((result as DOMException).name).toBe("NotSupportedError");
    } else {
      expect(result).toMatchObject({ bytes: 100 });
    }
  });
});

describe("uploadStream fallback", () => {
  test("uploadStream with fallback buffer sends the whole body wherever it runs", async () => {
    for (const base of [httpUrl, http2Url, https1Url]) {
      const id = newId();
      const bytes = sequence(100_000) as Uint8Array<ArrayBuffer>;
      const stream = new Blob([bytes.subarray(0, 33_333), bytes.subarray(33_333)]).stream();
      const response = await uploadStream(`${base}/upload?id=${id}`, stream, await optionsFor(base, { fallback: "buffer" }));
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id, bytes: 100_000, sha256: await sha256Hex(bytes) });
    }
  });

  test("uploadStream with fallback buffer rejects past maxBufferBytes and sends nothing where it cannot stream", async () => {
    const id = newId();
    const { stream, controller, cancelled } = handSource();
    controller.enqueue(sequence(600));
    controller.enqueue(sequence(600));
    // Left open: a buffering runtime must give up at the limit, not at the end.
    if (!inBrowser) controller.close();
    const result = await uploadStream(`${httpUrl}/upload?id=${id}`, stream, { fallback: "buffer", maxBufferBytes: 1000 })
      .then((r) => r.json() as Promise<{ bytes: number }>, (e: unknown) => e);
    if (inBrowser) {
      expect(result).toBeInstanceOf(RangeError);
      expect((result as Error).message).toMatch(/larger than maxBufferBytes \(1000 bytes\).*Nothing was sent/);
      expect(await cancelled).toBe(result);
      expect(await serverSaw(httpUrl, id)).toEqual({ id, state: "none" });
    } else {
      // Streaming runtimes never buffer, so the limit does not apply.
      expect(result).toMatchObject({ bytes: 1200 });
    }
  });

  test("uploadStream never lets a ReadableStream be sent as the text [object ReadableStream]", async () => {
    const text = "the real body, not its name";
    const body = () => new Blob([text]).stream();
    if (runtime === "firefox") {
      // The hazard being guarded against: Firefox's own fetch stringifies the stream.
      const raw = newId();
      await fetch(`${httpUrl}/upload?id=${raw}`, { method: "POST", body: body(), duplex: "half" } as RequestInit);
      expect(await serverSaw(httpUrl, raw, "settled=1")).toMatchObject({ head: "[object ReadableStream]" });
      const refused = newId();
      await expect(uploadStream(`${httpUrl}/upload?id=${refused}`, body())).rejects.toThrow(/Nothing was sent/);
      expect(await serverSaw(httpUrl, refused)).toEqual({ id: refused, state: "none" });
    } else if (runtime === "webkit") {
      // WebKit's own fetch refuses the stream outright; uploadStream refuses before fetch is called.
      const raw = newId();
      const error = await fetch(`${httpUrl}/upload?id=${raw}`, { method: "POST", body: body(), duplex: "half" } as RequestInit)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DOMException);
      expect([(error as DOMException).name, (error as DOMException).message]).toEqual(["NotSupportedError", expect.stringMatching(/ReadableStream uploading is not supported/)]);
      expect(await serverSaw(httpUrl, raw)).toEqual({ id: raw, state: "none" });
      await expect(uploadStream(`${httpUrl}/upload?id=${raw}`, body())).rejects.toThrow(/Nothing was sent/);
    }
    for (const fallback of ["buffer", "error"] as const) {
      if (!streams && fallback === "error") continue;
      const base = inBrowser ? http2Url : httpUrl;
      const id = newId();
      await (await uploadStream(`${base}/upload?id=${id}`, body(), await optionsFor(base, { fallback }))).text();
      expect(await serverSaw(base, id, "settled=1")).toMatchObject({ state: "complete", head: text });
    }
  });
});

/**
 * What the server must have seen of a broken-off streamed upload. Chromium over
 * HTTP/2 half-closes the stream (END_STREAM) and resets it (RST_STREAM CANCEL,
 * code 8) right after, so there the server sees the reset, not a dropped body.
 */
function brokenOff(bytes: number) {
  return runtime === "chromium"
    ? { state: "aborted", bytes, endStream: true, rstCode: 8 }
    : { state: "aborted", bytes, endStream: false };
}

describe("uploadStream errors and cancellation", () => {
  test("uploadStream aborts the request when the body errors half-way: the server sees a broken-off upload", async () => {
    const base = runtime === "chromium" ? http2Url : httpUrl;
    const id = newId();
    const { stream, controller } = handSource();
    const upload = uploadStream(`${base}/upload?id=${id}&hold=2000`, stream, await optionsFor(base, { fallback: "buffer" }));
    upload.catch(() => {});
    controller.enqueue(sequence(4000));
    if (streams) expect(await serverSaw(base, id, "bytes=4000")).toMatchObject({ state: "receiving", bytes: 4000 });
    const failure = new Error("producer failed");
    controller.error(failure);
    await expect(upload).rejects.toBe(failure);
    const seen = await serverSaw(base, id, streams ? "settled=1" : "");
    if (streams) expect(seen).toMatchObject(brokenOff(4000));
    else expect(seen).toEqual({ id, state: "none" });
  });

  test("uploadStream says how many bytes were sent when the server resets the connection mid-upload", async () => {
    if (!streams) {
      // Buffered (Firefox, WebKit): the reset still rejects; it never resolves as if the upload had landed.
      const base = http2Url;
      const body = new Blob([sequence(200_000) as Uint8Array<ArrayBuffer>]).stream();
      const error = await uploadStream(`${base}/upload?resetAt=1000`, body, { fallback: "buffer" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      return;
    }
    for (const base of runtime === "chromium" ? [http2Url] : [httpUrl, http2Url]) {
      const id = newId();
      const { stream, controller } = handSource();
      const upload = uploadStream(`${base}/upload?id=${id}&resetAt=4000`, stream, await optionsFor(base));
      let settled = false;
      const outcome = upload.then(() => "resolved", (e: unknown) => e).finally(() => (settled = true));
      controller.enqueue(sequence(4000));
      expect(await serverSaw(base, id, "settled=1")).toMatchObject({ state: "aborted" });
      // Keep producing until the client notices the reset.
      while (!settled) {
        try {
          controller.enqueue(sequence(1000));
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const error = await outcome;
      expect(error).toBeInstanceOf(TypeError);
      const message = (error as Error).message;
      expect(message).toMatch(new RegExp(`^Upload to ${base}/upload failed after \\d+ bytes of the body were sent: `));
      expect(Number(/after (\d+) bytes/.exec(message)![1])).toBeGreaterThanOrEqual(4000);
      expect((error as Error).cause).toBeDefined();
    }
  });

  test("a streamed upload does not follow a redirect unless asked; a buffered one does", async () => {
    const base = inBrowser ? http2Url : httpUrl;
    const id = newId();
    const body = new Blob([sequence(5000) as Uint8Array<ArrayBuffer>]).stream();
    const upload = uploadStream(`${base}/upload?id=${id}&redirect=1`, body, await optionsFor(base, { fallback: "buffer" }));
    if (streams) {
      await expect(upload).rejects.toBeInstanceOf(TypeError);
      expect(await serverSaw(base, id)).toEqual({ id, state: "none" });
    } else {
      expect((await upload).status).toBe(200);
      expect(await serverSaw(base, id, "settled=1")).toMatchObject({ state: "complete", bytes: 5000 });
    }
  });

  test("uploadStream rejects a body chunk that is not a Uint8Array and aborts the request", async () => {
    const base = runtime === "chromium" ? http2Url : httpUrl;
    const id = newId();
    const { stream, controller, cancelled } = handSource();
    const upload = uploadStream(`${base}/upload?id=${id}&hold=2000`, stream, await optionsFor(base, { fallback: "buffer" }));
    upload.catch(() => {});
    controller.enqueue(sequence(10));
    if (streams) expect(await serverSaw(base, id, "bytes=10")).toMatchObject({ bytes: 10 });
    controller.enqueue("text" as unknown as Uint8Array);
    const error = await upload.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('Cannot upload: body chunks must be Uint8Array, got string "text"');
    expect(await cancelled).toBe(error);
    const seen = await serverSaw(base, id, streams ? "settled=1" : "");
    if (streams) expect(seen).toMatchObject(brokenOff(10));
    else expect(seen).toEqual({ id, state: "none" });
  });

  test("uploadStream sends a Request made without a method as a POST", async () => {
    const base = runtime === "chromium" ? http2Url : httpUrl;
    const id = newId();
    const bytes = sequence(5000) as Uint8Array<ArrayBuffer>;
    const response = await uploadStream(new Request(`${base}/upload?id=${id}`), new Blob([bytes]).stream(), await optionsFor(base, { fallback: "buffer" }));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ bytes: 5000, sha256: await sha256Hex(bytes) });
  });

  /** Aborts an upload mid-way through `signal`, given in init or as the signal of a Request input. */
  async function abortMidway(signalOf: "init" | "request") {
    const base = runtime === "chromium" ? http2Url : httpUrl;
    const id = newId();
    const { stream, controller, cancelled } = handSource();
    const abort = new AbortController();
    const url = `${base}/upload?id=${id}&hold=2000`;
    const upload = signalOf === "init"
      ? uploadStream(url, stream, await optionsFor(base, { fallback: "buffer", signal: abort.signal }))
      : uploadStream(new Request(url, { method: "PUT", signal: abort.signal }), stream, await optionsFor(base, { fallback: "buffer" }));
    upload.catch(() => {});
    controller.enqueue(sequence(2000));
    if (streams) expect(await serverSaw(base, id, "bytes=2000")).toMatchObject({ bytes: 2000 });
    const reason = new Error("user gave up");
    abort.abort(reason);
    await expect(upload).rejects.toBe(reason);
    expect(await cancelled).toBe(reason);
    const seen = await serverSaw(base, id, streams ? "settled=1" : "");
    if (streams) expect(seen).toMatchObject(brokenOff(2000));
    else expect(seen).toEqual({ id, state: "none" });
  }

  test("uploadStream abort signal aborts the request and cancels the body stream with the reason", async () => {
    await abortMidway("init");
  });

  test("uploadStream follows the signal of a Request given as input", async () => {
    await abortMidway("request");
  });

  test("uploadStream with an already aborted signal cancels the body and sends nothing", async () => {
    const id = newId();
    const { stream, cancelled } = handSource();
    const reason = new Error("too late");
    await expect(uploadStream(`${httpUrl}/upload?id=${id}`, stream, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(await cancelled).toBe(reason);
    expect(await serverSaw(httpUrl, id)).toEqual({ id, state: "none" });
  });

  test("uploadStream rejects bad arguments, naming the argument and what it got, without touching the body", async () => {
    const { stream } = handSource();
    const url = `${httpUrl}/upload`;
    await expect(uploadStream(url, "abc" as unknown as ReadableStream<Uint8Array>)).rejects
      .toThrow('Cannot upload: body must be a ReadableStream, got string "abc"');
    await expect(uploadStream(url, stream, { fallback: "drop" as "error" })).rejects
      .toThrow('Cannot upload: fallback must be "error" or "buffer", got string "drop"');
    await expect(uploadStream(url, stream, { maxBufferBytes: -1 })).rejects
      .toThrow("Cannot upload: maxBufferBytes must be a non-negative safe integer, got number -1");
    await expect(uploadStream(url, stream, { method: "GET" })).rejects
      .toThrow('Cannot upload: method must allow a request body, got string "GET"');
    await expect(uploadStream(url, stream, null as unknown as {})).rejects
      .toThrow(new TypeError("Cannot upload: init must be an object, got null"));
    await expect(uploadStream(url, stream, "POST" as unknown as {})).rejects
      .toThrow(new TypeError('Cannot upload: init must be an object, got string "POST"'));
    expect(stream.locked).toBe(false);
  });
});

describe("per-test servers", () => {
  let previous: string[] = [];
  let answered = false;

  // Fails on purpose (test.fails turns that into a pass): its servers must be closed all the same.
  test.fails("a test's servers listen on 127.0.0.1 and answer while it runs, then it fails", async () => {
    previous = [httpUrl, http2Url, https1Url];
    for (const base of previous) {
      expect(base).toMatch(/^https?:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${base}/health`, await optionsFor(base) as RequestInit);
      expect(await response.text()).toBe("ok");
    }
    answered = true;
    throw new Error("failing on purpose, after its servers answered");
  });

  test("the servers of the previous test, which failed, are closed once it has ended", async () => {
    expect(answered).toBe(true);
    expect(previous).toHaveLength(3);
    for (const base of previous) {
      expect([httpUrl, http2Url, https1Url]).not.toContain(base);
      const error = await fetch(`${base}/health`, await optionsFor(base) as RequestInit).then(
        (response) => `answered ${response.status}`,
        (e: unknown) => e,
      );
      // A network error is a TypeError, except in workerd, where it is a plain Error ("Network connection lost.").
      expect(error).toBeInstanceOf(runtime === "workerd" ? Error : TypeError);
    }
  });
});
