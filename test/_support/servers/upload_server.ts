// The request handler behind every local test server: uploads that record what
// arrived and when, a query for what the server saw, and a paced download.
// It speaks Node's HTTP/1.1 and HTTP/2 compatibility API alike, and answers
// CORS (with preflight) since the browser test page is on another origin.
//
//   POST|PUT /upload?id=<id>&hold=<ms>
//                              reads the body as it arrives; answers
//                              { id, bytes, chunks, sha256, httpVersion }
//                              (HTTP/2: hold ms after END_STREAM)
//   GET /uploads/<id>          what the server saw of that upload (UploadRecord,
//                              or { id, state: "none" }); long-polls with
//                              ?bytes=N (until N bytes arrived or it settled),
//                              ?settled=1 (until complete or aborted),
//                              ?timeout=ms (default 5000, then answers as is)
//   GET /download?bytes=N&chunk=K&delayMs=D
//                              N bytes 0,1,2,...255,0,... in chunks of K, D ms apart
//   GET /health                "ok"
//   GET /sse?script=...        SseEncoderStream output: see ./sse_route.ts
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { streamEvents } from "./sse_route.ts";

/** What a server saw of one upload. */
export interface UploadRecord {
  id: string;
  /** "receiving" until the body ended ("complete") or the request broke off ("aborted"). */
  state: "receiving" | "complete" | "aborted";
  bytes: number;
  chunks: number;
  /** Hex SHA-256 of the whole body, once complete. */
  sha256?: string;
  /** The first 64 bytes of the body as Latin-1 text (shows "[object ReadableStream]" at a glance). */
  head: string;
  httpVersion: string;
  /** Whether the body's end arrived (HTTP/1.1: last chunk or full length; HTTP/2: END_STREAM). */
  endStream: boolean;
  /** The HTTP/2 RST_STREAM code the stream closed with, if it was reset (8 = CANCEL). */
  rstCode?: number;
  /** Milliseconds since the request arrived at which each chunk arrived (the first 1000). */
  arrivals: number[];
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

const MAX_RECORDS = 2000;

export function createUploadHandler() {
  const uploads = new Map<string, UploadRecord>();
  const waiters = new Set<() => void>();
  let counter = 0;

  function changed() {
    for (const waiter of [...waiters]) waiter();
  }

  function send(res: Response, status: number, body: unknown, type = "application/json") {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    (res as ServerResponse).writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(text);
  }

  function upload(req: Request, res: Response, url: URL) {
    const id = url.searchParams.get("id") ?? `upload-${++counter}`;
    // `?redirect=1` answers 307 to the same path without the parameter (the body must be sent again).
    if (url.searchParams.has("redirect")) {
      req.resume();
      url.searchParams.delete("redirect");
      (res as ServerResponse).writeHead(307, { location: `${url.pathname}${url.search}` });
      res.end();
      return;
    }
    // `?resetAt=N` resets the connection (HTTP/2: the stream) once N bytes have arrived, without answering.
    const resetAt = Number(url.searchParams.get("resetAt") ?? "NaN");
    const started = performance.now();
    const record: UploadRecord = {
      id, state: "receiving", bytes: 0, chunks: 0, head: "", httpVersion: req.httpVersion, endStream: false, arrivals: [],
    };
    uploads.set(id, record);
    if (uploads.size > MAX_RECORDS) uploads.delete(uploads.keys().next().value!);
    const hash = createHash("sha256");
    let headBytes = Buffer.alloc(0);
    const settle = (state: "complete" | "aborted") => {
      if (record.state !== "receiving") return;
      record.state = state;
      if (state === "complete") record.sha256 = hash.digest("hex");
      changed();
    };
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      if (headBytes.length < 64) {
        headBytes = Buffer.concat([headBytes, chunk.subarray(0, 64 - headBytes.length)]);
        record.head = headBytes.toString("latin1");
      }
      record.bytes += chunk.length;
      record.chunks++;
      if (record.bytes >= resetAt) {
        const h2stream = (req as Http2ServerRequest).stream as Http2ServerRequest["stream"] | undefined;
        if (h2stream) h2stream.close(2); // INTERNAL_ERROR
        else req.socket.destroy();
      }
      if (record.arrivals.length < 1000) record.arrivals.push(Math.round(performance.now() - started));
      changed();
    });
    // HTTP/1.1: the body is complete when it ends (the terminating chunk or
    // Content-Length arrived) and aborted when the connection drops first.
    // HTTP/2: END_STREAM alone is not enough — Chromium half-closes a streamed
    // upload it is aborting and resets it (RST_STREAM CANCEL) right after —
    // so an HTTP/2 upload settles when its stream closes: complete only if it
    // closed without a reset. `?hold=ms` delays the answer (HTTP/2 only) so a
    // reset that follows END_STREAM is sure to arrive while the stream is open.
    const h2 = (req as Http2ServerRequest).stream as Http2ServerRequest["stream"] | undefined;
    const hold = Math.min(Number(url.searchParams.get("hold") ?? 0) || 0, 10_000);
    req.on("end", () => {
      // Node also ends the body of a stream that was reset; that is no END_STREAM.
      if (h2 && h2.closed) return;
      record.endStream = true;
      const digest = hash.copy().digest("hex");
      if (!h2) settle("complete");
      const answer = () =>
        send(res, 200, { id, bytes: record.bytes, chunks: record.chunks, sha256: digest, httpVersion: record.httpVersion });
      if (h2 && hold > 0) setTimeout(() => h2.closed || answer(), hold);
      else answer();
    });
    req.on("error", () => h2 || settle("aborted"));
    if (!h2) req.on("aborted", () => settle("aborted"));
    req.on("close", () => {
      if (h2) {
        if (h2.rstCode !== 0) record.rstCode = h2.rstCode;
        settle(record.endStream && h2.rstCode === 0 ? "complete" : "aborted");
      } else if (!req.readableEnded) settle("aborted");
    });
  }

  function query(res: Response, id: string, url: URL) {
    const wantBytes = Number(url.searchParams.get("bytes") ?? "NaN");
    const wantSettled = url.searchParams.has("settled");
    const timeout = Math.min(Number(url.searchParams.get("timeout") ?? 5000), 25_000);
    const ready = () => {
      const r = uploads.get(id);
      if (!r) return !Number.isFinite(wantBytes) && !wantSettled;
      if (r.state !== "receiving") return true;
      if (Number.isFinite(wantBytes) && r.bytes >= wantBytes) return true;
      return !Number.isFinite(wantBytes) && !wantSettled;
    };
    const answer = () => {
      waiters.delete(check);
      clearTimeout(timer);
      send(res, 200, uploads.get(id) ?? { id, state: "none" });
    };
    const check = () => {
      if (ready()) answer();
    };
    const timer = setTimeout(answer, timeout);
    waiters.add(check);
    res.on("close", () => {
      waiters.delete(check);
      clearTimeout(timer);
    });
    check();
  }

  function download(res: Response, url: URL) {
    const total = Math.max(0, Number(url.searchParams.get("bytes") ?? 1024));
    const size = Math.max(1, Number(url.searchParams.get("chunk") ?? 16384));
    const delayMs = Math.max(0, Number(url.searchParams.get("delayMs") ?? 0));
    (res as ServerResponse).writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
    let sent = 0;
    const next = () => {
      if (res.destroyed) return;
      if (sent >= total) return void (res as ServerResponse).end();
      const n = Math.min(size, total - sent);
      const chunk = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) chunk[i] = (sent + i) & 255;
      sent += n;
      (res as ServerResponse).write(chunk);
      if (delayMs > 0) setTimeout(next, delayMs);
      else setImmediate(next);
    };
    next();
  }

  function handle(req: Request, res: Response) {
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-expose-headers", "*");
    if (req.method === "OPTIONS") {
      res.setHeader("access-control-allow-methods", "GET, POST, PUT, OPTIONS");
      res.setHeader("access-control-allow-headers", String(req.headers["access-control-request-headers"] ?? "*"));
      res.setHeader("access-control-allow-private-network", "true");
      res.setHeader("access-control-max-age", "600");
      (res as ServerResponse).writeHead(204);
      res.end();
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    if ((req.method === "POST" || req.method === "PUT") && path === "/upload") return upload(req, res, url);
    if (req.method === "GET" && path.startsWith("/uploads/")) return query(res, decodeURIComponent(path.slice(9)), url);
    if (req.method === "GET" && path === "/download") return download(res, url);
    if (req.method === "GET" && path === "/health") return send(res, 200, "ok", "text/plain");
    if (req.method === "GET" && path === "/sse") return streamEvents(req, res, url);
    req.resume();
    send(res, 404, { error: `no route for ${req.method} ${path}` });
  }

  return { handle, uploads };
}
