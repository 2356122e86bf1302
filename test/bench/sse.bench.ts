// Server-sent events: events per second through SseEncoderStream and
// SseDecoderStream against hand-written minimal peers; the latency from
// writer.write on a server to the decoder emitting the event on a client over
// a local HTTP/1.1 connection, with one client and with 500 (median, p99 and
// spread, and how much of the tail coincides with garbage collection); and the
// full load run (500 clients, 10,000 events, 50 stalling; see test/_support/servers/sse_load.ts).
import { fork, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { broadcast } from "../../lib/broadcast.ts";
import { pipeToNode } from "../../lib/node.ts";
import { SseDecoderStream, SseEncoderStream, type SseMessage } from "../../lib/sse.ts";
import { main, median, suite } from "./_harness.ts";

const EVENTS = 100_000;

function messages(): SseMessage[] {
  const out: SseMessage[] = [];
  for (let i = 0; i < EVENTS; i++) {
    out.push({ event: "bid", id: String(i), data: `{"order":"0x${(i * 2654435761 >>> 0).toString(16).padStart(8, "0")}","amount":"${i * 7919}","ok":true}` });
  }
  return out;
}

function source<T>(items: readonly T[]): ReadableStream<T> {
  let i = 0;
  return new ReadableStream<T>({
    pull(c) {
      if (i < items.length) c.enqueue(items[i++]!);
      else c.close();
    },
  }, { highWaterMark: 0 });
}

async function drainCount(stream: ReadableStream<unknown>): Promise<number> {
  const reader = stream.getReader();
  let n = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) n++;
  return n;
}

function check(got: number, want: number, what: string): void {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
}

/** The least an encoder can do: a template string and TextEncoder, no validation, no multi-line data. */
function minimalEncoder(): TransformStream<SseMessage, Uint8Array> {
  const te = new TextEncoder();
  return new TransformStream({
    transform: (m, c) => c.enqueue(te.encode(`event: ${m.event}\nid: ${m.id}\ndata: ${m.data}\n\n`)),
  });
}

/** A common shortcut parser (split on blank lines, LF only, no BOM/CR/comment rules), as a speed reference. */
function naiveDecoder(): TransformStream<Uint8Array, { data: string; event: string; id: string }> {
  const td = new TextDecoder();
  let rest = "";
  return new TransformStream({
    transform(chunk, c) {
      rest += td.decode(chunk, { stream: true });
      let end: number;
      while ((end = rest.indexOf("\n\n")) !== -1) {
        const block = rest.slice(0, end);
        rest = rest.slice(end + 2);
        const e = { data: "", event: "message", id: "" };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          const field = line.slice(0, colon);
          const value = line.slice(colon + 2);
          if (field === "data") e.data = value;
          else if (field === "event") e.event = value;
          else if (field === "id") e.id = value;
        }
        c.enqueue(e);
      }
    },
  });
}

let encodedBytes = 0;

suite({
  title: `encode: ${EVENTS / 1000}k events`,
  input: () => {
    const m = messages();
    const te = new TextEncoder();
    encodedBytes = m.reduce((n, x) => n + te.encode(`event: ${x.event}\nid: ${x.id}\ndata: ${x.data}\n\n`).length, 0);
    return m;
  },
  bytes: () => encodedBytes,
  cases: {
    "minimal template-string encoder": async (m) => check(await drainCount(source(m).pipeThrough(minimalEncoder())), EVENTS, "minimal"),
    "SseEncoderStream": async (m) => {
      const reader = source(m).pipeThrough(new SseEncoderStream()).getReader();
      let n = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
      check(n, encodedBytes, "sluice");
    },
  },
});

async function encodedChunks(): Promise<Uint8Array[]> {
  const reader = source(messages()).pipeThrough(new SseEncoderStream()).getReader();
  const parts: Uint8Array[] = [];
  let length = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    parts.push(r.value);
    length += r.value.length;
  }
  const all = new Uint8Array(length);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += 16384) chunks.push(all.subarray(i, i + 16384));
  return chunks;
}

suite({
  title: `decode: ${EVENTS / 1000}k events in 16 KiB chunks`,
  input: encodedChunks,
  bytes: (chunks) => chunks.reduce((n, c) => n + c.length, 0),
  cases: {
    "naive split-on-blank-line parser": async (c) => check(await drainCount(source(c).pipeThrough(naiveDecoder())), EVENTS, "naive"),
    "SseDecoderStream": async (c) => check(await drainCount(source(c).pipeThrough(new SseDecoderStream())), EVENTS, "sluice"),
  },
});

