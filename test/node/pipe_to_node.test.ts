// pipeToNode from sluice/node: a web stream into a Node Writable or HTTP response with
// backpressure ('drain'), its end, and what happens when either side fails or the client leaves.
import { createServer, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { Writable } from "node:stream";
import { afterEach, describe, expect, test } from "vitest";
import { DestinationClosedError, pipeToNode } from "../../lib/node.ts";
import { deferred, sequence, streamOf } from "../_support/util.ts";

const CHUNK = 64 * 1024;

/** A byte source of `limit` chunks of 64 KiB that counts what was pulled and notes its cancel. */
function countingSource(limit: number) {
  const cancelled = deferred<unknown>();
  const chunk = sequence(CHUNK);
  const counter = {
    pulled: 0,
    cancelled: cancelled.promise,
    stream: new ReadableStream<Uint8Array>({
      pull(c) {
        if (counter.pulled === limit) return c.close();
        counter.pulled++;
        c.enqueue(chunk.slice());
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    }, { highWaterMark: 0 }),
  };
  return counter;
}

let servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/** Starts a server on 127.0.0.1 whose every response is handed to `handle`. */
async function serve(handle: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((_req, res) => handle(res));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A client on a raw socket: sends a GET and counts what arrives; `pause()` stops reading. */
async function rawClient(host: string) {
  const [hostname, port] = host.split(":");
  const socket = connect(Number(port), hostname!);
  sockets.add(socket);
  await new Promise<void>((r) => socket.once("connect", r));
  const client = { socket, received: 0 };
  socket.on("data", (d: Buffer) => (client.received += d.length));
  socket.on("error", () => {});
  socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  return client;
}

/** Samples `value` every 50 ms until it has not changed for `quiet` samples (bounded by `maxMs`). */
async function plateau(value: () => number, quiet = 6, maxMs = 10_000): Promise<number> {
  const start = Date.now();
  let last = value();
  for (let same = 0; same < quiet && Date.now() - start < maxMs;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = value();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

describe("pipeToNode", () => {
  test("pipeToNode writes every chunk in order, ends the response and resolves", async () => {
    const piped = deferred<{ done: Promise<void> }>();
    const host = await serve((res) => piped.resolve({ done: pipeToNode(streamOf(["data: a\n\n", new TextEncoder().encode("data: b\n\n")]), res) }));
    const body = await (await fetch(`http://${host}/`)).text();
    expect(body).toBe("data: a\n\ndata: b\n\n");
    await expect((await piped.promise).done).resolves.toBeUndefined();
  });

  test("pipeToNode reads the next chunk only after 'drain' when write returns false", async () => {
    const callbacks: (() => void)[] = [];
    const written: number[] = [];
    const destination = new Writable({
      highWaterMark: 100_000,
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk.length);
        callbacks.push(callback);
      },
    });
    const source = countingSource(10);
    const done = pipeToNode(source.stream, destination);
    // 64 KiB fits under the 100,000 bytes mark, 128 KiB does not: two chunks, then a wait.
    await new Promise((r) => setImmediate(r));
    expect(source.pulled).toBe(2);
    for (let i = 0; i < 20 && source.pulled < 3; i++) await new Promise((r) => setImmediate(r));
    expect(source.pulled).toBe(2);
    // Completing the writes empties the buffer: 'drain', then two more chunks.
    for (;;) {
      while (callbacks.length) callbacks.shift()!();
      if (source.pulled === 10 && written.length === 10) break;
      await new Promise((r) => setImmediate(r));
    }
    while (callbacks.length) callbacks.shift()!();
    await done;
    expect(written).toEqual(Array(10).fill(CHUNK));
    expect(destination.writableFinished).toBe(true);
  });

  test("pipeToNode holds a bounded amount for a client that stops reading, and cancels the source when it leaves", async () => {
    // 64 MiB on offer; a stalled client must stop the source long before.
    const source = countingSource(1024);
    let result!: Promise<void>;
    const host = await serve((res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      result = pipeToNode(source.stream, res);
    });
    const client = await rawClient(host);
    // Read the first bytes, then stop reading: the kernel's buffers fill, then Node's, then the pipe waits.
    await new Promise<void>((r) => client.socket.once("data", () => r()));
    client.socket.pause();
    const pulled = await plateau(() => source.pulled);
    const held = pulled * CHUNK - client.received;
    console.log(`pipeToNode, stalled client: ${(pulled * CHUNK / 2 ** 20).toFixed(1)} MiB read from the source, ${(held / 2 ** 20).toFixed(1)} MiB held in buffers`);
    expect(pulled).toBeLessThan(1024);
    // Loopback socket buffers (sender and receiver, autotuned) are a few MiB; the source offers 64.
    expect(held).toBeLessThan(16 * 2 ** 20);

    client.socket.destroy();
    const reason = await source.cancelled;
    expect(reason).toBeInstanceOf(DestinationClosedError);
    await expect(result).rejects.toBe(reason);
  });

  test("pipeToNode cuts the response off when the source errors, so the client never sees a complete body", async () => {
    const failure = new Error("the source failed");
    const fail = deferred();
    const result = deferred<unknown>();
    const host = await serve((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let n = 0;
      const source = new ReadableStream<string>({
        async pull(c) {
          if (n++ < 3) return c.enqueue("data: x\n\n");
          await fail.promise;
          c.error(failure);
        },
      });
      pipeToNode(source, res).then(() => result.resolve("resolved"), result.resolve);
    });
    // A raw client sees the bytes as sent: chunked encoding, and whether the final chunk came.
    const client = await rawClient(host);
    let text = "";
    client.socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (text.includes("data: x\n\n")) fail.resolve();
    });
    await new Promise<void>((r) => client.socket.once("close", () => r()));
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain("data: x\n\n");
    // Cut off: no final zero-length chunk, so no client takes the body as complete.
    expect(text.endsWith("\r\n0\r\n\r\n")).toBe(false);
    expect(await result.promise).toBe(failure);
  });

  test("pipeToNode destroys the destination when the source errors while it waits for 'drain'", async () => {
    const destination = new Writable({ highWaterMark: 10, write: () => {} }); // never completes a write
    const failure = new Error("dropped: too far behind");
    let controller!: ReadableStreamDefaultController<string>;
    const source = new ReadableStream<string>({
      start(c) {
        controller = c;
        c.enqueue("more than ten bytes");
      },
    });
    const done = pipeToNode(source, destination);
    await new Promise((r) => setImmediate(r));
    expect(destination.writableNeedDrain).toBe(true);
    controller.error(failure);
    await expect(done).rejects.toBe(failure);
    expect(destination.destroyed).toBe(true);
  });

  test("pipeToNode cancels the source and destroys the destination when its signal aborts", async () => {
    const source = countingSource(1024);
    const destination = new Writable({ write: (_c, _e, cb) => setImmediate(cb) });
    const controller = new AbortController();
    const done = pipeToNode(source.stream, destination, { signal: controller.signal });
    await new Promise((r) => setImmediate(r));
    const reason = new Error("shutting down");
    controller.abort(reason);
    await expect(done).rejects.toBe(reason);
    expect(await source.cancelled).toBe(reason);
    expect(destination.destroyed).toBe(true);

    const early = countingSource(1);
    await expect(pipeToNode(early.stream, new Writable(), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(await early.cancelled).toBe(reason);
  });

  test("pipeToNode cancels the source with the destination's error", async () => {
    const failure = new Error("disk full");
    const destination = new Writable({ write: (_c, _e, cb) => cb(failure) });
    const source = countingSource(10);
    await expect(pipeToNode(source.stream, destination)).rejects.toBe(failure);
    expect(await source.cancelled).toBe(failure);
  });

  test("pipeToNode rejects bad arguments with a TypeError before reading", () => {
    const w = new Writable();
    expect(() => pipeToNode("x" as unknown as ReadableStream, w)).toThrow(
      "Cannot pipeToNode: source must be a ReadableStream, got string \"x\"",
    );
    const locked = streamOf(["a"]);
    locked.getReader();
    expect(() => pipeToNode(locked, w)).toThrow(/source is locked/);
    expect(() => pipeToNode(streamOf(["a"]), {} as Writable)).toThrow(/destination must be a Node Writable or response \(with a write method\), got Object/);
    expect(() => pipeToNode(streamOf(["a"]), w, { signal: {} as AbortSignal })).toThrow(/options.signal must be an AbortSignal, got Object/);
  });
});
