// A small local upload server for the pipeline demo, its tests and its
// benchmark: it reads each request body as it arrives, hashes it, parses the
// orders out of it with JsonItemStream, and answers with the byte count, the
// SHA-256, and the number of orders and their total. It can be told to reset the connection
// after some bytes, or to read slowly, so that the faults of a real server can
// be played on 127.0.0.1. `GET /progress` is a server-sent event feed of what
// it receives, for any number of watchers (broadcast + pipeToNode).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { pathToFileURL } from "node:url";
import { broadcast } from "../lib/broadcast.ts";
import { JsonItemStream } from "../lib/json_items.ts";
import { pipeToNode } from "../lib/node.ts";
import { SseEncoderStream, type SseMessage } from "../lib/sse.ts";

/** Options of {@linkcode startUploadServer}. */
export interface UploadServerOptions {
  /** Reset the connection (TCP RST) once this many body bytes have arrived. @default Infinity */
  resetAfterBytes?: number;
  /** Sleep this long after each read from the socket: a slow consumer. @default 0 */
  readDelayMs?: number;
  /** Called after each read with the bytes of that request's body received so far. */
  onData?: (bytes: number) => void;
}

/** What the server saw of one request. */
export interface UploadOutcome {
  /** `complete`: the whole body arrived and was answered; `aborted`: the client broke off; `reset`: the server did. */
  status: "complete" | "aborted" | "reset";
  /** Body bytes received. */
  bytes: number;
  /** Hex SHA-256 of the body; only for a complete body. */
  sha256?: string;
  /** How many values the body's `$.orders` array held, parsed as they arrived; only for a complete JSON body. */
  orders?: number;
  /** The sum of the orders' `sellAmount` (decimal strings), exact, as a decimal string; with `orders`. */
  total?: string;
  /** Why the body could not be parsed as JSON, for a complete body that is not. */
  jsonError?: string;
}

/** Counts and sums the orders of a JSON body as its bytes are written. */
function orderCounter(): { writable: WritableStream<Uint8Array>; result: Promise<{ orders: number; total: string }> } {
  const items = new JsonItemStream("$.orders[*]");
  const reader = items.readable.getReader();
  const result = (async () => {
    let orders = 0;
    let total = 0n;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      orders++;
      const amount = (r.value.value as { sellAmount?: unknown } | null)?.sellAmount;
      if (typeof amount === "string" && /^[0-9]+$/.test(amount)) total += BigInt(amount);
    }
    return { orders, total: String(total) };
  })();
  result.catch(() => {});
  return { writable: items.writable, result };
}

/** The data of each `progress` event on `GET /progress` (JSON). */
export interface UploadProgress {
  /** The request's position (0 first). */
  request: number;
  /** Body bytes received so far. */
  bytes: number;
  /** `receiving` while the body arrives, then how it ended. */
  status: "receiving" | UploadOutcome["status"];
}