await main(import.meta.url);

// --- Latency over a local HTTP connection (not a harness suite: it reports a distribution) ---

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Channel {
  send(i: number): Promise<void>;
  next(): Promise<number>;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/**
 * Server writes through SseEncoderStream and pipeToNode; client reads with fetch + SseDecoderStream.
 * `server: false` writes a ready string with res.write instead; `client: false` takes each raw chunk
 * of the response as the event: each half removed in turn, to see which one the tail comes from.
 */
async function sluiceChannel(sides: { server: boolean; client: boolean } = { server: true, client: true }): Promise<Channel> {
  let writer!: WritableStreamDefaultWriter<SseMessage>;
  let res!: import("node:http").ServerResponse;
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const server: Server = createServer((_req, r) => {
    res = r;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    const sse = new SseEncoderStream();
    writer = sse.writable.getWriter();
    if (sides.server) void pipeToNode(sse.readable, res).catch(() => {});
    readyResolve();
  });
  const port = await listen(server);
  const response = await fetch(`http://127.0.0.1:${port}/`);
  await ready;
  const body = response.body!;
  const events = sides.client ? body.pipeThrough(new SseDecoderStream()).getReader() : undefined;
  const raw = sides.client ? undefined : body.getReader();
  let seq = 0;
  return {
    send: async (i) => {
      const data = `{"seq":${i},"payload":"${"x".repeat(64)}"}`;
      if (sides.server) return writer.write({ id: String(i), data });
      res.write(`id: ${i}\ndata: ${data}\n\n`);
    },
    next: async () => (events ? Number((await events.read()).value!.id) : (await raw!.read(), seq++)),
    close: async () => {
      await writer.close();
      res.end();
      await (events ?? raw)!.cancel();
      await closeServer(server);
    },
  };
}

/**
 * The many-client server: one SseEncoderStream feeding broadcast(), each client a subscriber sent
 * with pipeToNode. `others` background clients (in a process of their own, reading and discarding)
 * subscribe first; the measured client subscribes last, so it is served after all of them.
 */
async function hubChannel(others: number): Promise<Channel> {
  const sse = new SseEncoderStream();
  const writer = sse.writable.getWriter();
  const hub = broadcast(sse.readable);
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    void pipeToNode(hub.subscribe({ highWaterMark: 1 << 20 }), res).catch(() => {});
  });
  const port = await listen(server);
  const sinks = others > 0 ? await startSinks(`http://127.0.0.1:${port}/events`, others) : undefined;
  const response = await fetch(`http://127.0.0.1:${port}/events`);
  while (hub.subscribers < others + 1) await new Promise((r) => setTimeout(r, 10));
  const events = response.body!.pipeThrough(new SseDecoderStream()).getReader();
  return {
    send: (i) => writer.write({ id: String(i), data: `{"seq":${i},"payload":"${"x".repeat(64)}"}` }),
    next: async () => Number((await events.read()).value!.id),
    close: async () => {
      await writer.close();
      await events.cancel();
      sinks?.disconnect();
      await closeServer(server);
    },
  };
}

/** Starts `count` background clients of `url` in a process of their own (./_sse_sinks.ts); resolves once all are answered. */
async function startSinks(url: string, count: number): Promise<ChildProcess> {
  const sinks = fork(fileURLToPath(new URL("./_sse_sinks.ts", import.meta.url)), [url, String(count)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((r) => sinks.once("message", () => r()));
  return sinks;
}

/** No socket: SseEncoderStream piped into SseDecoderStream in memory, so only streams, promises and GC are timed. */
async function memoryChannel(): Promise<Channel> {
  const sse = new SseEncoderStream();
  const writer = sse.writable.getWriter();
  const events = sse.readable.pipeThrough(new SseDecoderStream()).getReader();
  return {
    send: (i) => writer.write({ id: String(i), data: `{"seq":${i},"payload":"${"x".repeat(64)}"}` }),
    next: async () => Number((await events.read()).value!.id),
    close: async () => {
      await writer.close();
      await events.cancel();
    },
  };
}

/**
 * The floor: res.write of a ready string, and the client takes each raw chunk as one event (no parsing).
 * `nagle: true` turns Nagle's algorithm back on for the server's socket (Node's http server turns it off).
 */
async function rawChannel(nagle = false, others = 0): Promise<Channel> {
  let res!: import("node:http").ServerResponse;
  const all: import("node:http").ServerResponse[] = [];
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const server: Server = createServer((_req, r) => {
    res = r;
    all.push(r);
    if (nagle) res.socket!.setNoDelay(false);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    if (all.length === others + 1) readyResolve();
  });
  const port = await listen(server);
  const sinks = others > 0 ? await startSinks(`http://127.0.0.1:${port}/`, others) : undefined;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  await ready;
  const reader = response.body!.getReader();
  let seq = 0;
  return {
    send: async (i) => {
      // One string for all, as an encode-once server would; the measured client was connected last.
      const event = `id: ${i}\ndata: {"seq":${i},"payload":"${"x".repeat(64)}"}\n\n`;
      for (const r of all) r.write(event);
    },
    next: async () => {
      await reader.read();
      return seq++;
    },
    close: async () => {
      for (const r of all) r.end();
      await reader.cancel();
      sinks?.disconnect();
      await closeServer(server);
    },
  };
}

/** Garbage collections seen during a measurement, as [start, end] in performance.now() time. */
const gcs: [number, number][] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
});

