// Many SSE clients on loopback: one Node server (broadcast + SseEncoderStream + pipeToNode, in a
// child process so that its memory is measured alone), real EventSource clients that must get
// every event in order, and clients that stop reading midway and must be dropped at their bound
// while the server's memory stays flat. This is the small variant, bounded to about ten seconds on
// a busy machine; `npm run bench -- --file=sse` runs the full one (500 clients, 10,000 events).
import { expect, inject, test } from "vitest";
import { runSseLoad } from "../_support/servers/sse_load.ts";

const MiB = 2 ** 20;
// The server runs in Node (a child process started through tsx); the polyfill run cannot read
// responses that arrive over time with Node's fetch (see test/sse.test.ts), and Deno does not run
// the child through tsx. The broadcast and the adapter themselves are tested in every runtime.
const runtime = inject("runtime");

test.runIf(runtime === "node")(
  "100 SSE clients get 6,000 events in order while 10 that stop reading midway are dropped, with the server's memory flat",
  async () => {
    const clients = 100;
    const stalled = 10;
    const events = 6000;
    const r = await runSseLoad({ clients, stalled, events, stallAt: events / 2, perTick: 3, timeoutMs: 90_000 });
    console.log(
      `SSE load: ${clients} clients, ${events} events in ${r.sendMs} ms; server heap after GC ${(r.before.heapUsed / MiB).toFixed(1)} -> ` +
        `${(r.after.heapUsed / MiB).toFixed(1)} MiB, RSS ${(r.before.rss / MiB).toFixed(1)} -> peak ${(r.after.peakRss / MiB).toFixed(1)} MiB`,
    );
    expect(r.problems).toEqual([]);
    expect(r.complete).toBe(clients - stalled);
    expect(r.stalledAt).toEqual(Array(stalled).fill(events / 2));
    // Dropped by the server (their streams reset), each as it passed its bound.
    expect(r.dropped).toBe(stalled);
    expect(r.after.ended).toEqual({ detached: stalled, cancelled: clients - stalled });
    // Flat: what the stalled clients would hold if kept (about 3 MB here) is not held. After a full
    // collection the heap is where it was; the peak RSS (garbage not yet collected) is bounded too.
    expect(r.after.heapUsed - r.before.heapUsed).toBeLessThan(2 * MiB);
    expect(r.after.peakRss - r.before.rss).toBeLessThan(96 * MiB);
    // The end: every subscriber gone and every socket of both protocols closed.
    expect(r.atEnd.subscribers).toBe(0);
    expect(r.atEnd.sockets).toBe(0);
  },
  120_000,
);
