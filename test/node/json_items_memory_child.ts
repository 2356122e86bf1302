// Run by json_items_memory.test.ts in a process of its own with a small heap:
// parses a generated document of the given size (a header, then the same
// block of orders over and over, made as it is read) with JsonItemStream and
// prints what it counted and the largest heap it saw.
import { makeAuction } from "../../demo/auction.ts";
import { JsonItemStream } from "../../lib/json_items.ts";

const bytes = Number(process.argv[process.argv.length - 1]);
const encoder = new TextEncoder();
const sample = makeAuction(1e6, 3);
const text = JSON.stringify(sample.orders).slice(1, -1);
const head = encoder.encode(`{"id":3,"tokens":${JSON.stringify(sample.tokens)},"orders":[${text}`);
const block = encoder.encode("," + text);
const repeats = Math.ceil((bytes - head.length) / block.length);
let repeat = 0;
let at = 0;
let stage = 0;
const source = new ReadableStream<Uint8Array>(
  {
    pull(c) {
      if (stage === 0) {
        stage = 1;
        c.enqueue(head.slice());
      } else if (stage === 1) {
        c.enqueue(block.slice(at, at + 65536));
        at += 65536;
        if (at >= block.length) {
          at = 0;
          if (++repeat === repeats) stage = 2;
        }
      } else if (stage === 2) {
        stage = 3;
        c.enqueue(encoder.encode("]}"));
      } else c.close();
    },
  },
  { highWaterMark: 0 },
);
const items = new JsonItemStream("$.orders[*]");
const reader = source.pipeThrough(items).getReader();
let orders = 0;
let validTo = 0;
let peakHeap = 0;
for (let r = await reader.read(); !r.done; r = await reader.read()) {
  orders++;
  validTo += (r.value.value as { validTo: number }).validTo;
  if ((orders & 1023) === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}
const expected = sample.orders.length * (repeats + 1);
const summary = await items.summary;
console.log(JSON.stringify({
  bytes: head.length + block.length * repeats + 2,
  orders,
  expected,
  summary: summary["$.orders[*]"],
  validToSum: validTo,
  expectedValidToSum: sample.orders.reduce((s, o) => s + o.validTo, 0) * (repeats + 1),
  peakHeap,
}));
