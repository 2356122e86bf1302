import { afterEach, beforeEach, describe, expect, inject, test, vi } from "vitest";
import fc from "fast-check";
import {
  SSE_KEEP_ALIVE,
  SseDecoderStream,
  type SseDecoderOptions,
  SseEncoderStream,
  type SseEvent,
  type SseMessage,
} from "../lib/sse.ts";
import { collect, collectBytes, cutAt, deferred, streamOf } from "./_support/util.ts";
import type { SseStep } from "./_support/servers/sse_route.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

async function encode(messages: (SseMessage | string)[]): Promise<string> {
  return text.decode(await collectBytes(streamOf(messages).pipeThrough(new SseEncoderStream())));
}

async function decode(pieces: (Uint8Array | string)[], options?: SseDecoderOptions): Promise<SseEvent[]> {
  return collect(streamOf(pieces).pipeThrough(new SseDecoderStream(options)));
}

/** Decodes a whole text given as UTF-8 bytes in one chunk. */
function decodeText(input: string, options?: SseDecoderOptions): Promise<SseEvent[]> {
  return decode([utf8.encode(input)], options);
}

// Taken before any test fakes the clock: settling and guards use real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const sleep = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

/** Fakes only the timers the encoder's keep-alive uses, so that `settle` still runs on real time. */
function fakeClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
}

/** Rejects when `promise` has not settled within `ms` of real time: a guard against a hang, not a wait. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = realSetTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    promise.then(
      (value) => (realClearTimeout(timer), resolve(value)),
      (error: unknown) => (realClearTimeout(timer), reject(error)),
    );
  });
}

/** Lets queued promise jobs (a write passing through a TransformStream, a read) settle. */
const settle = () => sleep(0);

/** Reads an encoder's output continuously into `got`, as a server response would. */
function drainInto(readable: ReadableStream<Uint8Array>, got: string[]): Promise<void> {
  const reader = readable.getReader();
  return (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) got.push(text.decode(r.value));
  })();
}

