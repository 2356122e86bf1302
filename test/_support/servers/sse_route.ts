// The /sse route of the local test servers: a response body written by
// SseEncoderStream, so a real EventSource client (a browser's, Deno's) can be
// held against what the encoder sends.
//
//   GET /sse?script=<JSON SseStep[]>&keepAliveMs=<ms>
//     runs the steps in order, then ends the response (an EventSource then
//     reconnects after its reconnection time). Keep-alive comments go out
//     whenever the encoder is idle for keepAliveMs, between any two steps.
//     A request with a Last-Event-ID header (a reconnecting EventSource) gets
//     instead one event of type "reconnected" whose data is that header, and
//     the response stays open until the client leaves.
//
//   GET /sse?raw=<text>
//     answers the text as an event stream, as it is (UTF-8), and ends.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { SSE_KEEP_ALIVE, SseEncoderStream, type SseMessage } from "../../../lib/sse.ts";

/** One step of an /sse script. */
export type SseStep =
  /** Writes this message to the encoder. */
  | { send: SseMessage | string }
  /** Waits until this many more keep-alive comments have gone out. */
  | { keepAlives: number };

export function streamEvents(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, url: URL) {
  const raw = url.searchParams.get("raw");
  if (raw !== null) {
    (res as ServerResponse).writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    res.end(raw);
    return;
  }
  let steps: SseStep[];
  try {
    steps = JSON.parse(url.searchParams.get("script") ?? "[]") as SseStep[];
    if (!Array.isArray(steps)) throw new TypeError("script must be an array");
  } catch (error) {
    (res as ServerResponse).writeHead(400, { "content-type": "text/plain" });
    res.end(String(error));
    return;
  }
  const keepAliveMs = Number(url.searchParams.get("keepAliveMs")) || undefined;
  const sse = new SseEncoderStream({ keepAliveMs });
  const reader = sse.readable.getReader();
  const writer = sse.writable.getWriter();
  let keepAlives = 0;
  let closed = false;
  let wake: (() => void) | undefined;
  res.on("close", () => {
    closed = true;
    reader.cancel(new Error("the client left")).catch(() => {});
    wake?.();
  });
  (res as ServerResponse).writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });

  const keepAliveLength = new TextEncoder().encode(SSE_KEEP_ALIVE).length;
  const text = new TextDecoder();
  (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      (res as ServerResponse).write(r.value);
      if (r.value.length === keepAliveLength && text.decode(r.value) === SSE_KEEP_ALIVE) {
        keepAlives++;
        wake?.();
      }
    }
    res.end();
  })().catch(() => res.destroy());

  (async () => {
    const lastEventId = req.headers["last-event-id"];
    if (typeof lastEventId === "string") {
      await writer.write({ event: "reconnected", data: lastEventId });
      return;
    }
    for (const step of steps) {
      if ("send" in step) {
        await writer.write(step.send);
      } else {
        const target = keepAlives + step.keepAlives;
        while (keepAlives < target) {
          if (closed) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      }
    }
    await writer.close();
  })().catch(() => {});
}
