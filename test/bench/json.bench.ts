// jsonStream against the eager way and the streaming peers, on the generated
// auction payload (about 100 MB and 300 MB of JSON), each consumed to the end
// as UTF-8 bytes. Peak RSS of each case is measured in its own process, over
// the RSS of holding the value.
import { stringifyChunked } from "@discoveryjs/json-ext";
import { JsonStreamStringify } from "json-stream-stringify";
import { makeAuction, type Auction } from "../../demo/auction.ts";
import { jsonStream } from "../../lib/json.ts";
import { main, suite } from "./_harness.ts";

const encoder = new TextEncoder();

function eager(value: Auction): number {
  return encoder.encode(JSON.stringify(value)).length;
}

/** json-ext's fastest use: its generator, each batch encoded by TextEncoder. */
function jsonExt(value: Auction): number {
  let bytes = 0;
  for (const chunk of stringifyChunked(value)) bytes += encoder.encode(chunk).length;
  return bytes;
}

async function jsonStreamStringify(value: Auction): Promise<number> {
  let bytes = 0;
  for await (const chunk of new JsonStreamStringify(value)) {
    bytes += typeof chunk === "string" ? encoder.encode(chunk).length : (chunk as Uint8Array).length;
  }
  return bytes;
}

async function sluice(value: Auction, options?: { async?: boolean }): Promise<number> {
  const reader = jsonStream(value, options).getReader();
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  return bytes;
}

for (const [mb, runs] of [[100, 5], [300, 3]] as const) {
  let length = 0;
  suite<Auction>({
    title: `auction ${mb} MB to UTF-8 JSON`,
    input: () => {
      const value = makeAuction(mb * 1e6);
      // The generator builds its strings by concatenation (V8 cons strings). The first
      // serialisation flattens each of them, allocating a flat copy that the value keeps:
      // a one-off change to the held value, not memory of the serialiser. Flatten here,
      // so the memory columns measure each peer and not that (a parsed or fetched value
      // holds flat strings already).
      for (const order of value.orders) JSON.stringify(order);
      return value;
    },
    bytes: (value) => (length ||= encoder.encode(JSON.stringify(value)).length),
    baseline: "JSON.stringify + TextEncoder (eager)",
    runs,
    warmup: 1,
    cases: {
      "jsonStream": (value) => sluice(value),
      "jsonStream (async: false)": (value) => sluice(value, { async: false }),
      "JSON.stringify + TextEncoder (eager)": (value) => eager(value),
      "json-ext stringifyChunked + TextEncoder per batch": (value) => jsonExt(value),
      "json-stream-stringify": (value) => jsonStreamStringify(value),
    },
  });
}

await main(import.meta.url);
