import { describe, expect, test } from "vitest";
import { broadcast, SubscriberOverflowError } from "../lib/broadcast.ts";
import { BranchOverflowError } from "../lib/tee.ts";
import { collect, deferred, streamOf } from "./_support/util.ts";

/** A source fed by hand: `push` values, `close()` or `error()` it; counts pulls and notes its cancel. */
function feed<T>() {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let end: { error?: unknown } | undefined;
  const cancelled = deferred<unknown>();
  const state = {
    pulls: 0,
    cancelled: cancelled.promise,
    stream: new ReadableStream<T>({
      async pull(c) {
        state.pulls++;
        while (queue.length === 0 && !end) await new Promise<void>((r) => (wake = r));
        if (queue.length > 0) c.enqueue(queue.shift()!);
        else if (end!.error !== undefined) c.error(end!.error);
        else c.close();
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    }, { highWaterMark: 0 }),
    push(...values: T[]) {
      queue.push(...values);
      wake?.();
    },
    close() {
      end = {};
      wake?.();
    },
    error(reason: unknown) {
      end = { error: reason };
      wake?.();
    },
    /** Values pushed and not yet pulled by the broadcast. */
    get unread() {
      return queue.length;
    },
  };
  return state;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const ticks = (from: number, to: number) => range(from, to).map((i) => ({ id: String(i), data: `tick ${i}` }));
/** Lets the promise jobs of the streams involved run (a read passing through a few pipes). */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe("broadcast", () => {
  test("broadcast gives every subscriber every chunk in order, then the end, with a closed report", async () => {
    const hub = broadcast(streamOf(range(0, 100)));
    const a = hub.subscribe();
    const b = hub.subscribe();
    expect(hub.subscribers).toBe(2);
    const [ga, gb] = await Promise.all([collect(a), collect(b)]);
    expect(ga).toEqual(range(0, 100));
    expect(gb).toEqual(range(0, 100));
    expect(await a.report).toEqual({ index: 0, status: "closed", chunks: 100, bytes: 0 });
    expect(await b.report).toEqual({ index: 1, status: "closed", chunks: 100, bytes: 0 });
    expect(await hub.done).toEqual({ status: "closed", chunks: 100, subscribers: 2 });
    expect(hub.subscribers).toBe(0);
  });

  test("broadcast gives a subscriber that joins later the chunks from then on", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream);
    const early = hub.subscribe().getReader();
    source.push(1, 2);
    expect((await early.read()).value).toBe(1);
    expect((await early.read()).value).toBe(2);
    const late = hub.subscribe();
    source.push(3, 4);
    source.close();
    expect(await collect(late)).toEqual([3, 4]);
    expect((await early.read()).value).toBe(3);
    expect((await early.read()).value).toBe(4);
    expect((await early.read()).done).toBe(true);
  });

  test("broadcast drops a subscriber that falls more than its highWaterMark of chunks behind, and the others never wait for it", async () => {
    const source = feed<{ id: string; data: string }>();
    const hub = broadcast(source.stream);
    const stalled = hub.subscribe({ highWaterMark: 16 }); // never read
    const fast = hub.subscribe({ highWaterMark: 16 });
    const reader = fast.getReader();
    const got: string[] = [];
    const readAll = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) got.push(r.value.id);
    })();
    source.push(...ticks(0, 16));
    while (got.length < 16) await settle();
    // 16 chunks unread are allowed...
    expect(hub.subscribers).toBe(2);
    source.push(...ticks(16, 17));
    // ... the 17th is not.
    const report = await stalled.report;
    expect(hub.subscribers).toBe(1);
    source.push(...ticks(17, 100));
    source.close();
    await readAll;
    expect(got).toEqual(range(0, 100).map(String));
    expect(report.status).toBe("detached");
    expect(report.chunks).toBe(0);
    expect(report.reason).toBeInstanceOf(SubscriberOverflowError);
    expect(report.reason).toBeInstanceOf(BranchOverflowError);
    expect((report.reason as Error).message).toBe(
      "broadcast subscriber 0 fell more than its highWaterMark of 16 behind the source, so it was dropped",
    );
    await expect(stalled.getReader().read()).rejects.toBe(report.reason);
    expect((await fast.report).status).toBe("closed");
  });

  test("broadcast counts a byte subscriber's bound in bytes", async () => {
    const source = feed<Uint8Array>();
    const hub = broadcast(source.stream);
    const slow = hub.subscribe({ highWaterMark: 4000 });
    const fast = hub.subscribe();
    const slowReader = slow.getReader();
    const fastReader = fast.getReader();
    const chunk = (i: number) => new Uint8Array(1000).fill(i);
    // The slow one reads one chunk, then stops: 4 more (4000 bytes) are allowed, the fifth is not.
    const first = slowReader.read();
    source.push(chunk(0));
    expect((await fastReader.read()).value![0]).toBe(0);
    expect((await first).value![0]).toBe(0);
    for (let i = 1; i <= 4; i++) {
      source.push(chunk(i));
      expect((await fastReader.read()).value![0]).toBe(i);
    }
    expect(hub.subscribers).toBe(2);
    source.push(chunk(5));
    expect((await fastReader.read()).value![0]).toBe(5);
    expect(hub.subscribers).toBe(1);
    source.close();
    expect((await fastReader.read()).done).toBe(true);
    expect(await slow.report).toEqual({
      index: 0, status: "detached", chunks: 1, bytes: 1000, reason: new SubscriberOverflowError(0, 4000),
    });
    expect(await fast.report).toEqual({ index: 1, status: "closed", chunks: 6, bytes: 6000 });
  });

  test("broadcast with highWaterMark 0 drops a subscriber that is not waiting when a chunk arrives", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream);
    const keepUp = hub.subscribe({ highWaterMark: 0 });
    const other = hub.subscribe().getReader();
    const k = keepUp.getReader();
    source.push(1);
    expect((await k.read()).value).toBe(1);
    expect((await other.read()).value).toBe(1);
    source.push(2); // keepUp is not reading now
    expect((await other.read()).value).toBe(2);
    expect((await keepUp.report).status).toBe("detached");
  });

  test("broadcast replays the chunks after a Last-Event-ID from its window, not counted against the bound", async () => {
    const source = feed<{ id: string; data: string }>();
    const hub = broadcast(source.stream, { replay: 20, whenIdle: "drain" });
    source.push(...ticks(0, 30));
    await settle();
    while (source.unread > 0) await settle();
    // The last 20 are kept (10..29): a client that saw 24 gets 25..29, then what comes.
    const back = hub.subscribe({ after: "24", highWaterMark: 2 });
    expect(back.gap).toBe(false);
    source.push(...ticks(30, 32));
    await settle();
    source.close();
    expect((await collect(back)).map((m) => m.id)).toEqual(range(25, 32).map(String));
    expect((await back.report).status).toBe("closed");
  });

  test("broadcast gives the whole window and says gap when the Last-Event-ID is no longer kept", async () => {
    const hub = broadcast(streamOf(ticks(0, 30)), { replay: 5, whenIdle: "drain" });
    expect((await hub.done).status).toBe("closed");
    const back = hub.subscribe({ after: "3" });
    expect(back.gap).toBe(true);
    expect((await collect(back)).map((m) => m.id)).toEqual(["25", "26", "27", "28", "29"]);
    const current = hub.subscribe({ after: "29" });
    expect(current.gap).toBe(false);
    expect(await collect(current)).toEqual([]);
    expect(await collect(hub.subscribe())).toEqual([]);
  });

  test("broadcast finds replay ids with the id option", async () => {
    const hub = broadcast(streamOf(range(0, 10)), { replay: 10, whenIdle: "drain", id: (n) => `n${n}` });
    await hub.done;
    expect(await collect(hub.subscribe({ after: "n7" }))).toEqual([8, 9]);
  });

  test("broadcast drops a cancelled subscriber with its reason and goes on for the others", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream);
    const leaving = hub.subscribe();
    const staying = hub.subscribe().getReader();
    source.push(1);
    expect((await staying.read()).value).toBe(1);
    const reason = new Error("the client left");
    await leaving.cancel(reason);
    expect(await leaving.report).toEqual({ index: 0, status: "cancelled", reason, chunks: 0, bytes: 0 });
    source.push(2);
    expect((await staying.read()).value).toBe(2);
    expect(hub.subscribers).toBe(1);
  });

  test("broadcast pauses the source while nobody is subscribed by default, and resumes for a new subscriber", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream);
    await settle();
    expect(source.pulls).toBe(0);
    const a = hub.subscribe().getReader();
    source.push(1, 2, 3);
    expect((await a.read()).value).toBe(1);
    await a.cancel();
    await settle();
    const pulls = source.pulls;
    await settle();
    expect(source.pulls).toBe(pulls);
    expect(source.unread).toBe(2);
    const b = hub.subscribe().getReader();
    expect((await b.read()).value).toBe(2);
  });

  test("broadcast with whenIdle drain keeps reading while nobody is subscribed", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream, { whenIdle: "drain", replay: 2 });
    source.push(1, 2, 3, 4);
    while (source.unread > 0) await settle();
    source.close();
    expect(await hub.done).toEqual({ status: "closed", chunks: 4, subscribers: 0 });
  });

  test("broadcast with whenIdle cancel cancels the source with the last subscriber's reason", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream, { whenIdle: "cancel" });
    const a = hub.subscribe();
    const b = hub.subscribe();
    await a.cancel(new Error("first"));
    const last = new Error("last");
    await b.cancel(last);
    expect(await source.cancelled).toBe(last);
    expect(await hub.done).toEqual({ status: "cancelled", reason: last, chunks: 0, subscribers: 2 });
    await expect(hub.subscribe().getReader().read()).rejects.toBe(last);
  });

  test("broadcast errors every subscriber with the source's error, also one that subscribes later", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream);
    const a = hub.subscribe();
    const b = hub.subscribe().getReader();
    source.push(1);
    expect((await b.read()).value).toBe(1);
    const failure = new Error("feed broke");
    source.error(failure);
    await expect(b.read()).rejects.toBe(failure);
    await expect(a.getReader().read()).rejects.toBe(failure);
    expect(await a.report).toEqual({ index: 0, status: "errored", reason: failure, chunks: 0, bytes: 0 });
    const late = hub.subscribe();
    await expect(late.getReader().read()).rejects.toBe(failure);
    expect((await late.report).status).toBe("errored");
    expect(await hub.done).toEqual({ status: "errored", reason: failure, chunks: 1, subscribers: 2 });
  });

  test("broadcast.cancel cancels the source and errors every subscriber with the reason", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream);
    const a = hub.subscribe();
    const reason = new Error("shutting down");
    await hub.cancel(reason);
    expect(await source.cancelled).toBe(reason);
    await expect(a.getReader().read()).rejects.toBe(reason);
    expect((await a.report).status).toBe("errored");
    expect((await hub.done).status).toBe("cancelled");
  });

  test("broadcast fails everything with a RangeError when size returns a bad number", async () => {
    const source = feed<number>();
    const hub = broadcast(source.stream, { size: () => -1 });
    const a = hub.subscribe();
    source.push(1);
    const error = await a.getReader().read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe("broadcast: size must return a finite non-negative number, got number -1");
    expect(await source.cancelled).toBe(error);
  });

  test("broadcast and subscribe reject bad arguments at the call", () => {
    expect(() => broadcast("x" as unknown as ReadableStream)).toThrow("Cannot broadcast: source must be a ReadableStream, got string \"x\"");
    const locked = streamOf([1]);
    locked.getReader();
    expect(() => broadcast(locked)).toThrow(/source is locked/);
    expect(() => broadcast(streamOf([1]), { replay: -1 })).toThrow(RangeError);
    expect(() => broadcast(streamOf([1]), { replay: 1.5 })).toThrow("Cannot broadcast: replay must be a non-negative safe integer, got number 1.5");
    expect(() => broadcast(streamOf([1]), { whenIdle: "stop" as "pause" })).toThrow(/whenIdle must be "pause", "drain" or "cancel", got string "stop"/);
    expect(() => broadcast(streamOf([1]), { size: 3 as unknown as () => number })).toThrow(TypeError);
    expect(() => broadcast(streamOf([1]), null as unknown as {})).toThrow("Cannot broadcast: options must be an object, got null");
    const hub = broadcast(streamOf([1]));
    expect(() => hub.subscribe({ highWaterMark: -1 })).toThrow("Cannot subscribe: highWaterMark must be a non-negative number, got number -1");
    expect(() => hub.subscribe({ highWaterMark: "1" as unknown as number })).toThrow(TypeError);
    expect(() => hub.subscribe({ after: 5 as unknown as string })).toThrow("Cannot subscribe: after must be a string, got number 5");
  });

  test("broadcast subscribers work through pipes: a failed destination cancels only its subscriber", async () => {
    const hub = broadcast(streamOf(range(0, 50)));
    const broken = hub.subscribe({ highWaterMark: Infinity });
    const good = hub.subscribe();
    const failure = new Error("socket reset");
    let writes = 0;
    const pipe = broken.pipeTo(new WritableStream({
      write() {
        if (++writes === 3) throw failure;
      },
    }));
    const all = collect(good);
    await expect(pipe).rejects.toBe(failure);
    expect(await all).toEqual(range(0, 50));
    expect(await broken.report).toMatchObject({ status: "cancelled", reason: failure });
  });
});