describe("SseEncoderStream", () => {
  test("SseEncoderStream writes fields as name: value lines and ends each message with a blank line", async () => {
    expect(await encode([{ data: "hello" }, { event: "price", id: "7", retry: 1500, data: "{\"bid\":12}" }])).toBe(
      "data: hello\n\nevent: price\nid: 7\nretry: 1500\ndata: {\"bid\":12}\n\n",
    );
  });

  test("SseEncoderStream takes a string as the data of a message", async () => {
    expect(await encode(["a", ""])).toBe("data: a\n\ndata: \n\n");
  });

  test("SseEncoderStream splits data on CRLF, CR and LF into several data lines", async () => {
    expect(await encode(["a\r\nb\rc\nd", "\n"])).toBe("data: a\ndata: b\ndata: c\ndata: d\n\ndata: \ndata: \n\n");
  });

  test("SseEncoderStream emits one UTF-8 chunk per message", async () => {
    const chunks = await collect(streamOf<SseMessage | string>(["é", { data: "x", id: "1" }]).pipeThrough(new SseEncoderStream()));
    expect(chunks.map((c) => text.decode(c))).toEqual(["data: é\n\n", "id: 1\ndata: x\n\n"]);
    expect(chunks[0]).toEqual(new Uint8Array([100, 97, 116, 97, 58, 32, 0xc3, 0xa9, 10, 10]));
  });

  test("SseEncoderStream keeps leading spaces and colons of values intact for the decoder", async () => {
    const bytes = await collectBytes(
      streamOf([{ data: " lead:ing", event: " e", id: " i" }]).pipeThrough(new SseEncoderStream()),
    );
    expect(await decode([bytes])).toEqual([{ data: " lead:ing", event: " e", id: " i", lastEventId: " i" }]);
  });

  test.each([
    [{ data: "x", event: "a\nb" }, /event must not contain LF/],
    [{ data: "x", event: "a\rb" }, /event must not contain CR/],
    [{ data: "x", id: "1\n" }, /id must not contain LF/],
    [{ data: "x", id: "1\0" }, /id must not contain NUL/],
    [{ data: "x", id: 1 }, /id must be a string, got number 1/],
    [{ data: 5 }, /data must be a string, got number 5/],
    [{ data: "x", retry: -1 }, /retry must be a non-negative safe integer, got number -1/],
    [{ data: "x", retry: 1.5 }, /retry must be a non-negative safe integer, got number 1.5/],
    [{ data: "x", retry: "10" }, /retry must be a non-negative safe integer, got string "10"/],
    [null, /expects an SseMessage or a string, got null/],
    [7, /expects an SseMessage or a string, got number 7/],
  ])("SseEncoderStream errors with a TypeError for %o", async (message, pattern) => {
    const error = await encode([message as SseMessage]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(pattern);
  });

  test("SseEncoderStream rejects a keepAliveMs that is not a positive number a timer can wait at construction", () => {
    // Past 2^31 - 1 ms, setTimeout fires at once: the keep-alive would flood the connection.
    for (const bad of [0, -5, Infinity, NaN, "10", 2 ** 31]) {
      expect(() => new SseEncoderStream({ keepAliveMs: bad as number })).toThrow(RangeError);
    }
    expect(() => new SseEncoderStream({ keepAliveMs: 0 })).toThrow(
      "Cannot construct SseEncoderStream: keepAliveMs must be a positive number of at most 2147483647, got number 0",
    );
    expect(() => new SseEncoderStream({ keepAliveMs: 3e9 })).toThrow(/keepAliveMs .* got number 3000000000$/);
    expect(new SseEncoderStream({ keepAliveMs: 2 ** 31 - 1 }).keepAliveMs).toBe(2 ** 31 - 1);
    expect(() => new SseEncoderStream(null as unknown as {})).toThrow(
      "Cannot construct SseEncoderStream: options must be an object, got null",
    );
  });

  test("SseEncoderStream is a TransformStream whose sides work with pipeThrough", async () => {
    const sse = new SseEncoderStream();
    expect(sse).toBeInstanceOf(TransformStream);
    expect(sse.readable).toBeInstanceOf(ReadableStream);
    expect(sse.writable).toBeInstanceOf(WritableStream);
    expect(text.decode(await collectBytes(streamOf(["a", "b"]).pipeThrough(sse)))).toBe("data: a\n\ndata: b\n\n");
  });

  describe("keep-alive on a fake clock", () => {
    beforeEach(fakeClock);
    afterEach(() => {
      vi.useRealTimers();
    });

    test("SseEncoderStream sends no keep-alive while messages come faster than keepAliveMs", async () => {
      const sse = new SseEncoderStream({ keepAliveMs: 1000 });
      const got: string[] = [];
      const done = drainInto(sse.readable, got);
      const writer = sse.writable.getWriter();
      for (let i = 0; i < 20; i++) {
        vi.advanceTimersByTime(999);
        await writer.write(String(i));
        await settle();
      }
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `data: ${i}\n\n`));
      expect(vi.getTimerCount()).toBe(1);
      await writer.close();
      await done;
      expect(vi.getTimerCount()).toBe(0);
    });

    test("SseEncoderStream sends a keep-alive after each keepAliveMs of idle time, counted from the last output", async () => {
      const sse = new SseEncoderStream({ keepAliveMs: 1000 });
      const got: string[] = [];
      const done = drainInto(sse.readable, got);
      const writer = sse.writable.getWriter();
      await settle();
      vi.advanceTimersByTime(999);
      await settle();
      expect(got).toEqual([]);
      vi.advanceTimersByTime(1);
      await settle();
      expect(got).toEqual([SSE_KEEP_ALIVE]);
      vi.advanceTimersByTime(1000);
      await settle();
      expect(got).toEqual([SSE_KEEP_ALIVE, SSE_KEEP_ALIVE]);
      vi.advanceTimersByTime(600);
      await writer.write("m");
      await settle();
      vi.advanceTimersByTime(999); // 1599 ms after the last keep-alive, 999 ms after the message
      await settle();
      expect(got).toEqual([SSE_KEEP_ALIVE, SSE_KEEP_ALIVE, "data: m\n\n"]);
      vi.advanceTimersByTime(1);
      await settle();
      expect(got).toEqual([SSE_KEEP_ALIVE, SSE_KEEP_ALIVE, "data: m\n\n", SSE_KEEP_ALIVE]);
      await writer.close();
      await done;
      vi.advanceTimersByTime(10_000);
      expect(got).toHaveLength(4);
      expect(vi.getTimerCount()).toBe(0);
    });

    test("SseEncoderStream sends no keep-alive while nobody reads, and at most one per read", async () => {
      const sse = new SseEncoderStream({ keepAliveMs: 100 });
      vi.advanceTimersByTime(300);
      expect(vi.getTimerCount()).toBe(0);
      const reader = sse.readable.getReader();
      const first = reader.read();
      await settle();
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(100);
      expect(text.decode((await first).value)).toBe(SSE_KEEP_ALIVE);
      // The reader is busy with what it got: nothing is armed, nothing piles up.
      vi.advanceTimersByTime(1000);
      expect(vi.getTimerCount()).toBe(0);
      const next = reader.read();
      await settle();
      vi.advanceTimersByTime(99);
      await settle();
      let nextDone = false;
      void next.then(() => (nextDone = true));
      await settle();
      expect(nextDone).toBe(false);
      vi.advanceTimersByTime(1);
      expect(text.decode((await next).value)).toBe(SSE_KEEP_ALIVE);
      await reader.cancel();
      expect(vi.getTimerCount()).toBe(0);
    });

    test("SseEncoderStream gives a slow reader every waiting message first, never a keep-alive in its place", async () => {
      const sse = new SseEncoderStream({ keepAliveMs: 5 });
      const writer = sse.writable.getWriter();
      const writes = Array.from({ length: 30 }, (_, i) => writer.write(`m${i}`));
      const reader = sse.readable.getReader();
      const got: string[] = [];
      for (let i = 0; i < 30; i++) {
        got.push(text.decode((await reader.read()).value));
        // The consumer takes 20 ms per chunk, four keep-alive intervals.
        vi.advanceTimersByTime(20);
        await settle();
      }
      expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `data: m${i}\n\n`));
      await Promise.all(writes);
      const idle = reader.read();
      await settle();
      vi.advanceTimersByTime(5);
      expect(text.decode((await idle).value)).toBe(SSE_KEEP_ALIVE);
      const closed = writer.close();
      expect(await reader.read()).toEqual({ done: true, value: undefined });
      await closed;
      expect(vi.getTimerCount()).toBe(0);
    });

    test("SseEncoderStream stops its keep-alive timer when cancelled, aborted or errored", async () => {
      const cancelled = new SseEncoderStream({ keepAliveMs: 100 });
      const cancelledReader = cancelled.readable.getReader();
      const cancelledRead = cancelledReader.read();
      await settle();
      expect(vi.getTimerCount()).toBe(1);
      await cancelledReader.cancel(new Error("gone"));
      expect(await cancelledRead).toEqual({ done: true, value: undefined });
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(1000);
      expect(vi.getTimerCount()).toBe(0);

      const aborted = new SseEncoderStream({ keepAliveMs: 100 });
      const abortedRead = aborted.readable.getReader().read();
      await settle();
      expect(vi.getTimerCount()).toBe(1);
      const reason = new Error("gone");
      await aborted.writable.abort(reason);
      await expect(abortedRead).rejects.toBe(reason);
      expect(vi.getTimerCount()).toBe(0);

      const errored = new SseEncoderStream({ keepAliveMs: 100 });
      const read = errored.readable.getReader().read();
      await settle();
      expect(vi.getTimerCount()).toBe(1);
      const writer = errored.writable.getWriter();
      await expect(writer.write({ data: "x", id: "a\nb" })).rejects.toThrow(TypeError);
      await expect(read).rejects.toThrow(TypeError);
      expect(vi.getTimerCount()).toBe(0);
    });

    test("SseEncoderStream stops its keep-alive timer when closed while a reader waits", async () => {
      const sse = new SseEncoderStream({ keepAliveMs: 100 });
      const reader = sse.readable.getReader();
      const read = reader.read();
      await settle();
      expect(vi.getTimerCount()).toBe(1);
      await sse.writable.close();
      expect(vi.getTimerCount()).toBe(0);
      expect(await read).toEqual({ done: true, value: undefined });
      vi.advanceTimersByTime(1000);
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  test("SseEncoderStream holds a write until a reader takes its message, with writer.ready waiting meanwhile", async () => {
    const sse = new SseEncoderStream();
    const writer = sse.writable.getWriter();
    let written = false;
    const write = writer.write("a").then(() => (written = true));
    await settle();
    expect(written).toBe(false);
    expect(writer.desiredSize).toBe(0);
    const reader = sse.readable.getReader();
    expect(text.decode((await reader.read()).value)).toBe("data: a\n\n");
    await write;
    expect(writer.desiredSize).toBe(1);
    await writer.ready;
  });

  test("SseEncoderStream settles an abort at once while a write waits for a reader that never comes", async () => {
    const sse = new SseEncoderStream({ keepAliveMs: 5 });
    const writer = sse.writable.getWriter();
    const first = writer.write("a");
    const second = writer.write("b");
    await settle(); // the first write is now in flight, waiting for a reader
    const reason = new Error("the client stalled");
    await within(writer.abort(reason), 2000, "writer.abort()");
    await expect(first).rejects.toBe(reason);
    await expect(second).rejects.toBe(reason);
    await expect(sse.readable.getReader().read()).rejects.toBe(reason);
  });

  test("SseEncoderStream rejects a waiting write and errors the writable side when the readable side is cancelled", async () => {
    const sse = new SseEncoderStream();
    const writer = sse.writable.getWriter();
    const write = writer.write("a");
    const reason = new Error("the client left");
    await sse.readable.cancel(reason);
    await expect(write).rejects.toBe(reason);
    await expect(writer.closed).rejects.toBe(reason);
  });

  test("SseEncoderStream with a 5 ms keep-alive and a consumer taking 20 ms per write delivers every message, then closes and aborts", async () => {
    // The reported scenario on real timers, bounded to about half a second.
    const consumerMs = 20;
    const messages = 15;
    const received: string[] = [];
    const run = async (end: "close" | "abort") => {
      received.length = 0;
      const sse = new SseEncoderStream({ keepAliveMs: 5 });
      const piped = sse.readable.pipeTo(new WritableStream<Uint8Array>({
        async write(chunk) {
          received.push(text.decode(chunk));
          await sleep(consumerMs);
        },
      })).catch((e: unknown) => e);
      const writer = sse.writable.getWriter();
      for (let i = 0; i < messages; i++) await within(writer.write(String(i)), 1000, `write ${i}`);
      if (end === "close") {
        await within(writer.close(), 1000, "writer.close()");
        expect(await within(piped, 1000, "the pipe")).toBeUndefined();
      } else {
        const reason = new Error("done");
        await within(writer.abort(reason), 1000, "writer.abort()");
        expect(await within(piped, 1000, "the pipe")).toBe(reason);
      }
      // Each write was called as soon as the last resolved: the reader never waited 5 ms for one.
      return received.filter((c) => c !== SSE_KEEP_ALIVE);
    };
    const expected = Array.from({ length: messages }, (_, i) => `data: ${i}\n\n`);
    expect(await run("close")).toEqual(expected);
    expect(received).toEqual(expected);
    expect(await run("abort")).toEqual(expected.slice(0, received.length));
    expect(received.length).toBeGreaterThanOrEqual(messages - 1);
    expect(received.filter((c) => c === SSE_KEEP_ALIVE)).toEqual([]);
  });

  test("SseEncoderStream uses the global setTimeout for its keep-alive by default", async () => {
    const sse = new SseEncoderStream({ keepAliveMs: 1 });
    const reader = sse.readable.getReader();
    expect(text.decode((await reader.read()).value)).toBe(SSE_KEEP_ALIVE);
    await reader.cancel();
  });

  test("SseEncoderStream passes cancellation through to the source with the reason", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<string>({
      pull(c) {
        c.enqueue("tick");
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const reader = source.pipeThrough(new SseEncoderStream()).getReader();
    await reader.read();
    const reason = new Error("stop");
    await reader.cancel(reason);
    expect(await cancelled.promise).toBe(reason);
  });
});

// The examples of the HTML standard, "Parsing an event stream" and "Interpreting an event stream".
const standardExamples: [string, string, SseEvent[]][] = [
  [
    "stock ticker: data lines joined with LF",
    "data: YHOO\ndata: +2\ndata: 10\n\n",
    [{ data: "YHOO\n+2\n10", event: "message", lastEventId: "" }],
  ],
  [
    "comment, id set, id reset, leading space kept after the one removed; the unterminated last block is dropped",
    ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
    [
      { data: "first event", event: "message", id: "1", lastEventId: "1" },
      { data: "second event", event: "message", id: "", lastEventId: "" },
    ],
  ],
  [
    "fields without a colon: empty data, a single newline, and a dropped last block",
    "data\n\ndata\ndata\n\ndata:",
    [
      { data: "", event: "message", lastEventId: "" },
      { data: "\n", event: "message", lastEventId: "" },
    ],
  ],
  [
    "the space after the colon is optional",
    "data:test\n\ndata: test\n\n",
    [
      { data: "test", event: "message", lastEventId: "" },
      { data: "test", event: "message", lastEventId: "" },
    ],
  ],
];

const edgeCases: [string, string, SseEvent[]][] = [
  ["CRLF line ends", "data: a\r\n\r\n", [{ data: "a", event: "message", lastEventId: "" }]],
  ["CR line ends", "data: a\r\rdata: b\r\r", [{ data: "a", event: "message", lastEventId: "" }, { data: "b", event: "message", lastEventId: "" }]],
  ["mixed line ends", "data: a\rdata: b\r\ndata: c\n\r\n", [{ data: "a\nb\nc", event: "message", lastEventId: "" }]],
  ["a leading BOM is dropped", "\uFEFFdata: a\n\n", [{ data: "a", event: "message", lastEventId: "" }]],
  ["only one BOM is dropped", "\uFEFF\uFEFFdata: a\n\n", []],
  ["a BOM inside data is kept", "data: \uFEFFa\n\n", [{ data: "\uFEFFa", event: "message", lastEventId: "" }]],
  ["event sets the type", "event: add\ndata: 1\n\n", [{ data: "1", event: "add", lastEventId: "" }]],
  ["an empty event falls back to message", "event\ndata: 1\n\n", [{ data: "1", event: "message", lastEventId: "" }]],
  ["the last event field wins", "event: a\nevent: b\ndata: 1\n\n", [{ data: "1", event: "b", lastEventId: "" }]],
  ["the event type does not carry over", "event: a\ndata: 1\n\ndata: 2\n\n", [{ data: "1", event: "a", lastEventId: "" }, { data: "2", event: "message", lastEventId: "" }]],
  ["an event type without data is not dispatched and does not carry over", "event: a\n\ndata: 2\n\n", [{ data: "2", event: "message", lastEventId: "" }]],
  ["no data, no event", "id: 1\n\nretry: 5\n\n: c\n\n\n\n", []],
  ["lastEventId carries across events and is set by a dataless block", "id: 1\n\ndata: a\n\nid: 2\ndata: b\n\ndata: c\n\n", [
    { data: "a", event: "message", lastEventId: "1" },
    { data: "b", event: "message", id: "2", lastEventId: "2" },
    { data: "c", event: "message", lastEventId: "2" },
  ]],
  ["an id with NUL is ignored", "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", [
    { data: "a", event: "message", id: "1", lastEventId: "1" },
    { data: "b", event: "message", lastEventId: "1" },
  ]],
  ["retry with digits only", "retry: 3000\ndata: a\n\n", [{ data: "a", event: "message", lastEventId: "", retry: 3000 }]],
  ["retry with a non-digit, a sign, a space or empty is ignored", "retry: 30a\nretry: -1\nretry: 1 \nretry:\nretry\ndata: a\n\n", [{ data: "a", event: "message", lastEventId: "" }]],
  ["unknown fields and field names with spaces are ignored", "foo: bar\ndata : x\n Data: y\nDATA: z\ndata: a\n\n", [{ data: "a", event: "message", lastEventId: "" }]],
  ["a value may contain colons", "data: a: b:c\n\n", [{ data: "a: b:c", event: "message", lastEventId: "" }]],
  ["only one leading space is removed", "data:   a \n\n", [{ data: "  a ", event: "message", lastEventId: "" }]],
  ["a tab after the colon is kept", "data:\ta\n\n", [{ data: "\ta", event: "message", lastEventId: "" }]],
  ["a comment line does not end the event", "data: a\n: ping\ndata: b\n\n", [{ data: "a\nb", event: "message", lastEventId: "" }]],
  ["a trailing empty data line adds a newline", "data: a\ndata\n\n", [{ data: "a\n", event: "message", lastEventId: "" }]],
  ["the last event without a blank line is dropped", "data: a\n\ndata: b\n", [{ data: "a", event: "message", lastEventId: "" }]],
  ["a last line without a line end is dropped", "data: a\n\ndata: b", [{ data: "a", event: "message", lastEventId: "" }]],
  ["NUL in data is kept", "data: a\0b\n\n", [{ data: "a\0b", event: "message", lastEventId: "" }]],
  ["non-ASCII text", "data: 価格 €\n\n", [{ data: "価格 €", event: "message", lastEventId: "" }]],
  ["the encoder's keep-alive dispatches nothing", SSE_KEEP_ALIVE + "data: a\n\n" + SSE_KEEP_ALIVE, [{ data: "a", event: "message", lastEventId: "" }]],
];

describe("SseDecoderStream", () => {
  test.each(standardExamples)("SseDecoderStream follows the standard's example: %s", async (_name, input, expected) => {
    expect(await decodeText(input)).toEqual(expected);
  });

  test.each(edgeCases)("SseDecoderStream edge case: %s", async (_name, input, expected) => {
    expect(await decodeText(input)).toEqual(expected);
  });

  test("SseDecoderStream gives the same events however the bytes are cut, including inside CRLF and UTF-8 sequences", async () => {
    for (const [, input, expected] of [...standardExamples, ...edgeCases]) {
      const bytes = utf8.encode(input);
      for (let a = 0; a <= bytes.length; a++) {
        expect(await decode(cutAt(bytes, [a]))).toEqual(expected);
      }
      expect(await decode(cutAt(bytes, Array.from({ length: bytes.length }, (_, i) => i)))).toEqual(expected);
    }
  });

  test("SseDecoderStream joins a CR at the end of one chunk and an LF at the start of the next into one line end", async () => {
    expect(await decode(["data: a\r", "\ndata: b\r", "\n\r", "\n"])).toEqual([{ data: "a\nb", event: "message", lastEventId: "" }]);
    expect(await decode([utf8.encode("data: a\r"), utf8.encode("\r"), utf8.encode("\n")])).toEqual([
      { data: "a", event: "message", lastEventId: "" },
    ]);
  });

  test("SseDecoderStream accepts strings and bytes in one stream", async () => {
    expect(await decode(["data: a", utf8.encode("b\n"), "\n"])).toEqual([{ data: "ab", event: "message", lastEventId: "" }]);
  });

  test("SseDecoderStream drops a BOM only at the start of the stream, also when split across chunks", async () => {
    const bom = utf8.encode("\uFEFF");
    expect(await decode([bom.subarray(0, 1), bom.subarray(1), utf8.encode("data: a\n\n")])).toEqual([
      { data: "a", event: "message", lastEventId: "" },
    ]);
    expect(await decode(["\uFEFFdata: a\n\n"])).toEqual([{ data: "a", event: "message", lastEventId: "" }]);
    // After the first character, a BOM starts a field named "\uFEFFdata", which is ignored.
    expect(await decode(["\n", utf8.encode("\uFEFFdata: a\n\n")])).toEqual([]);
  });

  test("SseDecoderStream replaces invalid UTF-8 with U+FFFD, also a sequence cut off by a string chunk", async () => {
    expect(await decode([new Uint8Array([100, 97, 116, 97, 58, 0xff, 10, 10])])).toEqual([
      { data: "\uFFFD", event: "message", lastEventId: "" },
    ]);
    expect(await decode([utf8.encode("data:"), new Uint8Array([0xe2, 0x82]), "\n\n"])).toEqual([
      { data: "\uFFFD", event: "message", lastEventId: "" },
    ]);
  });

  test("SseDecoderStream waits for the reader when one chunk holds more events than it queues", async () => {
    const count = 20_000;
    const stream = new SseDecoderStream();
    const writer = stream.writable.getWriter();
    let written = false;
    const write = writer.write(Array.from({ length: count }, (_, i) => `data: ${i}\n\n`).join("")).then(() => (written = true));
    await settle();
    await settle();
    expect(written).toBe(false);
    const reader = stream.readable.getReader();
    let mismatches = 0;
    for (let i = 0; i < count; i++) if ((await reader.read()).value?.data !== String(i)) mismatches++;
    expect(mismatches).toBe(0);
    await write;
    expect(written).toBe(true);
    await writer.close();
    expect((await reader.read()).done).toBe(true);
  });

  test("SseDecoderStream exposes the last event ID and the reconnection time, also from blocks without data", async () => {
    const decoder = new SseDecoderStream();
    const events = await collect(streamOf(["data: a\nid: 1\n\nretry: 250\n\nid: 2\n\n"]).pipeThrough(decoder));
    expect(events).toEqual([{ data: "a", event: "message", id: "1", lastEventId: "1" }]);
    expect(decoder.lastEventId).toBe("2");
    expect(decoder.retry).toBe(250);
    expect(new SseDecoderStream().retry).toBeUndefined();
  });

  test("SseDecoderStream errors with a RangeError when a line without a line end passes maxLineLength", async () => {
    const writes: number[] = [];
    let cancelled: unknown;
    const source = new ReadableStream<string>({
      pull(c) {
        writes.push(writes.length);
        c.enqueue("data: " + "x".repeat(100));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const error = await collect(source.pipeThrough(new SseDecoderStream({ maxLineLength: 1000 }))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/SseDecoderStream: a line exceeded maxLineLength \(1000 characters\)/);
    expect(writes.length).toBeLessThanOrEqual(12);
    expect(cancelled).toBe(error);
  });

  test("SseDecoderStream errors with a RangeError when an event's data passes maxEventSize", async () => {
    const lines = "data: 123456789\n".repeat(10);
    expect(await decodeText(lines + "\n", { maxEventSize: 100 })).toHaveLength(1);
    await expect(decodeText(lines + "data: x\n\n", { maxEventSize: 100 })).rejects.toThrow(
      /SseDecoderStream: an event exceeded maxEventSize \(100 characters\) at 102 characters/,
    );
    // Events below the limit, one after another, never add up.
    expect(await decodeText(("data: 123456789\n\n").repeat(50), { maxEventSize: 10 })).toHaveLength(50);
  });

  test("SseDecoderStream names its event limit maxEventLength and still takes the deprecated maxEventSize", async () => {
    const lines = "data: 123456789\n".repeat(10);
    await expect(decodeText(lines + "data: x\n\n", { maxEventLength: 100 })).rejects.toThrow(
      /SseDecoderStream: an event exceeded maxEventLength \(100 characters\) at 102 characters/,
    );
    expect(await decodeText(lines + "\n", { maxEventLength: 100 })).toHaveLength(1);
    const renamed = new SseDecoderStream({ maxEventLength: 64 });
    expect([renamed.maxEventLength, renamed.maxEventSize, renamed.maxLineLength]).toEqual([64, 64, 80]);
    const old = new SseDecoderStream({ maxEventSize: 64 });
    expect([old.maxEventLength, old.maxEventSize, old.maxLineLength]).toEqual([64, 64, 80]);
    expect(new SseDecoderStream({ maxEventLength: 64, maxEventSize: 64 }).maxEventLength).toBe(64);
    expect(() => new SseDecoderStream({ maxEventLength: 64, maxEventSize: 65 })).toThrow(
      "Cannot construct SseDecoderStream: maxEventSize is the deprecated name of maxEventLength; give one of them, got number 64 and number 65",
    );
    expect(() => new SseDecoderStream({ maxEventLength: 0 })).toThrow(
      "Cannot construct SseDecoderStream: maxEventLength must be a positive safe integer, got number 0",
    );
    expect(() => new SseDecoderStream(null as unknown as {})).toThrow(
      "Cannot construct SseDecoderStream: options must be an object, got null",
    );
  });

  test("SseDecoderStream rejects limits that are not positive safe integers at construction", () => {
    expect(() => new SseDecoderStream({ maxEventSize: 0 })).toThrow(
      "Cannot construct SseDecoderStream: maxEventSize must be a positive safe integer, got number 0",
    );
    expect(() => new SseDecoderStream({ maxLineLength: 1.5 })).toThrow(RangeError);
    expect(new SseDecoderStream().maxEventSize).toBe(4 * 1024 * 1024);
    expect(new SseDecoderStream({ maxEventSize: 64 }).maxLineLength).toBe(80);
  });

  test("SseDecoderStream errors with a TypeError for a chunk that is neither bytes nor a string", async () => {
    await expect(decode([42 as unknown as string])).rejects.toThrow(
      "SseDecoderStream expects Uint8Array or string chunks, got number 42",
    );
  });
});

describe("SseEncoderStream -> SseDecoderStream", () => {
  const unit = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom("\r", "\n", "\r\n", ":", " ", "\uFEFF", "\0", "é", "😀") },
  );
  const str = fc.string({ unit, maxLength: 12 });
  const noBreaks = str.map((s) => s.replace(/[\r\n]/g, ""));
  const message: fc.Arbitrary<SseMessage | string> = fc.oneof(
    str,
    fc.record(
      { data: str, event: noBreaks, id: noBreaks.map((s) => s.replace(/\0/g, "")), retry: fc.nat() },
      { requiredKeys: ["data"] },
    ),
  );

  test("SseEncoderStream -> SseDecoderStream round trips any messages cut at any byte", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), async (messages, cuts) => {
        const bytes = await collectBytes(streamOf(messages).pipeThrough(new SseEncoderStream()));
        const events = await decode(cutAt(bytes, cuts.map((c) => c % (bytes.length + 1))));
        let lastEventId = "";
        const expected = messages.map((m): SseEvent => {
          const msg = typeof m === "string" ? { data: m } : m;
          if (msg.id !== undefined) lastEventId = msg.id;
          const e: SseEvent = { data: msg.data.replace(/\r\n|\r/g, "\n"), event: msg.event || "message", lastEventId };
          if (msg.id !== undefined) e.id = msg.id;
          if (msg.retry !== undefined) e.retry = msg.retry;
          return e;
        });
        expect(events).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

/** What an EventSource shows of an event. */
type Received = { type: string; data: string; lastEventId: string };

/**
 * Opens an EventSource and records every event of `types` until one of type
 * `until` arrives (without `until`: until the first response ends), and how
 * often it connected; closes it in every case.
 */
function receive(url: string, types: Iterable<string>, until?: string): Promise<{ events: Received[]; opens: number }> {
  return new Promise((resolve, reject) => {
    const source = new EventSource(url);
    const events: Received[] = [];
    let opens = 0;
    const finish = (error?: Error) => {
      clearTimeout(timer);
      source.close();
      if (error) reject(error);
      else resolve({ events, opens });
    };
    // Only a guard against hanging: nothing here depends on how fast events arrive.
    const timer = setTimeout(() => finish(new Error(`no ${until === undefined ? "end of the response" : `${until} event`} in 20 s; got ${JSON.stringify(events)}`)), 20_000);
    source.onopen = () => opens++;
    source.onerror = () => {
      // An ended response only makes it reconnect; CLOSED means it gave up (not an event stream, CORS).
      if (source.readyState === EventSource.CLOSED) finish(new Error(`EventSource failed; got ${JSON.stringify(events)}`));
      else if (until === undefined) finish();
    };
    for (const type of new Set(types)) {
      source.addEventListener(type, (event) => {
        const { data, lastEventId } = event as MessageEvent<string>;
        events.push({ type, data, lastEventId });
        if (type === until) finish();
      });
    }
  });
}

// The test servers' /sse route writes a script through SseEncoderStream (see
// test/_support/servers/sse_route.ts); a real EventSource must receive exactly these events.
describe("SseEncoderStream over HTTP", () => {
  // Browser projects are named "chromium (chromium)": the project, then the instance.
  const runtime = inject("runtime").split(" ")[0]!;
  const inBrowser = runtime === "chromium" || runtime === "firefox" || runtime === "webkit";
  const httpUrl = inject("httpUrl");
  // Browsers are launched to accept the self-signed certificate; Deno's EventSource cannot be told to trust it.
  const bases = inBrowser ? [httpUrl, inject("http2Url")] : [httpUrl];

  const script: SseStep[] = [
    { keepAlives: 1 }, // a comment before any event
    { send: "plain" },
    { send: { event: "multi", data: "line one\nline two\r\nline three\rend" } },
    { send: { event: "ünïcödé", id: "ид-1", data: "価格 € 😀" } },
    { send: { data: " one leading space: and colons:" } },
    { keepAlives: 2 },
    { send: { event: "empty", data: "" } },
    { send: { event: "blank-lines", data: "\n" } },
    { send: { id: "", data: "an empty id resets the last event ID\n" } },
    { send: { event: "message", id: "42", retry: 50, data: "{\"n\":1}" } },
    { keepAlives: 1 },
    { send: { event: "end", data: "after a keep-alive, the last event ID carries over" } },
  ];
  const expected: Received[] = [
    { type: "message", data: "plain", lastEventId: "" },
    { type: "multi", data: "line one\nline two\nline three\nend", lastEventId: "" },
    { type: "ünïcödé", data: "価格 € 😀", lastEventId: "ид-1" },
    { type: "message", data: " one leading space: and colons:", lastEventId: "ид-1" },
    { type: "empty", data: "", lastEventId: "ид-1" },
    { type: "blank-lines", data: "\n", lastEventId: "ид-1" },
    { type: "message", data: "an empty id resets the last event ID\n", lastEventId: "" },
    { type: "message", data: "{\"n\":1}", lastEventId: "42" },
    { type: "end", data: "after a keep-alive, the last event ID carries over", lastEventId: "42" },
  ];
  const urlOf = (base: string) => `${base}/sse?keepAliveMs=20&script=${encodeURIComponent(JSON.stringify(script))}`;

  test.runIf(typeof EventSource === "function").each(bases)(
    "a real EventSource receives exactly the encoded events, keep-alives unseen, and reconnects with the last event ID (%s)",
    async (base) => {
      const types = [...expected.map((e) => e.type), "reconnected"];
      const { events, opens } = await receive(urlOf(base), types, "reconnected");
      // workerd's EventSource does not dispatch an event whose data is empty (see workerdShows below).
      const shown = runtime === "workerd" ? expected.filter((e) => e.data !== "") : expected;
      // The response ends after "end"; after the 50 ms of `retry` the client comes back with Last-Event-ID: 42.
      expect(events).toEqual([...shown, { type: "reconnected", data: "42", lastEventId: "42" }]);
      expect(opens).toBe(2);
    },
  );

  // Not in the polyfill run: Node 20's fetch stops delivering a response body that arrives over time
  // once the stream globals are replaced (the decoder itself is tested there above).
  test.skipIf(runtime === "polyfill").each([httpUrl])("SseDecoderStream reads the same events from the HTTP response as it arrives (%s)", async (base) => {
    const response = await fetch(urlOf(base));
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const chunks: Uint8Array[] = [];
    const reader = response.body!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    const events = await decode(chunks);
    expect(events.map(({ event, data, lastEventId }) => ({ type: event, data, lastEventId }))).toEqual(expected);
  });
});

// The same inputs given to a real EventSource: SseDecoderStream must agree with it on every one.
describe.runIf(typeof EventSource === "function")("SseDecoderStream against a real EventSource", () => {
  const httpUrl = inject("httpUrl");
  // Where Firefox (ESR 153) departs from the standard, and Chromium and Deno follow it:
  // it does not let a block without data set the last event ID (the standard's dispatch
  // sets it before it checks for data), and it mishandles NUL: it drops it from data, and
  // an id with NUL loses the event it belongs to instead of only the id.
  const firefoxDeparts = new Set([
    "lastEventId carries across events and is set by a dataless block",
    "an id with NUL is ignored",
    "NUL in data is kept",
  ]);
  // What workerd's EventSource shows where it departs from the standard (SseDecoderStream,
  // which follows the standard there too, is what to use in a Worker): it does not dispatch an
  // event whose data is empty, nor one whose type is empty as "message", and it keeps an id with NUL.
  const workerdShows: Record<string, Received[]> = {
    "fields without a colon: empty data, a single newline, and a dropped last block": [{ type: "message", data: "\n", lastEventId: "" }],
    "an empty event falls back to message": [],
    "an id with NUL is ignored": [
      { type: "message", data: "a", lastEventId: "1" },
      { type: "message", data: "b", lastEventId: "2\0x" },
    ],
  };
  const runtime = inject("runtime").split(" ")[0]!;

  test.for([...standardExamples, ...edgeCases])("SseDecoderStream and EventSource agree: %s", async ([name, input, expected], context) => {
    if (runtime === "firefox" && firefoxDeparts.has(name)) context.skip();
    const url = `${httpUrl}/sse?raw=${encodeURIComponent(input)}`;
    const received = await receive(url, ["message", ...expected.map((e) => e.event)]);
    expect(received.opens).toBe(1);
    // EventSource has no per-event id or retry: compare what it shows.
    const standard = expected.map(({ data, event, lastEventId }) => ({ type: event, data, lastEventId }));
    expect(received.events).toEqual(runtime === "workerd" ? workerdShows[name] ?? standard : standard);
  });
});
