// A server-sent events hub for the load test and the benchmark, run as a
// child process (so that its memory is measured apart from the clients'):
// one event feed, encoded once by SseEncoderStream, served to every client by
// broadcast() and pipeToNode(), over HTTP/1.1 and over cleartext HTTP/2, both
// on 127.0.0.1 and a free port. The parent drives it over the IPC channel:
//
//   -> { type: "send", from, to, perTick }  writes events from..to-1, `perTick` of them per timer
//                                   tick (about 1 ms): a live feed's pace, which the clients can
//                                   follow; each write still waits for the fastest client.
//                                   Answers { type: "sent" } when the last write resolved
//   -> { type: "stats" }            answers { type: "stats", ...HubStats } (after a full GC)
//   -> { type: "end" }              closes the feed; answers { type: "ended", report } when every subscriber ended
//   <- { type: "ready", http1, http2 }  the two base URLs, once listening
//
// HTTP/2 is there because each of its streams has its own flow-control
// window (64 KiB): a client that stops reading a stream stops the server's
// writes on it within that window. Over HTTP/1.1 on loopback the kernel's
// socket buffers take 4-5 MB of a stalled connection first (measured), more
// than a whole test run sends, so a server could never see such a client
// fall behind.
import { createServer as createHttp1, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttp2, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { broadcast } from "../../../lib/broadcast.ts";
import { pipeToNode } from "../../../lib/node.ts";
import { SseEncoderStream } from "../../../lib/sse.ts";
import { eventData, type HubStats } from "./sse_load.ts";

const highWaterMark = Number(process.env.SSE_HUB_HWM ?? 16384);
const encoder = new SseEncoderStream();
const writer = encoder.writable.getWriter();
const hub = broadcast(encoder.readable);
const ended: Record<string, number> = {};
const sockets = new Set<Socket>();

function serve(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  if (req.url !== "/events") {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  // The headers now, not with the first event: the client's open event says it is subscribed.
  (res as ServerResponse).flushHeaders?.();
  const subscriber = hub.subscribe({ highWaterMark });
  void subscriber.report.then((r) => (ended[r.status] = (ended[r.status] ?? 0) + 1));
  // Rejects when the client leaves or its subscriber is dropped; both end the response.
  pipeToNode(subscriber, res as ServerResponse).catch(() => {});
}

const http1 = createHttp1(serve);
const http2 = createHttp2(serve);
for (const server of [http1, http2]) {
  server.on("connection", (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // A client that resets its connection is not the server's error.
  server.on("clientError", (_error: Error, socket: Socket) => socket.destroy());
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
sampler.unref();

function listen(server: typeof http1 | typeof http2): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const [url1, url2] = await Promise.all([listen(http1), listen(http2)]);

process.on("message", async (message: { type: string; from?: number; to?: number; perTick?: number }) => {
  switch (message.type) {
    case "send":
      try {
        const perTick = message.perTick ?? Infinity;
        for (let i = message.from!; i < message.to!; i++) {
          await writer.write({ id: String(i), data: eventData(i) });
          if ((i + 1 - message.from!) % perTick === 0) await new Promise((r) => setTimeout(r, 1));
        }
      } catch {
        // The feed was closed.
      }
      process.send!({ type: "sent" });
      break;
    case "stats": {
      (globalThis as { gc?: () => void }).gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      const stats: HubStats = { subscribers: hub.subscribers, sockets: sockets.size, ended: { ...ended }, heapUsed, rss, peakRss: Math.max(peakRss, rss) };
      peakRss = 0;
      process.send!({ type: "stats", ...stats });
      break;
    }
    case "end":
      await writer.close().catch(() => {});
      process.send!({ type: "ended", report: await hub.done });
      break;
  }
});
// The parent going away (its IPC channel closing) ends the hub, whatever state the test was in.
process.on("disconnect", () => {
  clearInterval(sampler);
  for (const s of sockets) s.destroy();
  http1.close();
  http2.close();
  process.exit(0);
});
process.send!({ type: "ready", http1: url1, http2: url2 });
