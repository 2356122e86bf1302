/**
 * Uploading a `ReadableStream` with `fetch`: streamed where the runtime can
 * send a streaming request body, and otherwise an honest error or an explicit,
 * bounded buffer — never a silently cut or stringified body.
 * @module
 */

import { describeValue, optionsObject } from "./_internal.ts";

/** What {@linkcode uploadStream} does where the body cannot be streamed. */
export type UploadFallback = "error" | "buffer";

/** Options of {@linkcode uploadStream}: `fetch`'s own, without `body`, plus the fallback. */
export interface UploadStreamOptions extends Omit<RequestInit, "body"> {
  /**
   * Where the runtime cannot stream this upload: `"error"` rejects (with a
   * `NotSupportedError` saying why and what to do) before reading anything;
   * `"buffer"` reads the whole body into a `Blob` first, up to `maxBufferBytes`.
   * @default "error"
   */
  fallback?: UploadFallback;
  /**
   * With `fallback: "buffer"`, the most bytes collected; a longer body rejects
   * with a `RangeError` and nothing is sent.
   * @default 67108864 (64 MiB)
   */
  maxBufferBytes?: number;
  /** Aborts the upload; the body stream is cancelled with `signal.reason`. */
  signal?: AbortSignal | null;
}

/** The default `maxBufferBytes` of {@linkcode uploadStream}: 64 MiB. */
export const DEFAULT_MAX_BUFFER_BYTES: number = 64 * 1024 * 1024;

// TypeScript's DOM types lack `duplex`, which streaming request bodies require.
type StreamingRequestInit = RequestInit & { duplex: "half" };
type ReadableStreamClass = new <R>(source: UnderlyingDefaultSource<R>, strategy?: QueuingStrategy<R>) => ReadableStream<R>;

/**
 * The `ReadableStream` class that this runtime's `fetch` itself makes (and so
 * accepts): taken from a `Response` body, since the global may have been
 * replaced by a polyfill that `fetch` would not recognise.
 */
function fetchReadableStream(): ReadableStreamClass | undefined {
  try {
    const body = new Response(new Uint8Array(1)).body;
    return (body?.constructor as ReadableStreamClass | undefined) ?? undefined;
  } catch {
    return undefined;
  }
}

let supported: boolean | undefined;

/**
 * Whether this runtime's `fetch` can send a `ReadableStream` as a request
 * body (`duplex: "half"`). Sends nothing: it builds a `Request` for a `data:`
 * URL and checks that the stream was taken as a stream — an engine without
 * support never reads `duplex` and turns the stream into the text
 * `"[object ReadableStream]"` with a `text/plain` Content-Type.
 *
 * True in Node 18+, Deno, Bun, Cloudflare Workers (workerd) and Chromium 105+;
 * false in Firefox and Safari.
 * Note that Chromium, though it says yes here, streams only over HTTP/2 or
 * HTTP/3 (so only to `https:` URLs): to a server that answers over HTTP/1.1
 * the fetch fails ({@linkcode uploadStream} explains that failure).
 *
 * @example Choose how to upload
 * ```ts
 * import { supportsRequestStreams } from "sluice/fetch";
 *
 * console.log(supportsRequestStreams() ? "streaming" : "buffering"); // "streaming" — in Node, Deno and Chromium; "buffering" in Firefox and Safari
 * ```
 */
export function supportsRequestStreams(): boolean {
  return (supported ??= detectRequestStreams());
}

function detectRequestStreams(): boolean {
  const Stream = fetchReadableStream();
  if (Stream === undefined || typeof Request !== "function") return false;
  let duplexAccessed = false;
  try {
    const request = new Request("data:application/octet-stream,", {
      method: "POST",
      body: new Stream<Uint8Array>({}),
      get duplex() {
        duplexAccessed = true;
        return "half" as const;
      },
    } as StreamingRequestInit);
    // Deno, Bun and workerd stream request bodies without ever reading `duplex`;
    // Safari also ignores it but cannot send the stream, so only those are taken on trust.
    const g = globalThis as { Deno?: unknown; Bun?: unknown };
    const trusted = g.Deno !== undefined || g.Bun !== undefined || isWorkers();
    return (duplexAccessed || trusted) && !request.headers.has("Content-Type");
  } catch {
    return false;
  }
}