interface Sample {
  us: number;
  /** A garbage collection ran during it. */
  gc: boolean;
  /** The kernel took the CPU away from this process during it (an involuntary context switch). */
  preempted: boolean;
}

/**
 * One event in flight at a time: time from send to the client having it, whether a GC ran meanwhile,
 * and whether the process was preempted meanwhile (getrusage before and after, about 1 µs each).
 */
async function pingPong(channel: Channel, warmup: number, count: number): Promise<Sample[]> {
  const samples: (Sample & { t0: number; t1: number })[] = [];
  gcs.length = 0;
  for (let i = 0; i < warmup + count; i++) {
    const switches = process.resourceUsage().involuntaryContextSwitches;
    const t0 = performance.now();
    const arrived = channel.next();
    await channel.send(i);
    await arrived;
    const t1 = performance.now();
    const preempted = process.resourceUsage().involuntaryContextSwitches !== switches;
    if (i >= warmup) samples.push({ us: (t1 - t0) * 1000, gc: false, preempted, t0, t1 });
  }
  // GC entries are delivered after the fact: let the observer catch up before matching.
  await new Promise((r) => setTimeout(r, 20));
  for (const s of samples) s.gc = gcs.some(([a, b]) => a < s.t1 && b > s.t0);
  return samples;
}

interface Stats {
  median: number;
  p99: number;
  /** Standard deviation as a share of the median. */
  spread: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const m = median(sorted);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const sd = Math.sqrt(sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / sorted.length);
  return { median: m, p99: percentile(sorted, 0.99), spread: sd / m };
}

const wanted = (name: string) => {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  return !process.argv.includes("--memory") && (filters.length === 0 || filters.includes(name));
};

