// The memory that the default limits for hostile input allow, each case in a process of its
// own (with --expose-gc): jsonStream up to maxDepth on a replacer that wraps every value, the
// decoded values MessagePack input of the worst shapes turns into, and DedupeStream per key.
// Figures are live heap after a full GC, measured during the run (jsonStream) or after it.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jsonStream } from "../../lib/json.ts";
import { MsgpackDecoderStream } from "../../lib/msgpack.ts";
import { DedupeStream } from "../../lib/dedupe.ts";

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc!();
  return process.memoryUsage().heapUsed;
};

/** Each case returns [what was measured, bytes of heap, the unit it is divided by, that unit's name]. */
const cases: Record<string, () => Promise<[string, number, number, string]>> = {
  async "jsonStream to maxDepth (100000) on a wrapping replacer"() {
    const base = heap();
    let peak = 0;
    const reader = jsonStream({ a: 1 }, { replacer: (_k: string, v: unknown) => ({ wrap: v }) }).getReader();
    try {
      for (;;) {
        if ((await reader.read()).done) break;
        peak = Math.max(peak, heap() - base);
      }
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
    return ["peak while streaming", peak, 100_000, "level"];
  },
  "MessagePack: an array of 2^20 empty maps": () => msgpack(arrayOf(2 ** 20, [0x80])),
  "MessagePack: an array of 2^20 empty arrays": () => msgpack(arrayOf(2 ** 20, [0x90])),
  "MessagePack: an array of 2^20 empty binaries": () => msgpack(arrayOf(2 ** 20, [0xc4, 0])),
  "MessagePack: an array of 2^20 fixext 1": () => msgpack(arrayOf(2 ** 20, [0xd4, 1, 0])),
  "MessagePack: 1000 values nested 1000 deep (maxDepth)": () => {
    const one = new Uint8Array(1000).fill(0x91);
    one[999] = 0x90;
    const all = new Uint8Array(1000 * 1000);
    for (let i = 0; i < 1000; i++) all.set(one, i * 1000);
    return msgpack(all);
  },
  "MessagePack: an array of 2^20 small integers": () => msgpack(arrayOf(2 ** 20, [0x01])),
  async "DedupeStream: 10^6 number keys (maxKeys)"() {
    return dedupe((i) => i * 7 + 0.5);
  },
  async "DedupeStream: 10^6 string keys like \"order-123456\""() {
    return dedupe((i) => `order-${i}`);
  },
};

function arrayOf(count: number, item: number[]): Uint8Array {
  const out = new Uint8Array(5 + count * item.length);
  out.set([0xdd, count >>> 24, (count >>> 16) & 255, (count >>> 8) & 255, count & 255]);
  for (let i = 0; i < count; i++) out.set(item, 5 + i * item.length);
  return out;
}

async function msgpack(input: Uint8Array): Promise<[string, number, number, string]> {
  const base = heap();
  const held: unknown[] = [];
  const reader = new ReadableStream<Uint8Array>({
    start(c) {
      for (let o = 0; o < input.length; o += 65536) c.enqueue(input.slice(o, o + 65536));
      c.close();
    },
  }).pipeThrough(new MsgpackDecoderStream()).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) held.push(r.value);
  const used = heap() - base - input.length;
  if (held.length === 0) throw new Error("nothing decoded");
  return ["decoded values held", used, input.length, "input byte"];
}

async function dedupe(keyOf: (i: number) => unknown): Promise<[string, number, number, string]> {
  const n = 1_000_000;
  const base = heap();
  const stream = new DedupeStream((i: number) => keyOf(i));
  let i = 0;
  const source = new ReadableStream<number>({
    pull(c) {
      for (let k = 0; k < 1000; k++) c.enqueue(i++);
      if (i >= n) c.close();
    },
  });
  const reader = source.pipeThrough(stream).getReader();
  while (!(await reader.read()).done);
  return ["keys held", heap() - base, stream.seen.size, "key"];
}

const only = process.argv.find((a) => a.startsWith("--case="))?.slice(7);
if (only !== undefined) {
  const [what, bytes, units, unit] = await cases[only]!();
  console.log(JSON.stringify({ what, bytes, units, unit }));
} else {
  console.log("| case | measured | heap | per unit |\n|---|---|---:|---:|");
  for (const name of Object.keys(cases)) {
    const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), `--case=${name}`], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
    const { what, bytes, units, unit } = JSON.parse(r.stdout.trim().split("\n").pop()!);
    console.log(`| ${name} | ${what} | ${(bytes / 2 ** 20).toFixed(1)} MiB | ${(bytes / units).toFixed(1)} B per ${unit} |`);
  }
}
