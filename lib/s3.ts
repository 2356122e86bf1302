/**
 * Object storage: a `WritableStream` that uploads what is written to it as one
 * S3 object (multipart, parts sent while later bytes are still being made), all
 * or nothing, from any runtime with `fetch` and WebCrypto. Signs with
 * credentials (servers) or with URLs presigned by the application's server
 * (browsers, which then never see a secret); {@linkcode s3Presigner} is that
 * server's half.
 * @module
 */

import { AwsV4Signer } from "aws4fetch";
import { concatBytes, describeValue } from "./_internal.ts";

/** Long-lived or temporary AWS-style credentials. */
export interface S3Credentials {
  /** The access key id. */
  accessKeyId: string;
  /** The secret access key; used to sign, never sent. */
  secretAccessKey: string;
  /** The session token of temporary credentials (STS). */
  sessionToken?: string;
}

/** The S3 operations {@linkcode s3Sink} sends, named as in the S3 API. */
export type S3Operation =
  | "PutObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListParts"
  | "HeadObject";

/**
 * One request the sink needs signed: what a presign function receives (and what
 * {@linkcode s3Presigner} accepts, as JSON, from a browser).
 */
export interface S3PresignRequest {
  /** The operation to sign. */
  operation: S3Operation;
  /** The object's key (the sink's `key` option, if it has one). */
  key?: string;
  /** For every operation on a multipart upload. */
  uploadId?: string;
  /** For UploadPart: 1 to 10,000. */
  partNumber?: number;
  /**
   * Lowercase hex SHA-256 of the request body, for the operations that have one (PutObject,
   * UploadPart, CompleteMultipartUpload): it is signed, so the server rejects bytes that differ.
   */
  sha256?: string;
  /** For PutObject and CreateMultipartUpload: the object's headers. */
  contentType?: string;
  /** For PutObject and CreateMultipartUpload: the object's Content-Encoding. */
  contentEncoding?: string;
  /** For PutObject and CreateMultipartUpload: the object's user metadata (`x-amz-meta-*`). */
  metadata?: Record<string, string>;
}

/** A presigned request: where to send it and the headers to send with it (they are signed too). */
export interface S3PresignedRequest {
  /** The HTTP method. */
  method: string;
  /** The presigned URL. */
  url: string;
  /** Headers to send with the request. */
  headers: Record<string, string>;
}

/** What an application provides to authorise the sink without credentials: a presigned request per operation. */
export type S3PresignFunction = (request: S3PresignRequest) => Promise<S3PresignedRequest | string>;

/** Options of {@linkcode s3Sink}. */
export interface S3SinkOptions {
  /**
   * The S3 endpoint, e.g. `"http://127.0.0.1:7480"` or `"https://<account>.r2.cloudflarestorage.com"`.
   * Addressed path-style (`endpoint/bucket/key`), as local and S3-compatible servers need. Without
   * it, AWS's virtual-hosted endpoint of `region` is used. Not used with `presign`.
   */
  endpoint?: string | URL;
  /** The signing region. @default "us-east-1" */
  region?: string;
  /** The bucket. Required with `credentials`; with `presign` it is only reported. */
  bucket?: string;
  /** The object's key. Required with `credentials`; with `presign` it is passed to the presign function. */
  key?: string;
  /** Sign requests with these (for servers). Exactly one of `credentials` and `presign` is given. */
  credentials?: S3Credentials;
  /**
   * Have each request presigned by the application instead (for browsers): a function that
   * answers a presigned request (typically by asking the application's server, which runs
   * {@linkcode s3Presigner}), or the URL of such a server route, to which the sink POSTs each
   * {@linkcode S3PresignRequest} as JSON.
   */
  presign?: S3PresignFunction | string | URL;
  /**
   * Bytes per part (the last one may be shorter); S3 needs at least 5 MiB (5,242,880) and at
   * most 5 GiB. Past part 1,000 the size doubles every 1,000 parts (see {@linkcode s3PartSize}),
   * so an object of unknown length stays under S3's 10,000 parts.
   * @default 8388608 (8 MiB)
   */
  partSize?: number;
  /** Parts in flight at once; `write()` waits while all are busy. @default 4 */
  concurrency?: number;
  /** Retries of a request that failed with a network error, a 5xx or a 429. @default 3 */
  retries?: number;
  /**
   * The longest one attempt of a request may wait for the server's whole answer, in milliseconds;
   * an attempt that takes longer (a stalled connection, a server that took the bytes and never
   * answers) is abandoned and retried as a network error is. Allow for the time a part's bytes
   * take to send at the slowest upload speed expected: 8 MiB at 1 Mbit/s is about 70 s.
   * `0` waits as long as it takes (then only `signal` ends a stalled upload).
   * @default 0
   */
  requestTimeout?: number;
  /** Aborts the upload: nothing is left in the bucket, the stream errors with the reason. */
  signal?: AbortSignal;
  /** The object's `Content-Type`. */
  contentType?: string;
  /** The object's `Content-Encoding`, e.g. `"gzip"` for a gzipped archive. */
  contentEncoding?: string;
  /** User metadata, sent as `x-amz-meta-<name>` headers. */
  metadata?: Record<string, string>;
}

/** What `uploaded` resolves with once the object is complete. */
export interface S3UploadResult {
  /** The bucket (as given in the options; `""` when a presigned sink was given none). */
  bucket: string;
  /** The key (as given in the options; `""` when a presigned sink was given none). */
  key: string;
  /** The object's ETag, quotes included, as S3 reports it. */
  etag: string;
  /** Bytes in the object. */
  bytes: number;
  /** Parts of the multipart upload (1 when the object was small enough for one PutObject). */
  parts: number;
  /** Milliseconds from the sink's creation to the object's completion. */
  durationMs: number;
}

/** A `WritableStream` that uploads to S3; see {@linkcode s3Sink}. */
export interface S3Sink extends WritableStream<Uint8Array> {
  /** Resolves once the object is complete; rejects, after the cleanup, when it could not be. */
  readonly uploaded: Promise<S3UploadResult>;
}