if (wanted("latency")) {
  const ROUNDS = Number(process.env.SSE_LATENCY_ROUNDS ?? 5);
  // Warm-up long enough for V8 to have optimized the hot paths: with 500 the p99 of the in-memory
  // channel was 6.6x its median, with 20,000 1.6x (code still being tiered up during the measurement).
  const WARMUP = 20_000;
  const COUNT = 5000;
  // SSE_LATENCY_MANY=0 leaves out the many-client rows (for a run under a real-time scheduling policy, say).
  const MANY = Number(process.env.SSE_LATENCY_MANY ?? 500);
  // At 500 clients an event takes milliseconds: fewer of them (the code is warm from the other channels).
  const MANY_WARMUP = 500;
  const MANY_COUNT = 1000;
  gcObserver.observe({ entryTypes: ["gc"] });
  console.log(`\n### latency: write -> event on the client, local HTTP/1.1, one event in flight\n`);
  console.log(`${ROUNDS} rounds of ${COUNT} events after ${WARMUP} warm-up each (${MANY} clients: ${MANY_COUNT} after ${MANY_WARMUP}), channels interleaved; µs. spread = standard deviation / median.`);
  console.log(`Tail causes, one at a time: "no GC" leaves out the samples during which a garbage collection ran, "not preempted" those`);
  console.log(`during which the kernel switched this process out (involuntary context switches), "neither" both (share of samples left out).\n`);
  console.log(`| case | median (range of round medians) | p99 (range) | p99 / median | spread | p99 no GC (GC share) | p99 not preempted (share) | p99 neither, / median |`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|`);
  const results: Record<string, { medians: number[]; p99s: number[]; all: Sample[] }> = {};
  const kinds: [string, () => Promise<Channel>, number?, number?][] = [
    ["in memory: SseEncoderStream -> SseDecoderStream, no socket", memoryChannel],
    ["res.write(string) -> raw chunk read (floor)", () => rawChannel()],
    ["the floor with Nagle's algorithm on (setNoDelay(false))", () => rawChannel(true), 200, 300],
    ["SseEncoderStream -> pipeToNode -> HTTP -> raw chunk (client half removed)", () => sluiceChannel({ server: true, client: false })],
    ["res.write(string) -> HTTP -> SseDecoderStream (server half removed)", () => sluiceChannel({ server: false, client: true })],
    ["SseEncoderStream -> pipeToNode -> HTTP -> SseDecoderStream", () => sluiceChannel()],
    ["broadcast, 1 client", () => hubChannel(0)],
    [`floor, ${MANY} clients: one string res.write to each (measured one last)`, () => rawChannel(false, MANY - 1), MANY_WARMUP, MANY_COUNT],
    [`broadcast, ${MANY} clients (measured one served last)`, () => hubChannel(MANY - 1), MANY_WARMUP, MANY_COUNT],
  ];
  if (MANY <= 1) kinds.splice(-2);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make, warmup = WARMUP, count = COUNT] of kinds) {
      const channel = await make();
      const samples = await pingPong(channel, warmup, count);
      await channel.close();
      const s = stats(samples.map((x) => x.us));
      const r = (results[name] ??= { medians: [], p99s: [], all: [] });
      r.medians.push(s.median);
      r.p99s.push(s.p99);
      r.all.push(...samples);
    }
  }
  for (const [name] of kinds) {
    const r = results[name]!;
    const all = stats(r.all.map((x) => x.us));
    const share = (f: (x: Sample) => boolean) => `${((r.all.filter(f).length / r.all.length) * 100).toFixed(1)}%`;
    const noGc = stats(r.all.filter((x) => !x.gc).map((x) => x.us));
    const notPreempted = stats(r.all.filter((x) => !x.preempted).map((x) => x.us));
    const neither = stats(r.all.filter((x) => !x.gc && !x.preempted).map((x) => x.us));
    const range = (v: number[]) => `${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}`;
    console.log(
      `| ${name} | ${all.median.toFixed(0)} (${range(r.medians)}) | ${all.p99.toFixed(0)} (${range(r.p99s)}) | ${(all.p99 / all.median).toFixed(2)}x | ${(all.spread * 100).toFixed(0)}% | ` +
        `${noGc.p99.toFixed(0)} (${share((x) => x.gc)}) | ${notPreempted.p99.toFixed(0)} (${share((x) => x.preempted)}) | ${neither.p99.toFixed(0)}, ${(neither.p99 / neither.median).toFixed(2)}x |`,
    );
  }
  gcObserver.disconnect();
}

if (wanted("load")) {
  const { runSseLoad } = await import("../_support/servers/sse_load.ts");
  const clients = 500;
  const stalled = 50;
  const events = 10_000;
  console.log(`\n### load: ${clients} SSE clients, ${events} events, ${stalled} stop reading midway\n`);
  const t0 = performance.now();
  const r = await runSseLoad({ clients, stalled, events, stallAt: events / 2, perTick: 5, timeoutMs: 600_000 });
  const MiB = 2 ** 20;
  console.log(`| figure | value |\n|---|---:|`);
  console.log(`| EventSource clients with every event in order | ${r.complete} of ${clients - stalled} |`);
  console.log(`| stalled clients dropped at their bound (64 KiB) | ${r.dropped} of ${stalled} (reports: ${JSON.stringify(r.after.ended)}) |`);
  console.log(`| time to deliver all events (paced at 5 per timer tick) | ${(r.sendMs / 1000).toFixed(1)} s |`);
  console.log(`| server heap after GC: subscribed / after the run / at the end | ${(r.before.heapUsed / MiB).toFixed(1)} / ${(r.after.heapUsed / MiB).toFixed(1)} / ${(r.atEnd.heapUsed / MiB).toFixed(1)} MiB |`);
  console.log(`| server RSS: subscribed / peak during the run | ${(r.before.rss / MiB).toFixed(1)} / ${(r.after.peakRss / MiB).toFixed(1)} MiB |`);
  console.log(`| sockets open at the end | ${r.atEnd.sockets} |`);
  console.log(`| whole run | ${((performance.now() - t0) / 1000).toFixed(1)} s |`);
  if (r.complete !== clients - stalled || r.dropped !== stalled || r.atEnd.sockets !== 0) throw new Error(`load run failed: ${JSON.stringify(r.problems)}`);
}