/** A running {@linkcode startUploadServer}. */
export interface UploadServer {
  /** `http://127.0.0.1:<port>/upload`. */
  url: string;
  /** `http://127.0.0.1:<port>/progress`: `progress` events, at most one per request every 100 ms while receiving, and the end. */
  progressUrl: string;
  /** How many requests have arrived so far. */
  readonly requestCount: number;
  /** What the server saw of the `index`-th request (0 first), once it has arrived and ended. */
  outcome(index?: number): Promise<UploadOutcome>;
  /** Bytes received so far, over all requests. */
  readonly bytesReceived: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts the upload server on 127.0.0.1 on a free port. */
export async function startUploadServer(options: UploadServerOptions = {}): Promise<UploadServer> {
  const resetAfter = options.resetAfterBytes ?? Infinity;
  const delayMs = options.readDelayMs ?? 0;
  // One settler per request, created by whichever comes first: the request or a caller waiting for it.
  const outcomes: { promise: Promise<UploadOutcome>; resolve: (o: UploadOutcome) => void }[] = [];
  let requestCount = 0;
  const slot = (index: number) => {
    while (outcomes.length <= index) {
      let resolve!: (o: UploadOutcome) => void;
      const promise = new Promise<UploadOutcome>((r) => (resolve = r));
      outcomes.push({ promise, resolve });
    }
    return outcomes[index]!;
  };
  const sockets = new Set<Socket>();
  let bytesReceived = 0;

  // Progress for any number of watchers. The uploads never wait for them: "drain" keeps the feed
  // read while nobody watches, an update is skipped while the feed is still busy with the last one
  // (a watcher that stalls is dropped at its bound), and only the final state of a request is awaited.
  const feed = new TransformStream<SseMessage, SseMessage>();
  const feedWriter = feed.writable.getWriter();
  const progress = broadcast(feed.readable, { whenIdle: "drain" });
  const report = (p: UploadProgress, final: boolean) => {
    if (!final && (feedWriter.desiredSize ?? 0) <= 0) return;
    void feedWriter.write({ event: "progress", data: JSON.stringify(p) }).catch(() => {});
  };
  function watch(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    const events = progress.subscribe({ highWaterMark: 256 }).pipeThrough(new SseEncoderStream({ keepAliveMs: 15_000 }));
    pipeToNode(events, res).catch(() => {});
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === "GET" && req.url === "/progress") return watch(res);
    const request = requestCount;
    let lastReport = 0;
    const settle = slot(requestCount++).resolve;
    const resolve = (outcome: UploadOutcome) => {
      report({ request, bytes: outcome.bytes, status: outcome.status }, true);
      settle(outcome);
    };
    const hash = createHash("sha256");
    const counter = orderCounter();
    const writer = counter.writable.getWriter();
    let bytes = 0;
    let ended = false;
    // The socket is read only while neither the parser nor a slow-server delay holds it.
    let holds = 0;
    const hold = (until: Promise<unknown>) => {
      if (holds++ === 0) req.pause();
      void until.finally(() => {
        if (--holds === 0 && !ended) req.resume();
      });
    };
    req.on("data", (chunk: Buffer) => {
      if (ended) return;
      bytes += chunk.length;
      bytesReceived += chunk.length;
      hash.update(chunk);
      options.onData?.(bytes);
      // A parse error surfaces through counter.result; the body is still hashed to its end.
      writer.write(chunk).catch(() => {});
      if (writer.desiredSize !== null && writer.desiredSize <= 0) hold(writer.ready.catch(() => {}));
      const now = Date.now();
      if (now - lastReport >= 100) {
        lastReport = now;
        report({ request, bytes, status: "receiving" }, false);
      }
      if (bytes >= resetAfter) {
        ended = true;
        void writer.abort("reset").catch(() => {});
        resolve({ status: "reset", bytes });
        const socket = req.socket as Socket & { resetAndDestroy?: () => void };
        if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
        else socket.destroy();
        return;
      }
      if (delayMs > 0) hold(new Promise((r) => setTimeout(r, delayMs)));
    });
    req.on("end", () => {
      if (ended) return;
      ended = true;
      const sha256 = hash.digest("hex");
      void writer.close().catch(() => {});
      void counter.result.then(
        (parsed) => ({ ...parsed }),
        (error: unknown) => ({ jsonError: error instanceof Error ? error.message : String(error) }),
      ).then((parsed) => {
        const outcome: UploadOutcome = { status: "complete", bytes, sha256, ...parsed };
        resolve(outcome);
        // No keep-alive: a client reusing an idle connection just as the server times it out
        // would see a reset that has nothing to do with the upload.
        res.writeHead(200, { "content-type": "application/json", connection: "close" });
        res.end(JSON.stringify({ bytes, sha256, ...parsed }));
      });
    });
    // A request that closes before its end is an upload the client broke off.
    req.on("close", () => {
      if (ended) return;
      ended = true;
      void writer.abort("aborted").catch(() => {});
      resolve({ status: "aborted", bytes });
    });
    req.on("error", () => {});
  }

  const server = createServer(handle);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/upload`,
    progressUrl: `http://127.0.0.1:${port}/progress`,
    get requestCount() {
      return requestCount;
    },
    outcome(index = 0) {
      return slot(index).promise;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    close() {
      void progress.cancel(new Error("the upload server closed")).catch(() => {});
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Run as a program (`node --import tsx demo/pipeline_server.ts`), it prints its URL on one
// line and serves until its standard input ends: a server in a process of its own, so that
// a benchmark measures the client's memory without the server's.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startUploadServer();
  console.log(server.url);
  process.stdin.resume();
  process.stdin.on("end", () => void server.close().then(() => process.exit(0)));
}
