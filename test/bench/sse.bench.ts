// Server-sent events: events per second through SseEncoderStream and
// SseDecoderStream against hand-written minimal peers, and the latency from
// writer.write on a server to the decoder emitting the event on a client over
// a local HTTP/1.1 connection (median, percentiles and run-to-run spread).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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

/** Server writes through SseEncoderStream; client reads with fetch + SseDecoderStream. */
async function sluiceChannel(): Promise<Channel> {
  let writer!: WritableStreamDefaultWriter<SseMessage>;
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    const sse = new SseEncoderStream();
    writer = sse.writable.getWriter();
    const reader = sse.readable.getReader();
    void (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) res.write(r.value);
      res.end();
    })();
    readyResolve();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  await ready;
  const events = response.body!.pipeThrough(new SseDecoderStream()).getReader();
  return {
    send: (i) => writer.write({ id: String(i), data: `{"seq":${i},"payload":"${"x".repeat(64)}"}` }),
    next: async () => Number((await events.read()).value!.id),
    close: async () => {
      await writer.close();
      await events.cancel();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** The floor: res.write of a ready string, and the client takes each raw chunk as one event (no parsing). */
async function rawChannel(): Promise<Channel> {
  let res!: import("node:http").ServerResponse;
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const server: Server = createServer((_req, r) => {
    res = r;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    readyResolve();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  await ready;
  const reader = response.body!.getReader();
  let seq = 0;
  return {
    send: async (i) => {
      res.write(`id: ${i}\ndata: {"seq":${i},"payload":"${"x".repeat(64)}"}\n\n`);
    },
    next: async () => {
      await reader.read();
      return seq++;
    },
    close: async () => {
      res.end();
      await reader.cancel();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** One event in flight at a time: time from send to the client having it. */
async function pingPong(channel: Channel, warmup: number, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = performance.now();
    const arrived = channel.next();
    await channel.send(i);
    await arrived;
    if (i >= warmup) times.push((performance.now() - t0) * 1000);
  }
  return times;
}

if (!process.argv.includes("--memory") && (process.argv.slice(2).filter((a) => !a.startsWith("--")).length === 0 || process.argv.includes("latency"))) {
  const ROUNDS = 5;
  const WARMUP = 500;
  const COUNT = 3000;
  console.log(`\n### latency: write -> event on the client, local HTTP/1.1, one event in flight\n`);
  console.log(`${ROUNDS} rounds of ${COUNT} events after ${WARMUP} warm-up each, channels interleaved; µs\n`);
  console.log(`| case | median (spread of round medians) | p90 | p99 (spread) | max |`);
  console.log(`|---|---:|---:|---:|---:|`);
  const results: Record<string, { medians: number[]; p99s: number[]; all: number[] }> = {};
  const kinds: [string, () => Promise<Channel>][] = [
    ["res.write(string) -> raw chunk read (floor)", rawChannel],
    ["SseEncoderStream -> HTTP -> SseDecoderStream", sluiceChannel],
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of kinds) {
      const channel = await make();
      const times = (await pingPong(channel, WARMUP, COUNT)).sort((a, b) => a - b);
      await channel.close();
      const r = (results[name] ??= { medians: [], p99s: [], all: [] });
      r.medians.push(median(times));
      r.p99s.push(percentile(times, 0.99));
      r.all.push(...times);
    }
  }
  for (const [name] of kinds) {
    const r = results[name]!;
    const all = r.all.sort((a, b) => a - b);
    const range = (v: number[]) => `${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}`;
    console.log(
      `| ${name} | ${median(all).toFixed(0)} (${range(r.medians)}) | ${percentile(all, 0.9).toFixed(0)} | ${percentile(all, 0.99).toFixed(0)} (${range(r.p99s)}) | ${all[all.length - 1]!.toFixed(0)} |`,
    );
  }
}
