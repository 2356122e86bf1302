// The demo's endpoints, as a Vite plugin: the page and its server share one
// origin (and, over HTTPS, one HTTP/2 connection). sluice itself is loaded
// through Vite's SSR loader, so this file (which vite.config.ts imports) holds
// only Node built-ins and the endpoints' bookkeeping.
import { createHash } from "node:crypto";
import { constants as http2 } from "node:http2";
import { resolve } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Plugin, ViteDevServer } from "vite";

/** What the server has seen of one upload (`POST /api/upload`). */
export interface UploadState {
  id: number;
  /** The page's token for the run (`?run=`), so it finds its own record. */
  run: string;
  status: "receiving" | "complete" | "reset" | "aborted";
  /** Bytes received so far. */
  bytes: number;
  /** The size the client announced with `?total=`, or 0. */
  total: number;
  startedAt: number;
  updatedAt: number;
  /** Bytes per second over the last second. */
  throughput: number;
  /** Hex SHA-256 of the whole body; only once `status` is "complete". */
  sha256?: string;
  /** Why the upload ended early, for "reset" and "aborted". */
  reason?: string;
}

/** What the server has sent of one generated auction (`GET /api/auction`). */
export interface DownloadState {
  id: number;
  /** The page's token for the run (`?run=`). */
  run: string;
  status: "sending" | "complete" | "aborted";
  bytes: number;
  orders: number;
  startedAt: number;
  updatedAt: number;
  sha256?: string;
}

/** The body of `GET /api/state` and of each `state` event on `/api/events`. */
export interface ServerState {
  upload: UploadState | null;
  download: DownloadState | null;
}

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

// Types only: the modules themselves are loaded through Vite (see `load`).
type Sluice = typeof import("../lib/index.ts");
type SluiceNode = typeof import("../lib/node.ts");
type AuctionModule = typeof import("./auction.ts");
type S3Module = typeof import("./s3_server.ts");

const MAX_MB = 500;
/** How long an HTTP/2 upload's END_STREAM waits for a reset that says the body broke. */
const RESET_GRACE_MS = 150;

/** The Vite plugin that serves `/api/upload`, `/api/auction`, `/api/events`, `/api/state` and `/api/s3/*`. */
export function demoApi(): Plugin {
  return {
    name: "sluice-demo-api",
    configureServer(server) {
      const api = new DemoApi(server);
      // A bucket from the environment (or a local gateway, SLUICE_DEMO_S3=local) is set up at start, and a local gateway stopped with the server.
      if (process.env.SLUICE_S3_ENDPOINT || process.env.SLUICE_DEMO_S3) {
        void api.s3().catch((error: unknown) => server.config.logger.error(`[demo s3] ${String(error)}`));
      }
      server.httpServer?.on("close", () => void api.s3Started?.then((s3) => s3?.stop()));
      server.middlewares.use((req, res, next) => {
        const url = new URL(req.url ?? "/", "https://localhost");
        if (!url.pathname.startsWith("/api/")) return next();
        api.handle(req, res, url).catch((error: unknown) => {
          server.config.logger.error(`[demo api] ${req.method} ${url.pathname}: ${(error as Error)?.stack ?? String(error)}`);
          if (!res.headersSent) send(res, error instanceof RangeError ? 400 : 500, { error: String(error) });
          else breakOff(req, res);
        });
      });
    },
  };
}

class DemoApi {
  private upload: UploadState | null = null;
  private download: DownloadState | null = null;
  private ids = 0;
  private version = 0;
  private listeners = new Set<() => void>();

  constructor(private server: ViteDevServer) {}