/** True in Cloudflare's Workers runtime (workerd), which names itself so in its user agent. */
function isWorkers(): boolean {
  return (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent === "Cloudflare-Workers";
}

/** True in a web browser (or its workers), where streamed uploads need HTTP/2 and so TLS. */
function isBrowser(): boolean {
  const g = globalThis as {
    process?: { versions?: { node?: unknown } };
    Deno?: unknown;
    Bun?: unknown;
    navigator?: { userAgent?: unknown };
  };
  if (g.Deno !== undefined || g.Bun !== undefined || typeof g.process?.versions?.node === "string") return false;
  const agent = g.navigator?.userAgent;
  return typeof agent === "string" && agent.startsWith("Mozilla/");
}

function targetUrl(input: RequestInfo | URL): URL | undefined {
  try {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    return new URL(input instanceof Request ? input.url : String(input), base);
  } catch {
    return undefined;
  }
}

/** Why this upload cannot be streamed here and what to do, or undefined when it can be tried. */
function whyNotStreamed(url: URL | undefined): { why: string; advice: string } | undefined {
  const buffer = `pass fallback: "buffer" to send the body buffered (up to maxBufferBytes)`;
  if (!supportsRequestStreams()) {
    return {
      why: "this runtime's fetch cannot send a ReadableStream as a request body " +
        "(no `duplex: \"half\"` support; Firefox and Safari lack it)",
      advice: `To upload anyway, ${buffer}; Node, Deno, Bun, Workers and Chromium (over HTTP/2) stream.`,
    };
  }
  if (isBrowser() && url?.protocol === "http:") {
    return {
      why: `browsers stream request bodies only over HTTP/2, which they speak only over TLS, and ${url.origin} is plain http:`,
      advice: `Serve the endpoint over https: with HTTP/2, or ${buffer}.`,
    };
  }
  return undefined;
}

function upTo(url: URL | undefined): string {
  return url ? ` to ${url.origin}${url.pathname}` : "";
}

/**
 * Sends `body` with `fetch` as a streaming request body (`duplex: "half"`),
 * so that bytes leave while they are still being produced and memory stays
 * flat. Where the runtime cannot stream it — Firefox and Safari at all,
 * Chromium to plain `http:` URLs or to servers that answer only over HTTP/1.1
 * — `fallback` decides: `"error"` (the default) rejects with a
 * `NotSupportedError` that says why and what to do, and `"buffer"` collects
 * the body into a `Blob` of at most `maxBufferBytes` and sends that.
 *
 * The method defaults to `POST` (or the method of a `Request` given as
 * `input`, unless that is the default `GET`); every other option is passed
 * to `fetch`. The `signal` of a `Request` given as `input` aborts the upload
 * as `init.signal` does.
 * A `ReadableStream` is never handed to a `fetch` that would send it as the
 * text `"[object ReadableStream]"`. Streams from a polyfill are read through
 * a stream of the runtime's own class, so they stream too.
 *
 * **Cancellation behavior:** aborting `signal` aborts the request and cancels
 * the body stream with `signal.reason`; the promise rejects with that reason.
 * A rejection for bad arguments or, with `fallback: "error"`, for a runtime
 * that cannot stream comes before anything is read: the body is left
 * untouched (not locked), so it can still be sent another way. Any other
 * failure (network error, `maxBufferBytes` exceeded) cancels the body.
 *
 * **Error behavior:** when the body stream errors (or yields a chunk that is
 * not a `Uint8Array`) half-way, the request is aborted before the body is
 * ended, and the promise rejects with the body's error. Over HTTP/1.1 the
 * connection closes without the terminating chunk; over HTTP/2 the stream is
 * reset (RST_STREAM). Chromium, though, sends END_STREAM and the reset (CANCEL)
 * right after it, so an HTTP/2 server must take an upload as complete only
 * once its stream closed without a reset (Node: `rstCode === 0` at `close`),
 * or check a length or digest the client sends. When a streamed upload fails in a browser
 * (Chromium refuses to stream over HTTP/1.1: "Failed to fetch"), the
 * `TypeError` says so; with `fallback: "buffer"` the upload is retried
 * buffered if the browser had not yet read from the body. A network failure
 * after the body began to flow (the server resets the connection) rejects
 * with a `TypeError` that says how many bytes had been sent and why the
 * request failed (the runtime's own error is its `cause`).
 *
 * **Redirects:** a streamed body cannot be sent twice, so streamed uploads
 * default to `redirect: "error"` (pass `redirect` to choose otherwise). This
 * also keeps Node's fetch from holding a copy of the whole body in memory in
 * case a redirect comes (nodejs/undici#4058). workerd has no `"error"`: there
 * the upload is sent with `"manual"`, and a redirect answer fails it the same way.
 *
 * @param input The URL or `Request` to send to, as for `fetch`.
 * @param body The bytes to upload.
 * @param init `fetch` options without `body`, plus `fallback` and `maxBufferBytes`.
 * @returns The response, as `fetch` gives it.
 *
 * @example Upload a stream, buffering where the runtime cannot stream
 * ```ts ignore
 * import { uploadStream } from "sluice/fetch";
 *
 * const body = new Blob(["hello ", "world"]).stream();
 * const response = await uploadStream("https://example.com/upload", body, {
 *   headers: { "content-type": "text/plain" },
 *   fallback: "buffer",
 *   maxBufferBytes: 16 * 1024 * 1024,
 * });
 * console.log(response.status);
 * ```
 */
export async function uploadStream(
  input: RequestInfo | URL,
  body: ReadableStream<Uint8Array>,
  init: UploadStreamOptions = {},
): Promise<Response> {
  const options = optionsObject(init, "Cannot upload", "init");
  const { fallback = "error", maxBufferBytes = DEFAULT_MAX_BUFFER_BYTES, ...rest } = options;
  // A Request's own signal counts as much as one passed in init (fetch follows both).
  const signal = options.signal ?? (input instanceof Request ? input.signal : undefined);
  if (typeof (body as { getReader?: unknown } | null)?.getReader !== "function") {
    throw new TypeError(`Cannot upload: body must be a ReadableStream, got ${describeValue(body)}`);
  }
  if (fallback !== "error" && fallback !== "buffer") {
    throw new TypeError(`Cannot upload: fallback must be "error" or "buffer", got ${describeValue(fallback)}`);
  }
  if (typeof maxBufferBytes !== "number" || !Number.isSafeInteger(maxBufferBytes) || maxBufferBytes < 0) {
    throw new RangeError(
      `Cannot upload: maxBufferBytes must be a non-negative safe integer, got ${describeValue(maxBufferBytes)}`,
    );
  }
  // A Request made without a method says GET, which cannot carry the body: POST then, as for a URL.
  const method = rest.method ?? (input instanceof Request && input.method !== "GET" ? input.method : "POST");
  if (/^(GET|HEAD)$/i.test(method)) {
    throw new TypeError(`Cannot upload: method must allow a request body, got ${describeValue(method)}`);
  }
  if (body.locked) throw new TypeError("Cannot upload: body is locked to another reader");
  if (signal?.aborted) {
    await body.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }

  const url = targetUrl(input);
  const refusal = whyNotStreamed(url);
  if (refusal !== undefined) {
    if (fallback === "error") {
      throw new DOMException(
        `Cannot upload${upTo(url)} as a stream: ${refusal.why}. Nothing was sent. ${refusal.advice}`,
        "NotSupportedError",
      );
    }
    const reader = body.getReader();
    return sendBuffered(input, reader, { ...rest, method, signal }, maxBufferBytes, refusal.why, url);
  }
  return sendStreamed(input, body, { ...rest, method, signal }, fallback, maxBufferBytes, url);
}

type Reader = ReadableStreamDefaultReader<Uint8Array>;

/** A network error's message with its cause's (Node's fetch says only "fetch failed" and puts the reason in `cause`). */
function describeFailure(error: Error): string {
  const cause = error.cause as { message?: unknown; code?: unknown } | undefined;
  if (cause === undefined || cause === null) return error.message;
  const detail = typeof cause.message === "string" ? cause.message : String(cause);
  return `${error.message}: ${detail}${typeof cause.code === "string" && !detail.includes(cause.code) ? ` (${cause.code})` : ""}`;
}

function chunkError(value: unknown): TypeError {
  return new TypeError(`Cannot upload: body chunks must be Uint8Array, got ${describeValue(value)}`);
}

async function sendBuffered(
  input: RequestInfo | URL,
  reader: Reader,
  init: RequestInit,
  maxBufferBytes: number,
  why: string,
  url: URL | undefined,
): Promise<Response> {
  const signal = init.signal;
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  const onAbort = () => void reader.cancel(signal!.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    const take = (value: unknown) => {
      if (!(value instanceof Uint8Array)) throw chunkError(value);
      total += value.byteLength;
      if (total > maxBufferBytes) {
        throw new RangeError(
          `Cannot upload${upTo(url)}: the body is larger than maxBufferBytes (${maxBufferBytes} bytes) and cannot ` +
            `be streamed (${why}). Nothing was sent.`,
        );
      }
      chunks.push(value as Uint8Array<ArrayBuffer>);
    };
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        signal?.throwIfAborted();
        take(r.value);
      }
      signal?.throwIfAborted();
    } catch (error) {
      const reason = signal?.aborted ? signal.reason : error;
      await reader.cancel(reason).catch(() => {});
      throw reason;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  reader.releaseLock();
  return fetch(input, { ...init, body: new Blob(chunks) });
}

async function sendStreamed(
  input: RequestInfo | URL,
  body: ReadableStream<Uint8Array>,
  init: RequestInit,
  fallback: UploadFallback,
  maxBufferBytes: number,
  url: URL | undefined,
): Promise<Response> {
  const Stream = fetchReadableStream()!;
  const reader = body.getReader();
  const userSignal = init.signal;
  // Our own controller aborts the request when the body breaks, so that no
  // runtime can end it as if it were complete.
  const abort = new AbortController();
  let bodyFailure: { error: unknown } | undefined;
  let pulled = false;
  let cancelled = false;
  let sent = 0;
  // The wire stream must not end before fetch has given up on a broken
  // upload: Chromium ends an HTTP/2 upload whose body stream errors with a
  // clean END_STREAM, so the server would see a complete-looking short body.
  // So a broken body aborts the fetch first and ends the wire only once the
  // fetch has settled (or, should a runtime ignore the abort, after a while).
  let fetchSettled!: () => void;
  const settled = new Promise<void>((resolve) => (fetchSettled = resolve));
  const breakOff = async (reason: unknown): Promise<never> => {
    abort.abort(reason);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    throw reason;
  };
  // Always hand fetch a stream of its own class: a polyfilled source then
  // streams too, and chunks are checked before they leave.
  const wire = new Stream<Uint8Array>({
    async pull(controller) {
      pulled = true;
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (error) {
          bodyFailure ??= { error };
          return breakOff(error);
        }
        if (abort.signal.aborted) return breakOff(abort.signal.reason);
        if (r.done) return controller.close();
        if (!(r.value instanceof Uint8Array)) {
          const error = chunkError(r.value);
          bodyFailure ??= { error };
          void reader.cancel(error).catch(() => {});
          return breakOff(error);
        }
        // An empty chunk carries nothing (and would end a chunked HTTP/1.1 body early).
        if (r.value.byteLength === 0) continue;
        sent += r.value.byteLength;
        return controller.enqueue(r.value);
      }
    },
    cancel(reason) {
      cancelled = true;
      // An aborted fetch cancels its body with the abort's reason, except Bun's, which gives none.
      return reader.cancel(abort.signal.aborted ? abort.signal.reason : reason).catch(() => {});
    },
  }, { highWaterMark: 0 });

  const onAbort = () => {
    abort.abort(userSignal!.reason);
    cancelled = true;
    void reader.cancel(userSignal!.reason).catch(() => {});
  };
  userSignal?.addEventListener("abort", onAbort);
  try {
    // A streamed body cannot be sent again, so it cannot follow a redirect that keeps the body
    // (307/308); unless asked to follow, fail on any redirect — which also keeps Node's fetch
    // from holding a copy of the whole body in case one comes.
    // workerd refuses redirect "error" (it offers only "follow" and "manual"): there a redirect
    // answer to "manual" fails the upload just as "error" does elsewhere.
    const workers = init.redirect === undefined && isWorkers();
    const redirect = init.redirect ?? (workers ? "manual" : "error");
    const response = await fetch(input, { ...init, redirect, body: wire, duplex: "half", signal: abort.signal } as StreamingRequestInit);
    if (workers && response.status >= 300 && response.status < 400 && response.headers.has("Location")) {
      await response.body?.cancel().catch(() => {});
      throw new TypeError(`the server redirected (${response.status}), and a streamed upload follows no redirect unless \`redirect\` says so`);
    }
    return response;
  } catch (caught) {
    let error = caught;
    if (bodyFailure) throw bodyFailure.error;
    if (userSignal?.aborted) throw userSignal.reason;
    // workerd reports a network failure as a plain Error ("Network connection lost."), not a TypeError.
    if (error instanceof TypeError || (isWorkers() && error instanceof Error && error.name === "Error")) {
      const http2 = "Chromium streams request bodies only over HTTP/2, so a server that answers over HTTP/1.1 makes it fail";
      if (isBrowser() && !pulled && !cancelled) {
        const why = `the browser refused the streamed upload (${error.message}); ${http2}`;
        if (fallback === "buffer") return sendBuffered(input, reader, init, maxBufferBytes, why, url);
        error = new TypeError(
          `Cannot upload${upTo(url)} as a stream: ${why}. Serve the endpoint over HTTP/2, or pass ` +
            `fallback: "buffer" to send the body buffered (up to maxBufferBytes).`,
          { cause: error },
        );
      } else {
        error = new TypeError(
          `Upload${upTo(url)} failed after ${sent} bytes of the body were sent: ${describeFailure(error)}` +
            (isBrowser()
              ? ` (the server or the network broke off the connection, the server redirected — a streamed upload ` +
                `follows no redirect unless \`redirect\` says so — or, if nothing reached the server, ${http2})`
              : ""),
          { cause: error },
        );
      }
    }
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    fetchSettled();
    userSignal?.removeEventListener("abort", onAbort);
  }
}
