// Drives the SSE load test and benchmark: starts the hub (./sse_hub.ts) in a
// child process, connects the clients from this one, sends the events, and
// gathers what each side saw. Readers are real EventSource clients (the
// `eventsource` package) over HTTP/1.1; the clients that stop reading midway
// read over HTTP/2 with SseDecoderStream (see sse_hub.ts for why HTTP/2).
import { fork, type ChildProcess } from "node:child_process";
import { connect as connectHttp2, type ClientHttp2Session } from "node:http2";
import { fileURLToPath } from "node:url";
import { EventSource } from "eventsource";
import { SseDecoderStream } from "../../../lib/sse.ts";

/** What the hub tells about itself. */
export interface HubStats {
  /** Subscribers that have not ended. */
  subscribers: number;
  /** Open TCP connections, both protocols. */
  sockets: number;
  /** Ended subscribers by report status. */
  ended: Record<string, number>;
  /** After a full collection, when the process runs with --expose-gc. */
  heapUsed: number;
  rss: number;
  /** The largest RSS sampled (every 50 ms) since the last stats request. */
  peakRss: number;
}

/** The payload of event `i`: about 100 bytes encoded. */
export function eventData(i: number): string {
  return `{"seq":${i},"bid":"${(i * 2654435761 >>> 0).toString(16).padStart(8, "0")}","pad":"${"x".repeat(40)}"}`;
}

export interface LoadOptions {
  /** Clients in all, stalling ones included. */
  clients: number;
  /** Of those, how many stop reading after `stallAt` events. */
  stalled: number;
  events: number;
  stallAt: number;
  /** The hub's per-subscriber bound in bytes. @default 65536 */
  highWaterMark?: number;
  /** Events sent per timer tick (about 1 ms). */
  perTick: number;
  /** The whole run is failed after this long. */
  timeoutMs: number;
}

export interface LoadResult {
  /** Reading clients that got exactly events 0..events-1, in order, with the right data. */
  complete: number;
  /** The first problem a reading client saw, if any. */
  problems: string[];
  /** Stalling clients whose stream the server reset (dropped at its bound). */
  dropped: number;
  /** Events the stalling clients had decoded when they stopped reading (all should be `stallAt`). */
  stalledAt: number[];
  /** The hub with every client subscribed, before any event. */
  before: HubStats;
  /** The hub after the events, with the stalled clients dropped (its peakRss: the peak during the run). */
  after: HubStats;
  /** The hub once the feed was closed and every client gone. */
  atEnd: HubStats;
  /** From the first event sent to the last event received by the last reading client. */
  sendMs: number;
}

const hubPath = fileURLToPath(new URL("./sse_hub.ts", import.meta.url));

/** Sends `message` to the hub and waits for its answer of type `reply`. */
function ask<T>(hub: ChildProcess, message: object, reply: string): Promise<T> {
  if (!hub.connected) return Promise.reject(new Error("the hub has gone"));
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== reply) return;
      hub.off("message", on);
      resolve(m as T);
    };
    hub.on("message", on);
    if (Object.keys(message).length) hub.send(message);
  });
}

async function until<T>(what: string, ms: number, probe: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() - start > ms) throw new Error(`${what}: not reached in ${ms} ms (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runSseLoad(options: LoadOptions): Promise<LoadResult> {
  const { clients, stalled, events, stallAt, timeoutMs } = options;
  const hub = fork(hubPath, [], {
    execArgv: ["--expose-gc", "--import", "tsx"],
    env: { ...process.env, SSE_HUB_HWM: String(options.highWaterMark ?? 65536) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  hub.on("error", () => {});
  const sources: EventSource[] = [];
  const sessions: ClientHttp2Session[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const run = (async (): Promise<LoadResult> => {
      const { http1, http2 } = await ask<{ http1: string; http2: string }>(hub, {}, "ready");
      const stats = () => ask<HubStats & { type: string }>(hub, { type: "stats" }, "stats");
      const expected = Array.from({ length: events }, (_, i) => eventData(i));
      const problems: string[] = [];
      let lastReceivedAll = 0;

      const readers = Array.from({ length: clients - stalled }, (_, c) => new Promise<boolean>((resolve) => {
        const source = new EventSource(`${http1}/events`);
        sources.push(source);
        let next = 0;
        source.onmessage = (e) => {
          if (e.lastEventId !== String(next) || e.data !== expected[next]) {
            problems.push(`client ${c}: event ${next} expected, got id ${e.lastEventId}`);
            source.close();
            return resolve(false);
          }
          if (++next === events) {
            lastReceivedAll = Date.now();
            source.close();
            resolve(true);
          }
        };
        source.onerror = () => {
          // Any error is a failure here: a reconnection would repeat or skip events.
          problems.push(`client ${c}: connection error after ${next} events`);
          source.close();
          resolve(false);
        };
      }));

      const stalledAt: number[] = [];
      let feedClosed = false;
      const stallers = Array.from({ length: stalled }, () => new Promise<boolean>((resolve) => {
        const session = connectHttp2(http2);
        sessions.push(session);
        session.on("error", () => {});
        const stream = session.request({ ":path": "/events" });
        const decoder = new SseDecoderStream();
        const writer = decoder.writable.getWriter();
        const reader = decoder.readable.getReader();
        let count = 0;
        stream.on("data", (chunk: Buffer) => void writer.write(chunk).catch(() => {}));
        stream.on("error", () => {});
        void (async () => {
          while (count < stallAt && !(await reader.read()).done) count++;
          // Stop reading: no more window updates, so the server's writes on this stream stop.
          stream.pause();
          stalledAt.push(count);
          void reader.cancel().catch(() => {});
          // A paused stream emits no 'close' while data waits in it, but a reset marks it closed at once.
          while (!stream.closed && !feedClosed) await new Promise((r) => setTimeout(r, 20));
          resolve(stream.closed && stream.rstCode !== 0);
        })();
      }));

      const before = await until("every client subscribed", 30_000, stats, (s) => s.subscribers === clients);
      const start = Date.now();
      const sent = ask(hub, { type: "send", from: 0, to: events, perTick: options.perTick }, "sent");
      const results = await Promise.all(readers);
      const droppedFlags = await Promise.all(stallers);
      await sent;
      const sendMs = lastReceivedAll - start;
      // A client's close reaches the server a little later: wait until the server has ended every
      // subscriber (the readers cancelled, the stalled ones detached) before taking its figures.
      const after = await until("every subscriber ended", 10_000, stats, (s) => s.subscribers === 0);
      feedClosed = true;
      await ask(hub, { type: "end" }, "ended");
      // A stalled client's connection stays open after its stream was reset, until the client closes it.
      for (const s of sessions) s.destroy();
      const atEnd = await until("every socket closed", 10_000, stats, (s) => s.sockets === 0 && s.subscribers === 0);
      return {
        complete: results.filter(Boolean).length,
        problems: problems.slice(0, 5),
        dropped: droppedFlags.filter(Boolean).length,
        stalledAt,
        before,
        after,
        atEnd,
        sendMs,
      };
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`SSE load run did not finish in ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
    for (const s of sources) s.close();
    for (const s of sessions) s.destroy();
    if (hub.connected) hub.disconnect();
    await new Promise((r) => (hub.exitCode !== null ? r(null) : hub.once("exit", r)));
  }
}