/** An S3 request that failed: which operation, which part, what the server said. */
export class S3Error extends Error {
  /** Always `"S3Error"`. */
  override name = "S3Error";
  /** The operation that failed. */
  readonly operation: S3Operation;
  /** The part, for UploadPart. */
  readonly partNumber?: number;
  /** The HTTP status, when the server answered. */
  readonly status?: number;
  /** S3's error code (`AccessDenied`, `NoSuchBucket`, `SignatureDoesNotMatch`...), when it sent one. */
  readonly code?: string;
  /** S3's error message, when it sent one. */
  readonly s3Message?: string;
  /** S3's request id, when it sent one. */
  readonly requestId?: string;
  /** Attempts made (1 + retries used). */
  readonly attempts: number;
  /** Creates the error from what the failed request gave. */
  constructor(
    message: string,
    details: { operation: S3Operation; partNumber?: number; status?: number; code?: string; s3Message?: string; requestId?: string; attempts: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.operation = details.operation;
    this.partNumber = details.partNumber;
    this.status = details.status;
    this.code = details.code;
    this.s3Message = details.s3Message;
    this.requestId = details.requestId;
    this.attempts = details.attempts;
  }
}

const MiB = 1024 * 1024;
const MIN_PART = 5 * MiB;
const MAX_PART = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/** Parts of one size before the size doubles. */
const PARTS_PER_STEP = 1000;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const OPERATIONS: readonly S3Operation[] = ["PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "HeadObject"];
/** In a page, an error answer without CORS headers looks like a network error: say so. */
const IN_BROWSER = typeof (globalThis as { document?: unknown }).document === "object";
const CORS_HINT = "; in a browser this is also what an S3 error answer without CORS headers looks like (e.g. NoSuchBucket, or a refused signature on some servers)";
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * The size of part `partNumber` (1-based) of a sink with `partSize`: `partSize` for parts 1 to
 * 1,000, then twice that for the next 1,000, and so on, at most 5 GiB. With the 5 MiB minimum,
 * 10,000 parts hold 5 MiB × 1,000 × (2¹⁰ − 1) ≈ 4.9 TiB; with the 8 MiB default, more than
 * S3's 5 TiB object limit. Memory grows with it: about `(concurrency + 1) ×` the current size.
 *
 * @example The part sizes of a long upload
 * ```ts
 * import { s3PartSize } from "sluice/s3";
 *
 * console.log(s3PartSize(8 << 20, 1000) === 8 << 20); // true
 * console.log(s3PartSize(8 << 20, 1001) === 16 << 20); // true
 * ```
 */
export function s3PartSize(partSize: number, partNumber: number): number {
  return Math.min(MAX_PART, partSize * 2 ** Math.floor((partNumber - 1) / PARTS_PER_STEP));
}

// ---------------------------------------------------------------------------------------------
// Requests: what each operation looks like on the wire, and signing it.

interface Target {
  endpoint?: URL;
  region: string;
  /** The bucket to presign for. */
  bucket: string;
  key: string;
}

function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function objectUrl(t: Target): URL {
  const key = t.key.split("/").map(encodeSegment).join("/");
  if (t.endpoint) {
    const base = t.endpoint.href.replace(/\/+$/, "");
    return new URL(`${base}/${encodeSegment(t.bucket)}/${key}`);
  }
  // Buckets with dots break the wildcard certificate of virtual-hosted addressing.
  return t.bucket.includes(".")
    ? new URL(`https://s3.${t.region}.amazonaws.com/${encodeSegment(t.bucket)}/${key}`)
    : new URL(`https://${t.bucket}.s3.${t.region}.amazonaws.com/${key}`);
}

/** The unsigned request for an operation: method, URL and headers. */
function describeRequest(t: Target, r: S3PresignRequest): { method: string; url: URL; headers: Record<string, string> } {
  const url = objectUrl(t);
  const headers: Record<string, string> = {};
  const objectHeaders = () => {
    if (r.contentType !== undefined) headers["content-type"] = r.contentType;
    if (r.contentEncoding !== undefined) headers["content-encoding"] = r.contentEncoding;
    for (const [name, value] of Object.entries(r.metadata ?? {})) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
  };
  const hash = r.sha256 ?? EMPTY_SHA256;
  let method: string;
  switch (r.operation) {
    case "PutObject":
      method = "PUT";
      objectHeaders();
      break;
    case "CreateMultipartUpload":
      method = "POST";
      url.search = "uploads";
      objectHeaders();
      break;
    case "UploadPart":
      method = "PUT";
      url.searchParams.set("partNumber", String(r.partNumber));
      url.searchParams.set("uploadId", r.uploadId!);
      break;
    case "CompleteMultipartUpload":
      method = "POST";
      url.searchParams.set("uploadId", r.uploadId!);
      headers["content-type"] = "application/xml";
      break;
    case "AbortMultipartUpload":
      method = "DELETE";
      url.searchParams.set("uploadId", r.uploadId!);
      break;
    case "ListParts":
      method = "GET";
      url.searchParams.set("uploadId", r.uploadId!);
      break;
    case "HeadObject":
      method = "HEAD";
      break;
  }
  headers["x-amz-content-sha256"] = hash;
  return { method, url, headers };
}

async function sign(t: Target, credentials: S3Credentials, r: S3PresignRequest, query?: { expiresIn: number }): Promise<S3PresignedRequest> {
  const { method, url, headers } = describeRequest(t, r);
  if (query) url.searchParams.set("X-Amz-Expires", String(query.expiresIn));
  const signed = await new AwsV4Signer({
    method,
    url: url.href,
    headers,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    service: "s3",
    region: t.region,
    signQuery: query !== undefined,
  }).sign();
  const out: Record<string, string> = {};
  signed.headers.forEach((value, name) => {
    out[name] = value;
  });
  return { method: signed.method, url: signed.url.href, headers: out };
}

function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (!m) return undefined;
  return m[1]!.replace(/&(quot|amp|apos|lt|gt|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === "quot" ? '"' : e === "amp" ? "&" : e === "apos" ? "'" : e === "lt" ? "<" : e === "gt" ? ">"
      : String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

interface NodeCrypto {
  createHash(name: "sha256"): { update(data: Uint8Array): { digest(encoding: "hex"): string } };
}
let nodeCrypto: Promise<NodeCrypto> | undefined;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // In Node, WebCrypto copies its input (8 MiB per part, several at once) outside the heap,
  // where the process keeps it: node:crypto hashes the part where it is.
  if (IN_NODE) {
    nodeCrypto ??= import(/* @vite-ignore */ `node:${"crypto"}`) as Promise<NodeCrypto>;
    return (await nodeCrypto).createHash("sha256").update(bytes).digest("hex");
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Base of the exponential backoff: attempt n waits a random time in [0, min(BACKOFF_CAP, BASE × 2ⁿ)). */
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Option checks, shared by the sink and the presigner.

function checkString(name: string, option: string, value: unknown, allowEmpty = false): string {
  if (typeof value !== "string" || (!allowEmpty && value === "")) {
    throw new TypeError(`${name}: ${option} must be a ${allowEmpty ? "" : "non-empty "}string, got ${describeValue(value)}`);
  }
  return value;
}

function checkKey(name: string, value: unknown): string {
  const key = checkString(name, "key", value);
  if (new TextEncoder().encode(key).length > 1024) throw new RangeError(`${name}: key must be at most 1024 bytes of UTF-8, got ${key.length} characters`);
  return key;
}

function checkEndpoint(name: string, value: unknown): URL | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === "string" || value instanceof URL ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash) {
    throw new TypeError(`${name}: endpoint must be an http(s) URL without query or fragment, got ${describeValue(value)}`);
  }
  return url;
}

function checkCredentials(name: string, value: unknown): S3Credentials {
  if (typeof value !== "object" || value === null) throw new TypeError(`${name}: credentials must be an object, got ${describeValue(value)}`);
  const c = value as Record<string, unknown>;
  checkString(name, "credentials.accessKeyId", c.accessKeyId);
  checkString(name, "credentials.secretAccessKey", c.secretAccessKey);
  if (c.sessionToken !== undefined) checkString(name, "credentials.sessionToken", c.sessionToken);
  return { accessKeyId: c.accessKeyId as string, secretAccessKey: c.secretAccessKey as string, sessionToken: c.sessionToken as string | undefined };
}

function checkMetadata(name: string, value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) throw new TypeError(`${name}: metadata must be an object of strings, got ${describeValue(value)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!HEADER_NAME.test(k)) throw new TypeError(`${name}: metadata name ${JSON.stringify(k)} is not a valid header name`);
    if (typeof v !== "string" || /[\r\n]/.test(v)) throw new TypeError(`${name}: metadata ${JSON.stringify(k)} must be a one-line string, got ${describeValue(v)}`);
    out[k] = v;
  }
  return out;
}

function checkInteger(name: string, option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER, unit = ""): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}${unit}` : `an integer from ${min} to ${max}${unit}`;
    throw new RangeError(`${name}: ${option} must be ${range}, got ${describeValue(value)}`);
  }
  return value;
}

function checkCrypto(name: string): void {
  if (typeof globalThis.crypto?.subtle?.digest !== "function") {
    throw new TypeError(`${name}: this runtime has no WebCrypto (crypto.subtle), which signing and part checksums need; in a browser it exists only in secure contexts (https or localhost)`);
  }
}

// ---------------------------------------------------------------------------------------------
// The sink.

interface Transport {
  /** Sends one attempt of a request; resolves with the response (any status). */
  send(request: S3PresignRequest, body: Uint8Array | undefined, signal: AbortSignal): Promise<Response>;
}

/**
 * Node's fetch copies a buffer body (as the Fetch standard says: so does a streamed one, chunk
 * by chunk), and the copies live until the next garbage collection: with 8 MiB parts that
 * doubled the sink's memory. In Node the requests go through `node:http(s)` instead, which
 * sends the part's bytes as they are. Deno, Bun, Workers and browsers use `fetch`.
 */
const IN_NODE = typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === "string" &&
  !("Deno" in globalThis) && !("Bun" in globalThis) &&
  ((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "Node.js").startsWith("Node.js");

interface NodeHttp {
  request(url: URL, options: { method: string; headers: Record<string, string>; signal: AbortSignal }, onResponse: (res: NodeHttpResponse) => void): {
    on(event: "error", listener: (error: Error) => void): void;
    end(body?: Uint8Array): void;
  };
}
interface NodeHttpResponse {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "end" | "close", listener: () => void): void;
  on(event: "error", listener: (error: Error) => void): void;
}
const nodeHttp: { http?: Promise<NodeHttp>; https?: Promise<NodeHttp> } = {};

async function nodeRequest(url: string, method: string, headers: Record<string, string>, body: Uint8Array | undefined, signal: AbortSignal): Promise<Response> {
  // A computed specifier, so that bundlers for other runtimes leave it alone.
  const target = new URL(url);
  const module = target.protocol === "https:" ? "https" : "http";
  const client = await (nodeHttp[module] ??= import(/* @vite-ignore */ `node:${module}`) as Promise<NodeHttp>);
  const all = { ...headers, ...(body === undefined ? {} : { "content-length": String(body.length) }) };
  return new Promise<Response>((resolve, reject) => {
    const req = client.request(target, { method, headers: all, signal }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        const answer = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) answer.set(name, Array.isArray(value) ? value.join(", ") : value);
        }
        const bytes = concatBytes(chunks);
        const noBody = method === "HEAD" || status === 204 || status === 304;
        resolve(new Response(noBody ? null : bytes, { status, headers: answer }));
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

function send(url: string, method: string, headers: Record<string, string>, body: Uint8Array | undefined, signal: AbortSignal): Promise<Response> {
  if (IN_NODE) return nodeRequest(url, method, headers, body, signal);
  return fetch(url, { method, headers, body: body as Uint8Array<ArrayBuffer> | undefined, signal });
}

function credentialTransport(target: Target, credentials: S3Credentials): Transport {
  return {
    async send(request, body, signal) {
      const signed = await sign(target, credentials, request);
      return send(signed.url, signed.method, signed.headers, body, signal);
    },
  };
}

function presignTransport(presign: S3PresignFunction | string | URL): Transport {
  const ask: S3PresignFunction = typeof presign === "function"
    ? presign
    : async (request) => {
      const response = await fetch(presign, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
      if (!response.ok) throw new Error(`presign route ${String(presign)} answered HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
      return response.json() as Promise<S3PresignedRequest>;
    };
  // A presigned URL stays valid for its expiry: retries of the same request reuse it.
  const cache = new WeakMap<S3PresignRequest, Promise<S3PresignedRequest>>();
  return {
    async send(request, body, signal) {
      let signed = cache.get(request);
      if (!signed) {
        signed = Promise.resolve().then(() => ask(request)).then((answer) => {
          if (typeof answer === "string") return { method: describeRequest({ region: "us-east-1", bucket: "b", key: "k" }, request).method, url: answer, headers: {} };
          if (typeof answer !== "object" || answer === null || typeof answer.url !== "string") {
            throw new TypeError(`the presign function must answer a URL or { method, url, headers }, got ${describeValue(answer)}`);
          }
          return answer;
        });
        cache.set(request, signed);
      }
      let answer: S3PresignedRequest;
      try {
        answer = await signed;
      } catch (error) {
        throw new PresignError(error);
      }
      return send(answer.url, answer.method, answer.headers, body, signal);
    },
  };
}

/** Presigning failed: not a network error of S3's, so never retried. */
class PresignError extends Error {
  constructor(cause: unknown) {
    super(`presigning failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * A `WritableStream` that uploads the bytes written to it as one S3 object, with
 * `sink.uploaded` resolving once the object is complete: `captureArchive` accepts it, and
 * any byte pipe can end in it. Works wherever `fetch` and WebCrypto exist (Node, Deno,
 * Bun, browsers, Workers): each part is a finished buffer, so no streaming request body is
 * needed, and Firefox and Safari upload like the rest.
 *
 * The bytes go up as a multipart upload while they are still being produced: parts of
 * `partSize` bytes, at most `concurrency` in flight. `write()` waits while all are busy, so
 * memory stays within about `(concurrency + 1) × partSize` however fast the producer is. An
 * object of at most one part is sent as one PutObject at close. Every part carries the
 * SHA-256 of its bytes in the signed `x-amz-content-sha256`, which the server checks.
 * Requests that fail with a network error, a 5xx or a 429 are retried (`retries` times,
 * exponential backoff with full jitter, from 100 ms up to 5 s); any other 4xx fails at once.
 * With `requestTimeout`, an attempt without its whole answer in that time is retried too.
 *
 * Two ways to authorise: `credentials` (servers), or `presign` (browsers): a function, or the
 * URL of a route of the application's server, that answers a presigned request for each
 * operation ({@linkcode S3PresignRequest}); {@linkcode s3Presigner} makes them from credentials
 * on the server. The bucket then needs a CORS rule that allows the page's origin to PUT,
 * POST, DELETE, GET and HEAD, and exposes the `ETag` header.
 *
 * **Cancellation behavior:** aborting the stream (`writer.abort()`, or a pipe whose source
 * errored) or the `signal` stops the upload: requests in flight are cancelled, the multipart
 * upload is aborted, and the sink lists its parts to confirm that nothing is left. `abort()`
 * and `uploaded` settle only after that; `uploaded` rejects with the reason. If the cleanup
 * itself fails, `abort()` and `uploaded` reject with an error that says so (its `cause` is
 * the reason): an upload that may hold parts is never left silently.
 *
 * **Error behavior:** a request that keeps failing, or fails with a 4xx, cleans up as above and
 * then errors the stream with an {@linkcode S3Error} that names the operation, the part, the
 * HTTP status and S3's error code and message (e.g. `AccessDenied`, `NoSuchBucket`); a pipe
 * into the sink then cancels its source. CompleteMultipartUpload's answer is read in full: a
 * 200 with an error document inside counts as a failure. A chunk that is not a `Uint8Array`
 * errors the stream with a `TypeError`. Either way the object does not exist: it is complete
 * or absent. In a browser, an error answer that carries no CORS headers (S3 sends none for a
 * missing bucket; Ceph's gateway none for a refused signature) is hidden from the page and
 * looks like a network error: it is retried, then reported as a network error that says so.
 *
 * @example Upload a gzipped archive with credentials (a server)
 * ```ts ignore
 * import { captureArchive } from "sluice/archive";
 * import { jsonStream } from "sluice/json";
 * import { s3Sink } from "sluice/s3";
 *
 * const sink = s3Sink({
 *   endpoint: "http://127.0.0.1:7480", region: "us-east-1", bucket: "archives", key: "auction.json.gz",
 *   credentials: { accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! },
 *   contentType: "application/json", contentEncoding: "gzip",
 * });
 * const { stream, archived } = captureArchive(jsonStream({ orders: [1, 2, 3] }), sink);
 * await new Response(stream).text(); // whatever consumes the JSON (an upload to a solver...)
 * await archived; // the object is complete in the bucket
 * const { etag, parts, bytes } = await sink.uploaded;
 * ```
 *
 * @example Upload from a browser with URLs its server presigns
 * ```ts ignore
 * import { s3Sink } from "sluice/s3";
 *
 * // POST /api/s3/presign is served by s3Presigner(...).handle on the application's server.
 * const input = document.querySelector<HTMLInputElement>("input[type=file]")!;
 * const sink = s3Sink({ presign: "/api/s3/presign", key: "uploads/report.json" });
 * await input.files![0]!.stream().pipeTo(sink);
 * const { etag } = await sink.uploaded;
 * ```
 *
 * @throws {TypeError} for a missing or mistyped option (both or neither of `credentials` and
 * `presign`, a bad `endpoint`, `bucket`, `key`, `metadata`...), or a runtime without WebCrypto.
 * @throws {RangeError} when `partSize` is not an integer from 5 MiB to 5 GiB, `concurrency` not
 * an integer of at least 1, `retries` not an integer of at least 0, or `requestTimeout` not an
 * integer from 0 to 2,147,483,647.
 */
export function s3Sink(options: S3SinkOptions): S3Sink {
  const name = "Cannot create s3Sink";
  if (typeof options !== "object" || options === null) throw new TypeError(`${name}: options must be an object, got ${describeValue(options)}`);
  if ((options.credentials === undefined) === (options.presign === undefined)) {
    throw new TypeError(`${name}: give exactly one of credentials (to sign here) and presign (to have each request presigned by your server)`);
  }
  const partSize = checkInteger(name, "partSize", options.partSize ?? 8 * MiB, MIN_PART, MAX_PART, " bytes (5 MiB to 5 GiB, as S3 requires)");
  const concurrency = checkInteger(name, "concurrency", options.concurrency ?? 4, 1);
  const retries = checkInteger(name, "retries", options.retries ?? 3, 0);
  const requestTimeout = checkInteger(name, "requestTimeout", options.requestTimeout ?? 0, 0, 2 ** 31 - 1, " milliseconds");
  const region = checkString(name, "region", options.region ?? "us-east-1");
  const contentType = options.contentType === undefined ? undefined : checkString(name, "contentType", options.contentType);
  const contentEncoding = options.contentEncoding === undefined ? undefined : checkString(name, "contentEncoding", options.contentEncoding);
  const metadata = checkMetadata(name, options.metadata);
  const signal = options.signal;
  if (signal !== undefined && (typeof signal !== "object" || signal === null || typeof signal.addEventListener !== "function")) {
    throw new TypeError(`${name}: signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  let transport: Transport;
  let bucket: string;
  let key: string | undefined;
  if (options.credentials !== undefined) {
    const credentials = checkCredentials(name, options.credentials);
    bucket = checkString(name, "bucket", options.bucket);
    key = checkKey(name, options.key);
    transport = credentialTransport({ endpoint: checkEndpoint(name, options.endpoint), region, bucket, key }, credentials);
  } else {
    const presign = options.presign;
    if (typeof presign !== "function" && typeof presign !== "string" && !(presign instanceof URL)) {
      throw new TypeError(`${name}: presign must be a function or the URL of a presign route, got ${describeValue(presign)}`);
    }
    if (options.endpoint !== undefined) throw new TypeError(`${name}: endpoint is not used with presign (the presigned URLs name it)`);
    bucket = options.bucket === undefined ? "" : checkString(name, "bucket", options.bucket);
    key = options.key === undefined ? undefined : checkKey(name, options.key);
    transport = presignTransport(presign);
  }
  checkCrypto(name);

  const started = performance.now();
  const where = `s3://${bucket || "(presigned)"}/${key ?? ""}`;
  const stop = new AbortController(); // cancels every request in flight once the upload is given up
  let resolveUploaded!: (r: S3UploadResult) => void;
  let rejectUploaded!: (e: unknown) => void;
  const uploaded = new Promise<S3UploadResult>((res, rej) => {
    resolveUploaded = res;
    rejectUploaded = rej;
  });
  uploaded.catch(() => {});

  let controller!: WritableStreamDefaultController;
  let uploadId: string | undefined;
  let creating: Promise<string> | undefined;
  let current: Uint8Array | undefined; // the part being filled
  let filled = 0;
  let full: Uint8Array | undefined; // a filled part, sent once more bytes arrive (or at close)
  let nextPart = 1; // the number of the part `current` will be
  let bytes = 0;
  const etags: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const spare: Uint8Array[] = []; // buffers of finished parts, reused for later parts of the same size
  let failure: { reason: unknown } | undefined;
  let cleanup: Promise<void> | undefined;
  let failed!: () => void;
  const failedSignal = new Promise<void>((resolve) => (failed = resolve));
  /** Why the upload was given up (a function: TypeScript would narrow `failure` across awaits). */
  const failedWith = (): unknown => failure?.reason;
  const isFailed = (): boolean => failure !== undefined;

  const objectFields = (): Partial<S3PresignRequest> => ({
    ...(contentType === undefined ? {} : { contentType }),
    ...(contentEncoding === undefined ? {} : { contentEncoding }),
    ...(metadata === undefined ? {} : { metadata }),
  });
  const op = (operation: S3Operation, extra: Partial<S3PresignRequest> = {}): S3PresignRequest => ({
    operation,
    ...(key === undefined ? {} : { key }),
    ...(uploadId === undefined || operation === "PutObject" || operation === "CreateMultipartUpload" || operation === "HeadObject" ? {} : { uploadId }),
    ...extra,
  });

  const describeOp = (r: S3PresignRequest) => `${r.operation}${r.partNumber === undefined ? "" : ` (part ${r.partNumber})`} of ${where}`;

  /** Sends a request with retries; resolves with a 2xx response, else throws an S3Error. */
  async function request(r: S3PresignRequest, body?: Uint8Array, abortable = true): Promise<Response> {
    const requestSignal = abortable ? stop.signal : new AbortController().signal;
    let last: { status?: number; code?: string; message?: string; requestId?: string; cause?: unknown } = {};
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) await sleep(Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt), requestSignal);
      let response: Response | undefined;
      try {
        response = await sendOnce(r, body, requestSignal);
      } catch (error) {
        if (requestSignal.aborted) throw abortError(requestSignal);
        if (error instanceof PresignError) {
          throw new S3Error(`S3 ${describeOp(r)} failed: ${error.message}`, { operation: r.operation, partNumber: r.partNumber, attempts: attempt + 1 }, { cause: error.cause });
        }
        last = { cause: error };
      }
      if (response) {
        if (response.ok) return response;
        const text = r.operation === "HeadObject" ? "" : await response.text().catch(() => "");
        last = { status: response.status, code: xmlText(text, "Code"), message: xmlText(text, "Message"), requestId: xmlText(text, "RequestId") ?? response.headers.get("x-amz-request-id") ?? undefined };
        if (response.status < 500 && response.status !== 429) return fail(r, last, attempt + 1);
      }
      if (attempt >= retries) return fail(r, last, attempt + 1);
    }
  }

  /** One attempt, abandoned with a TimeoutError after `requestTimeout` ms without the whole answer. */
  async function sendOnce(r: S3PresignRequest, body: Uint8Array | undefined, requestSignal: AbortSignal): Promise<Response> {
    if (requestTimeout === 0) return transport.send(r, body, requestSignal);
    const attempt = new AbortController();
    const onStop = () => attempt.abort(requestSignal.reason);
    requestSignal.addEventListener("abort", onStop, { once: true });
    const timer = setTimeout(() => {
      attempt.abort(new DOMException(`no answer within requestTimeout (${requestTimeout} ms)`, "TimeoutError"));
    }, requestTimeout);
    try {
      const response = await transport.send(r, body, attempt.signal);
      // The answer's body is short (an XML document at most): read it within the time too.
      const answer = response.body === null ? null : new Uint8Array(await response.arrayBuffer());
      return new Response(answer === null || answer.length === 0 ? null : answer, { status: response.status, statusText: response.statusText, headers: response.headers });
    } catch (error) {
      throw attempt.signal.aborted && !requestSignal.aborted ? attempt.signal.reason : error;
    } finally {
      clearTimeout(timer);
      requestSignal.removeEventListener("abort", onStop);
    }
  }

  function fail(r: S3PresignRequest, last: { status?: number; code?: string; message?: string; requestId?: string; cause?: unknown }, attempts: number): never {
    const why = last.status === undefined
      ? `network error (${last.cause instanceof Error ? `${last.cause.message}${last.cause.cause ? `: ${String((last.cause.cause as Error).message ?? last.cause.cause)}` : ""}` : String(last.cause)})${IN_BROWSER ? CORS_HINT : ""}`
      : `HTTP ${last.status}${last.code ? ` ${last.code}` : ""}${last.message ? `: ${last.message}` : ""}`;
    throw new S3Error(
      `S3 ${describeOp(r)} failed${attempts > 1 ? ` after ${attempts} attempts` : ""}: ${why}`,
      { operation: r.operation, partNumber: r.partNumber, status: last.status, code: last.code, s3Message: last.message, requestId: last.requestId, attempts },
      last.cause === undefined ? undefined : { cause: last.cause },
    );
  }

  async function createUpload(): Promise<string> {
    const response = await request(op("CreateMultipartUpload", objectFields()));
    const id = xmlText(await response.text(), "UploadId");
    if (!id) throw new S3Error(`S3 CreateMultipartUpload of ${where} answered without an UploadId`, { operation: "CreateMultipartUpload", status: response.status, attempts: 1 });
    uploadId = id;
    return id;
  }

  async function uploadPart(partNumber: number, part: Uint8Array): Promise<void> {
    const sha256 = await sha256Hex(part);
    const response = await request(op("UploadPart", { partNumber, sha256 }), part);
    const etag = response.headers.get("etag");
    await response.arrayBuffer().catch(() => {}); // an empty body: read, so the connection is free again
    if (!etag) {
      throw new S3Error(`S3 UploadPart (part ${partNumber}) of ${where} answered without an ETag header (from a browser, the bucket's CORS rule must expose ETag)`, { operation: "UploadPart", partNumber, status: response.status, attempts: 1 });
    }
    etags[partNumber - 1] = etag;
    if (part.length === s3PartSize(partSize, nextPart)) spare.push(part);
  }

  /** Sends a filled part once a slot is free (creating the upload first if needed). */
  async function dispatch(part: Uint8Array, partNumber: number): Promise<void> {
    while (inFlight.size >= concurrency && !isFailed()) await Promise.race([...inFlight, failedSignal]);
    if (isFailed()) throw failedWith();
    if (uploadId === undefined) {
      creating ??= createUpload();
      try {
        await creating;
      } catch (error) {
        await giveUp(error);
        throw failedWith();
      }
    }
    const task: Promise<void> = uploadPart(partNumber, part).then(
      () => void inFlight.delete(task),
      (error) => {
        inFlight.delete(task);
        void giveUp(error);
      },
    );
    inFlight.add(task);
  }

  /** Stops everything, aborts the multipart upload and checks that nothing is left. Idempotent. */
  function giveUp(reason: unknown): Promise<void> {
    if (cleanup) return cleanup;
    failure = { reason };
    stop.abort(reason);
    signal?.removeEventListener("abort", onSignal);
    current = full = undefined;
    spare.length = 0;
    cleanup = (async () => {
      await Promise.allSettled([...inFlight]);
      await creating?.catch(() => {});
      if (uploadId !== undefined) {
        try {
          await abortUpload(uploadId);
        } catch (error) {
          const cleanupError = new Error(
            `${where}: the upload failed (${reason instanceof Error ? reason.message : String(reason)}) and its cleanup failed too: ${error instanceof Error ? error.message : String(error)}; multipart upload ${uploadId} may still hold parts (abort it, or let a bucket lifecycle rule expire it)`,
            { cause: reason },
          );
          (cleanupError as Error & { cleanupError?: unknown }).cleanupError = error;
          failure = { reason: cleanupError };
        }
      }
      rejectUploaded(failure!.reason);
      failed();
      // After the cleanup, so that whoever sees the stream error knows nothing is left.
      controller.error(failure!.reason);
    })();
    return cleanup;
  }

  /** AbortMultipartUpload, then ListParts until S3 says the upload is gone (S3 may keep parts that were in flight). */
  async function abortUpload(id: string): Promise<void> {
    for (let round = 0; round < 3; round++) {
      try {
        await request(op("AbortMultipartUpload", { uploadId: id }), undefined, false);
      } catch (error) {
        if (!(error instanceof S3Error && error.status === 404)) throw error;
      }
      try {
        const list = await request(op("ListParts", { uploadId: id }), undefined, false);
        const text = await list.text();
        if (!text.includes("<Part>")) return;
      } catch (error) {
        if (error instanceof S3Error && error.status === 404) return; // NoSuchUpload: nothing left
        throw error;
      }
    }
    throw new Error(`parts of multipart upload ${id} were still listed after three AbortMultipartUpload requests`);
  }

  function onSignal(): void {
    void giveUp(abortError(signal!));
  }

  function take(size: number): Uint8Array {
    const i = spare.findIndex((b) => b.length === size);
    return i === -1 ? new Uint8Array(size) : spare.splice(i, 1)[0]!;
  }

  async function complete(): Promise<S3UploadResult> {
    const parts = etags.length;
    const xml = `<CompleteMultipartUpload>${etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
    const body = new TextEncoder().encode(xml);
    const r = op("CompleteMultipartUpload", { sha256: await sha256Hex(body) });
    let etag: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const response = await request(r, body);
      const text = await response.text();
      // S3 may answer 200 and then an error document (the body is sent while it assembles).
      if (/<Error>/.test(text)) {
        const code = xmlText(text, "Code");
        const s3Message = xmlText(text, "Message");
        if ((code === "InternalError" || code === "SlowDown") && attempt < retries) {
          await sleep(Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt + 1)), stop.signal);
          continue;
        }
        throw new S3Error(`S3 CompleteMultipartUpload of ${where} failed: HTTP ${response.status} with an error inside: ${code ?? "?"}${s3Message ? `: ${s3Message}` : ""}`, { operation: "CompleteMultipartUpload", status: response.status, code, s3Message, requestId: xmlText(text, "RequestId"), attempts: attempt + 1 });
      }
      if (!/<CompleteMultipartUploadResult[\s>]/.test(text)) {
        throw new S3Error(`S3 CompleteMultipartUpload of ${where} answered HTTP ${response.status} without a CompleteMultipartUploadResult`, { operation: "CompleteMultipartUpload", status: response.status, attempts: attempt + 1 });
      }
      etag = xmlText(text, "ETag");
      break;
    }
    return { bucket, key: key ?? "", etag: etag || (await headEtag()), bytes, parts, durationMs: performance.now() - started };
  }

  /** Some servers (Ceph's RADOS Gateway 16) complete with an empty ETag: the object's HEAD has it. */
  async function headEtag(): Promise<string> {
    const response = await request(op("HeadObject"));
    return response.headers.get("etag") ?? "";
  }

  const sink = new WritableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (signal?.aborted) {
        failure = { reason: abortError(signal) };
        rejectUploaded(failure.reason);
        throw failure.reason;
      }
      signal?.addEventListener("abort", onSignal, { once: true });
    },
    async write(chunk) {
      if (isFailed()) throw failedWith();
      if (!(chunk instanceof Uint8Array)) {
        const error = new TypeError(`s3Sink expects Uint8Array chunks, got ${describeValue(chunk)}`);
        await giveUp(error);
        throw failedWith();
      }
      let offset = 0;
      while (offset < chunk.length) {
        if (full) {
          const part = full;
          full = undefined;
          await dispatch(part, nextPart - 1);
          if (isFailed()) throw failedWith();
        }
        current ??= take(s3PartSize(partSize, nextPart));
        if (filled === 0 && nextPart > MAX_PARTS) {
          const error = new RangeError(`s3Sink: ${where} would need more than ${MAX_PARTS} parts (S3's limit)`);
          await giveUp(error);
          throw failedWith();
        }
        const n = Math.min(chunk.length - offset, current.length - filled);
        current.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        bytes += n;
        if (filled === current.length) {
          full = current;
          current = undefined;
          filled = 0;
          nextPart++;
        }
      }
    },
    async close() {
      try {
        if (isFailed()) throw failedWith();
        let result: S3UploadResult;
        if (uploadId === undefined && creating === undefined) {
          // At most one part: one PutObject.
          const body = full ?? current?.subarray(0, filled) ?? new Uint8Array(0);
          const response = await request(op("PutObject", { sha256: await sha256Hex(body), ...objectFields() }), body);
          await response.arrayBuffer().catch(() => {}); // an empty body: read, so the connection is free again
          const etag = response.headers.get("etag") || (await headEtag());
          result = { bucket, key: key ?? "", etag, bytes, parts: 1, durationMs: performance.now() - started };
        } else {
          if (full) await dispatch(full, nextPart - 1);
          if (current && filled > 0) await dispatch(current.subarray(0, filled), nextPart);
          current = full = undefined;
          while (inFlight.size > 0 && !isFailed()) await Promise.race([...inFlight, failedSignal]);
          if (isFailed()) throw failedWith();
          result = await complete();
        }
        signal?.removeEventListener("abort", onSignal);
        resolveUploaded(result);
      } catch (error) {
        await giveUp(error);
        throw failedWith();
      }
    },
    async abort(reason) {
      await giveUp(reason);
      if (failedWith() !== reason) throw failedWith();
    },
  }, { highWaterMark: 64 * 1024, size: (chunk) => (chunk instanceof Uint8Array ? chunk.byteLength : 1) });
  Object.defineProperty(sink, "uploaded", { value: uploaded, enumerable: true });
  return sink as S3Sink;
}

// ---------------------------------------------------------------------------------------------
// The server's half of presigned uploads.

/** Options of {@linkcode s3Presigner}. */
export interface S3PresignerOptions {
  /** As for {@linkcode s3Sink}: path-style when given, else AWS's endpoint of `region`. */
  endpoint?: string | URL;
  /**
   * The bucket's region, signed into every URL.
   * @default "us-east-1"
   */
  region?: string;
  /** The bucket to presign for. */
  bucket: string;
  /** The credentials that sign; they stay on the server. */
  credentials: S3Credentials;
  /** Seconds each presigned URL stays valid (1 to 604,800). @default 900 */
  expiresIn?: number;
  /**
   * Decides which requests to sign, e.g. only keys under the signed-in user's prefix; answer
   * false to refuse (the handler then answers 403). `httpRequest` is the request `handle`
   * received. Without it every key of the bucket can be written: set it in any real application.
   */
  authorize?: (request: S3PresignRequest, httpRequest?: Request) => boolean | Promise<boolean>;
  /** The key to use when a request names none. */
  defaultKey?: string;
}

/** What {@linkcode s3Presigner} returns. */
export interface S3Presigner {
  /** Presigns one request of a sink; pass it as `presign` to an `s3Sink` running in the same process. */
  presign(request: S3PresignRequest, httpRequest?: Request): Promise<S3PresignedRequest>;
  /**
   * A fetch-style handler for a route (`POST` with an {@linkcode S3PresignRequest} as JSON, answered
   * with an {@linkcode S3PresignedRequest} as JSON; 400 for a malformed request, 403 when `authorize`
   * refuses, 405 for another method), for Deno.serve, Bun.serve, Workers, or Node through an adapter.
   */
  handle(httpRequest: Request): Promise<Response>;
}

/** A request that the presigner refuses to sign, with the HTTP status it answers. */
class PresignRefused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function checkPresignRequest(value: unknown, defaultKey: string | undefined): S3PresignRequest {
  const bad = (why: string) => new PresignRefused(400, `invalid presign request: ${why}`);
  if (typeof value !== "object" || value === null) throw bad(`expected an object, got ${describeValue(value)}`);
  const r = value as Record<string, unknown>;
  if (!OPERATIONS.includes(r.operation as S3Operation)) throw bad(`operation must be one of ${OPERATIONS.join(", ")}, got ${describeValue(r.operation)}`);
  const operation = r.operation as S3Operation;
  const key = r.key ?? defaultKey;
  if (typeof key !== "string" || key === "" || new TextEncoder().encode(key).length > 1024) throw bad(`key must be a non-empty string of at most 1024 bytes, got ${describeValue(key)}`);
  const out: S3PresignRequest = { operation, key };
  const multipart = operation !== "PutObject" && operation !== "CreateMultipartUpload" && operation !== "HeadObject";
  if (multipart) {
    if (typeof r.uploadId !== "string" || r.uploadId === "") throw bad(`${operation} needs an uploadId, got ${describeValue(r.uploadId)}`);
    out.uploadId = r.uploadId;
  }
  if (operation === "UploadPart") {
    if (typeof r.partNumber !== "number" || !Number.isInteger(r.partNumber) || r.partNumber < 1 || r.partNumber > MAX_PARTS) {
      throw bad(`partNumber must be an integer from 1 to ${MAX_PARTS}, got ${describeValue(r.partNumber)}`);
    }
    out.partNumber = r.partNumber;
  }
  if (operation === "PutObject" || operation === "UploadPart" || operation === "CompleteMultipartUpload") {
    // Required: signing the body's hash is what makes the server check the bytes.
    if (typeof r.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.sha256)) throw bad(`${operation} needs sha256, the lowercase hex SHA-256 of the body, got ${describeValue(r.sha256)}`);
    out.sha256 = r.sha256;
  }
  if (operation === "PutObject" || operation === "CreateMultipartUpload") {
    for (const field of ["contentType", "contentEncoding"] as const) {
      if (r[field] === undefined) continue;
      if (typeof r[field] !== "string" || /[\r\n]/.test(r[field] as string)) throw bad(`${field} must be a one-line string`);
      out[field] = r[field] as string;
    }
    try {
      const metadata = checkMetadata("invalid presign request", r.metadata);
      if (metadata) out.metadata = metadata;
    } catch (error) {
      throw new PresignRefused(400, (error as Error).message);
    }
  }
  return out;
}

/**
 * The server's half of presigned uploads: signs, with credentials that stay on the server,
 * the requests of an {@linkcode s3Sink} that runs elsewhere (typically in a browser) with the
 * `presign` option. Each URL is valid for `expiresIn` seconds and for one request only: its
 * method, its object, its upload and part, and, for requests with a body, the SHA-256 of that
 * body, so whoever holds it can upload those bytes and nothing else.
 *
 * **Error behavior:** a malformed request (unknown operation, missing `uploadId`,
 * `partNumber` or `sha256`) makes `presign` throw and `handle` answer 400 with the reason;
 * a request that `authorize` refuses, 403. Nothing is sent to S3 by the presigner itself.
 *
 * @example A presign route in a fetch-style server (Deno.serve, Bun.serve, a Worker)
 * ```ts ignore
 * import { s3Presigner } from "sluice/s3";
 *
 * const presigner = s3Presigner({
 *   endpoint: "http://127.0.0.1:7480", region: "us-east-1", bucket: "archives",
 *   credentials: { accessKeyId: process.env.S3_ACCESS_KEY_ID!, secretAccessKey: process.env.S3_SECRET_ACCESS_KEY! },
 *   authorize: (request) => request.key!.startsWith("uploads/"),
 * });
 * // The server's request handler; the page then uses s3Sink({ presign: "/api/s3/presign", key: "uploads/..." }).
 * const handler = (req: Request): Promise<Response> | Response =>
 *   new URL(req.url).pathname === "/api/s3/presign" ? presigner.handle(req) : new Response(null, { status: 404 });
 * ```
 *
 * @throws {TypeError} for a missing or mistyped option, or a runtime without WebCrypto.
 * @throws {RangeError} when `expiresIn` is not an integer from 1 to 604800.
 */
export function s3Presigner(options: S3PresignerOptions): S3Presigner {
  const name = "Cannot create s3Presigner";
  if (typeof options !== "object" || options === null) throw new TypeError(`${name}: options must be an object, got ${describeValue(options)}`);
  const credentials = checkCredentials(name, options.credentials);
  const bucket = checkString(name, "bucket", options.bucket);
  const region = checkString(name, "region", options.region ?? "us-east-1");
  const endpoint = checkEndpoint(name, options.endpoint);
  const expiresIn = checkInteger(name, "expiresIn", options.expiresIn ?? 900, 1, 604_800, " seconds");
  const authorize = options.authorize;
  if (authorize !== undefined && typeof authorize !== "function") throw new TypeError(`${name}: authorize must be a function, got ${describeValue(authorize)}`);
  const defaultKey = options.defaultKey === undefined ? undefined : checkKey(name, options.defaultKey);
  checkCrypto(name);

  async function presign(value: S3PresignRequest, httpRequest?: Request): Promise<S3PresignedRequest> {
    const request = checkPresignRequest(value, defaultKey);
    if (authorize && !(await authorize(request, httpRequest))) {
      throw new PresignRefused(403, `not authorised to presign ${request.operation} of ${request.key}`);
    }
    return sign({ endpoint, region, bucket, key: request.key! }, credentials, request, { expiresIn });
  }

  async function handle(httpRequest: Request): Promise<Response> {
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
    if (httpRequest.method !== "POST") return json(405, { error: "use POST with a presign request as JSON" });
    let body: unknown;
    try {
      body = await httpRequest.json();
    } catch {
      return json(400, { error: "invalid presign request: the body is not JSON" });
    }
    try {
      return json(200, await presign(body as S3PresignRequest, httpRequest));
    } catch (error) {
      if (error instanceof PresignRefused) return json(error.status, { error: error.message });
      throw error;
    }
  }

  return { presign: (request, httpRequest) => presign(request, httpRequest), handle };
}