  async handle(req: Request, res: Response, url: URL): Promise<void> {
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "POST /api/upload":
        return this.receive(req, res, url);
      case "GET /api/auction":
        return this.sendAuction(req, res, url);
      case "GET /api/events":
        return this.events(req, res);
      case "GET /api/state":
        return send(res, 200, this.state());
      case "GET /api/s3": {
        const s3 = await this.s3();
        return send(res, 200, s3 ? { enabled: true, bucket: s3.bucket, endpoint: s3.endpoint } : { enabled: false });
      }
      case "POST /api/s3/presign":
        return this.presign(req, res);
      case "GET /api/s3/object": {
        const s3 = await this.s3();
        const key = url.searchParams.get("key") ?? "";
        if (!s3 || !key.startsWith("sluice-demo/")) return send(res, 404, { error: "no such archive" });
        res.writeHead(302, { location: await s3.objectUrl(key), "cache-control": "no-store" });
        return void res.end();
      }
      default:
        return send(res, 404, { error: `No endpoint ${route}` });
    }
  }

  s3Started?: Promise<Awaited<ReturnType<S3Module["startDemoS3"]>>>;

  /** The S3 bucket the page may archive to, if the environment names one (see s3_server.ts). */
  s3(): NonNullable<DemoApi["s3Started"]> {
    return (this.s3Started ??= this.load<S3Module>("./s3_server.ts").then((m) => m.startDemoS3((line) => this.server.config.logger.info(line))));
  }

  /** `POST /api/s3/presign`: the page's sink asks for one presigned request (s3Presigner's handler). */
  private async presign(req: Request, res: Response): Promise<void> {
    const s3 = await this.s3();
    if (!s3) return send(res, 404, { error: "this demo server has no S3 bucket" });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const answer = await s3.presigner.handle(new globalThis.Request("https://localhost/api/s3/presign", { method: "POST", body: Buffer.concat(chunks) }));
    res.writeHead(answer.status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(await answer.text());
  }

  private state(): ServerState {
    return { upload: this.upload, download: this.download };
  }

  private changed(): void {
    this.version++;
    for (const listener of this.listeners) listener();
  }

  private load<T>(path: string): Promise<T> {
    return this.server.ssrLoadModule(resolve(this.server.config.root, path)) as Promise<T>;
  }

  /** Reads the body as it arrives, hashing and counting; may reset the connection or read slowly. */
  private async receive(req: Request, res: Response, url: URL): Promise<void> {
    const failAt = number(url, "failAt", 0, 1);
    const total = number(url, "total", 0, Number.MAX_SAFE_INTEGER);
    const slowMs = number(url, "slowMs", 0, 10_000);
    const now = Date.now();
    const state: UploadState = {
      id: ++this.ids, run: url.searchParams.get("run") ?? "", status: "receiving", bytes: 0, total, startedAt: now, updatedAt: now, throughput: 0,
    };
    this.upload = state;
    this.changed();
    const hash = createHash("sha256");
    const window: [number, number][] = [[now, 0]];
    const failBytes = failAt > 0 && total > 0 ? Math.floor(failAt * total) : Infinity;
    const update = () => {
      const t = Date.now();
      window.push([t, state.bytes]);
      while (window.length > 2 && t - window[0]![0] > 1000) window.shift();
      const [t0, b0] = window[0]!;
      state.throughput = t > t0 ? ((state.bytes - b0) * 1000) / (t - t0) : 0;
      state.updatedAt = t;
      this.changed();
    };
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        if (state.bytes + chunk.length >= failBytes) {
          const take = failBytes - state.bytes;
          hash.update(chunk.subarray(0, take));
          state.bytes += take;
          state.status = "reset";
          state.reason = `the server reset the connection after ${state.bytes} bytes (failAt=${failAt})`;
          update();
          resetConnection(req);
          return;
        }
        hash.update(chunk);
        state.bytes += chunk.length;
        update();
        if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
      }
    } catch (error) {
      if (state.status === "receiving") {
        state.status = "aborted";
        state.reason = `the client aborted the request after ${state.bytes} bytes (${(error as Error)?.message ?? error})`;
        update();
      }
      return;
    }
    // HTTP/2: END_STREAM alone does not make a complete upload. Chromium ends a
    // streamed upload whose body broke with END_STREAM and resets the stream
    // (RST_STREAM CANCEL) right after, so hold the answer a moment and take the
    // body as complete only if no reset came.
    const h2 = "stream" in req ? req.stream : undefined;
    if (h2 && !h2.closed) {
      await new Promise<void>((resolve) => {
        // After the grace time, one more turn of the event loop: on a busy
        // server the timer and the reset may be due together, and timers run first.
        const timer = setTimeout(() => setImmediate(resolve), RESET_GRACE_MS);
        h2.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // A request that ended without its end-of-stream, or was reset, is an aborted one, not a short body.
    if (req.aborted || !req.complete || (h2 && (h2.closed || h2.rstCode !== 0))) {
      state.status = "aborted";
      state.reason = `the client aborted the request after ${state.bytes} bytes` +
        (h2?.rstCode ? ` (HTTP/2 stream reset, code ${h2.rstCode})` : "");
      update();
      return;
    }
    state.status = "complete";
    state.sha256 = hash.digest("hex");
    update();
    send(res, 200, { bytes: state.bytes, sha256: state.sha256, ms: state.updatedAt - state.startedAt });
  }

  /** Streams a generated auction, made by sluice's `jsonStream`, as it is produced. */
  private async sendAuction(req: Request, res: Response, url: URL): Promise<void> {
    const mb = number(url, "mb", 0.001, MAX_MB) || 1;
    const seed = number(url, "seed", 0, 2 ** 31) || 1;
    const [{ jsonStream }, { pipeToNode, DestinationClosedError }, { makeAuction }] = await Promise.all([
      this.load<Sluice>("../lib/index.ts"),
      this.load<SluiceNode>("../lib/node.ts"),
      this.load<AuctionModule>("./auction.ts"),
    ]);
    const value = makeAuction(Math.round(mb * 1_000_000), seed);
    const now = Date.now();
    const state: DownloadState = {
      id: ++this.ids, run: url.searchParams.get("run") ?? "", status: "sending", bytes: 0, orders: value.orders.length, startedAt: now, updatedAt: now,
    };
    this.download = state;
    this.changed();
    res.writeHead(200, {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-auction-orders": String(value.orders.length),
    });
    const hash = createHash("sha256");
    let lastUpdate = 0;
    const counted = jsonStream(value).pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        hash.update(chunk);
        state.bytes += chunk.length;
        controller.enqueue(chunk);
        const t = Date.now();
        if (t - lastUpdate > 100) {
          lastUpdate = state.updatedAt = t;
          this.changed();
        }
      },
    }));
    try {
      // Waits for 'drain'; a page that goes away cancels the serializer; an error cuts the body off.
      await pipeToNode(counted, res as ServerResponse);
    } catch (error) {
      state.status = "aborted";
      state.updatedAt = Date.now();
      this.changed();
      if (error instanceof DestinationClosedError) return;
      throw error;
    }
    state.updatedAt = Date.now();
    state.status = "complete";
    state.sha256 = hash.digest("hex");
    this.changed();
  }

  /** Server-sent events: the server's view of the current upload and download, at most every 100 ms. */
  private async events(req: Request, res: Response): Promise<void> {
    const [{ SseEncoderStream }, { pipeToNode }] = await Promise.all([
      this.load<Sluice>("../lib/index.ts"),
      this.load<SluiceNode>("../lib/node.ts"),
    ]);
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
    });
    const encoder = new SseEncoderStream({ keepAliveMs: 15_000 });
    const writer = encoder.writable.getWriter();
    let sent = -1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const publish = () => {
      timer = undefined;
      if (sent === this.version) return;
      sent = this.version;
      // Rejects once the page has gone away (pipeToNode cancels the encoder).
      writer.write({ event: "state", data: JSON.stringify(this.state()) }).catch(() => {});
    };
    const listener = () => {
      timer ??= setTimeout(publish, 100);
    };
    this.listeners.add(listener);
    publish();
    try {
      await pipeToNode(encoder.readable, res as ServerResponse);
    } catch {
      // The page went away: pipeToNode has cancelled the encoder.
    } finally {
      this.listeners.delete(listener);
      if (timer) clearTimeout(timer);
    }
  }
}

/** Ends a response that has begun as failed: an HTTP/2 stream reset with an error code, or a dropped HTTP/1.1 connection (no final chunk). */
function breakOff(req: Request, res: Response): void {
  if ("stream" in req && req.stream) req.stream.close(http2.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

/** Resets the connection (HTTP/1.1) or the stream (HTTP/2) without a response. */
function resetConnection(req: Request): void {
  if ("stream" in req && req.stream) req.stream.close(http2.NGHTTP2_CANCEL);
  else req.socket.destroy();
}

function number(url: URL, name: string, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return 0;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new RangeError(`Query parameter ${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function send(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}
