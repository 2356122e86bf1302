import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { JsonLinesParseStream, JsonLinesStream } from "../lib/json_lines.ts";
import { collect, concat, cutAt, deferred, errorOf, streamOf } from "./_support/util.ts";

const encoder = new TextEncoder();

async function linesOf(values: unknown[], options?: ConstructorParameters<typeof JsonLinesStream>[0]): Promise<string> {
  return new TextDecoder().decode(concat(await collect(streamOf(values).pipeThrough(new JsonLinesStream(options)))));
}

async function parse(chunks: (Uint8Array | string)[], options?: ConstructorParameters<typeof JsonLinesParseStream>[0]): Promise<unknown[]> {
  return collect(streamOf(chunks).pipeThrough(new JsonLinesParseStream(options)));
}

describe("JsonLinesStream", () => {
  test("JsonLinesStream writes each value as one line of JSON.stringify followed by a newline", async () => {
    const values = [{ a: 1, s: "é\u2028" }, [1, "two", null], "x", 3, null, { d: new Date(0) }];
    expect(await linesOf(values)).toBe(values.map((v) => JSON.stringify(v) + "\n").join(""));
  });

  test("JsonLinesStream applies the replacer to each value", async () => {
    const values = [{ a: 1, b: 2 }, { a: 3, c: 4 }];
    expect(await linesOf(values, { replacer: ["a"] })).toBe('{"a":1}\n{"a":3}\n');
    expect(await linesOf(values, { replacer: (k, v) => (k === "a" ? undefined : v) })).toBe('{"b":2}\n{"c":4}\n');
  });

  test("JsonLinesStream awaits Promises and reads streams inside values", async () => {
    async function* items() {
      yield 1;
      yield 2;
    }
    expect(await linesOf([{ p: Promise.resolve("ok"), list: items() }])).toBe('{"p":"ok","list":[1,2]}\n');
  });

  test("JsonLinesStream keeps chunks within chunkSize, newline included", async () => {
    const values = [{ s: "x".repeat(30) }, "y".repeat(8), 1];
    const chunks = await collect(streamOf(values).pipeThrough(new JsonLinesStream({ chunkSize: 10 })));
    expect(chunks.every((c) => c.length > 0 && c.length <= 10)).toBe(true);
    expect(new TextDecoder().decode(concat(chunks))).toBe(values.map((v) => JSON.stringify(v) + "\n").join(""));
  });

  test("JsonLinesStream errors with a TypeError naming the path on a BigInt or a cycle", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [{ n: [1n] }, cyclic]) {
      const error = await errorOf(linesOf([{ ok: true }, bad]));
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/\$\.(n\[0\]|self)/);
    }
  });

  test("JsonLinesStream errors with a TypeError on a value that serialises to nothing", async () => {
    expect(await errorOf(linesOf([1, undefined]))).toBeInstanceOf(TypeError);
  });

  test("JsonLinesStream passes on a user error as the same object", async () => {
    const boom = new Error("boom");
    const error = await errorOf(linesOf([{ get x() { throw boom; } }]));
    expect(error).toBe(boom);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.x");
  });

  test("JsonLinesStream rejects bad options at construction, naming the option", () => {
    expect(() => new JsonLinesStream({ chunkSize: 0 })).toThrow(/JsonLinesStream: chunkSize/);
    expect(() => new JsonLinesStream({ replacer: 5 as never })).toThrow(TypeError);
    expect(() => new JsonLinesStream({ maxDepth: 0 })).toThrow("Cannot construct JsonLinesStream: maxDepth must be a positive integer or Infinity, got number 0");
  });

  test("JsonLinesStream stops a value nested past maxDepth with a RangeError, and writes those within it", async () => {
    const wrap = (_key: string, v: unknown) => ({ wrap: v });
    const error = await errorOf(linesOf([{ a: 1 }], { replacer: wrap }));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain("nests deeper than maxDepth (100000 levels) at $.wrap.wrap");
    let nested: unknown = 0;
    for (let i = 0; i < 5; i++) nested = [nested];
    expect(await linesOf([nested], { maxDepth: 5 })).toBe("[[[[[0]]]]]\n");
    expect(((await errorOf(linesOf([1, nested], { maxDepth: 4 }))) as Error).message).toContain("maxDepth (4 levels) at $[0][0][0][0]");
    expect(await linesOf([nested], { maxDepth: Infinity })).toBe("[[[[[0]]]]]\n");
  });

  test("JsonLinesStream reads a long inner stream only as its output is read", async () => {
    let pulls = 0;
    const rows = new ReadableStream({
      pull(c) {
        pulls++;
        c.enqueue("x".repeat(60));
      },
    }, { highWaterMark: 0 });
    const reader = streamOf([{ rows }]).pipeThrough(new JsonLinesStream({ chunkSize: 64 })).getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 100));
    expect(pulls).toBeLessThan(100);
    await reader.cancel("enough");
  });

  test("JsonLinesStream output parses back to the same values", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.jsonValue(), { maxLength: 10 }), fc.integer({ min: 1, max: 50 }), async (values, chunkSize) => {
        const bytes = concat(await collect(streamOf(values).pipeThrough(new JsonLinesStream({ chunkSize }))));
        const back = await parse(cutAt(bytes, [3, 7, 20, 41]));
        expect(back).toEqual(values.map((v) => JSON.parse(JSON.stringify(v))));
      }),
      { numRuns: 100 },
    );
  });
});

describe("JsonLinesParseStream", () => {
  test("JsonLinesParseStream waits for the reader when one chunk holds more lines than it queues", async () => {
    const count = 20_000;
    const text = Array.from({ length: count }, (_, i) => `${i}\n`).join("") + "{oops\n";
    const stream = new JsonLinesParseStream();
    const writer = stream.writable.getWriter();
    let written = false;
    const write = writer.write(new TextEncoder().encode(text)).then(() => (written = true), (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBe(false);
    // The values come in order until the bad line errors the stream (which, as any stream
    // error does, drops what was still queued); its number counts every line across the waits.
    const reader = stream.readable.getReader();
    let read = 0;
    let failure: unknown;
    for (;;) {
      const r = await reader.read().catch((e: unknown) => ((failure = e), undefined));
      if (r === undefined || r.done) break;
      if (r.value !== read) break;
      read++;
    }
    expect(read).toBeGreaterThan(count / 2);
    expect((failure as Error).message).toMatch(`invalid JSON on line ${count + 1}`);
    expect(await write).toBeInstanceOf(SyntaxError);
  });

  test("JsonLinesParseStream parses one value per line, from text or bytes", async () => {
    const text = '{"a":1}\n[1,2]\n"s"\n3\nnull\n';
    expect(await parse([text])).toEqual([{ a: 1 }, [1, 2], "s", 3, null]);
    expect(await parse([encoder.encode(text)])).toEqual([{ a: 1 }, [1, 2], "s", 3, null]);
  });

  test("JsonLinesParseStream splits on \\n and \\r\\n across chunk boundaries", async () => {
    const bytes = encoder.encode('{"a":"€"}\r\n[1]\n{"b":"🦄"}\r\n2');
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await parse(cutAt(bytes, [cut, cut + 3]))).toEqual([{ a: "€" }, [1], { b: "🦄" }, 2]);
    }
    expect(await parse(["1\r", "\n2\r", "\n"])).toEqual([1, 2]);
  });

  test("JsonLinesParseStream skips blank lines and tolerates a missing final newline", async () => {
    expect(await parse(["\n\n1\n   \n\t\n\r\n2"])).toEqual([1, 2]);
    expect(await parse(["1\n", "2"])).toEqual([1, 2]);
    expect(await parse(["1\n2\r"])).toEqual([1, 2]);
    expect(await parse([])).toEqual([]);
  });

  test("JsonLinesParseStream errors with a SyntaxError naming the line number", async () => {
    const error = await errorOf(parse(['{"a":1}\n', "\n", "[1,\n", "2]\n"]));
    expect(error).toBeInstanceOf(SyntaxError);
    expect((error as Error).message).toContain("line 3");
    const last = await errorOf(parse(["1\n2\n{"]));
    expect((last as Error).message).toContain("line 3");
  });

  test("JsonLinesParseStream errors with a RangeError on a line longer than maxLineLength", async () => {
    expect(await parse(["[1,2]\n"], { maxLineLength: 5 })).toEqual([[1, 2]]);
    const error = await errorOf(parse(["[1,", "2,3]\n"], { maxLineLength: 5 }));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain("maxLineLength");
  });

  test("JsonLinesParseStream accepts a line of exactly maxLineLength however its CRLF is cut", async () => {
    const line = '"12345678"\r\n';
    const bytes = encoder.encode(line + line);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await parse(cutAt(bytes, [cut]), { maxLineLength: 10 })).toEqual(["12345678", "12345678"]);
      expect(await parse([line.slice(0, cut % line.length), line.slice(cut % line.length), line], { maxLineLength: 10 })).toEqual(["12345678", "12345678"]);
    }
    expect(await parse(['"12345678"', "\r", "\n"], { maxLineLength: 10 })).toEqual(["12345678"]);
    expect(await parse(['"12345678"\r'], { maxLineLength: 10 })).toEqual(["12345678"]);
    // One more character is refused, wherever the cut falls.
    for (const chunks of [['"123456789"\r', "\n"], ['"123456789"', "\r\n"], ['"12345678"\r', "x\n"]]) {
      expect(await errorOf(parse(chunks, { maxLineLength: 10 }))).toBeInstanceOf(RangeError);
    }
  });

  test("JsonLinesParseStream keeps a U+FEFF inside a value when a string chunk is followed by bytes", async () => {
    expect(await parse(['["a', encoder.encode('\ufeff"]\n')])).toEqual([["a\ufeff"]]);
    expect(await parse([encoder.encode('["a'), '\ufeff"]\n', encoder.encode('["\ufeff"]\n')])).toEqual([["a\ufeff"], ["\ufeff"]]);
    expect(await parse(['["', encoder.encode("\ufeff"), encoder.encode('\ufeffb"]')])).toEqual([["\ufeff\ufeffb"]]);
  });

  test("JsonLinesParseStream skips a byte order mark only at the very start of byte input", async () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    expect(await parse([concat([bom, encoder.encode("1\n2\n")])])).toEqual([1, 2]);
    // Cut inside the mark.
    expect(await parse([bom.subarray(0, 1), concat([bom.subarray(1), encoder.encode("[3]")])])).toEqual([[3]]);
    expect(await parse([new Uint8Array(0), bom, encoder.encode("4")])).toEqual([4]);
    // A second mark, or one after a string, is text: JSON.parse refuses it outside a string.
    expect(await errorOf(parse([concat([bom, bom, encoder.encode("1\n")])]))).toBeInstanceOf(SyntaxError);
    expect(await errorOf(parse(["1\n", concat([bom, encoder.encode("2\n")])]))).toBeInstanceOf(SyntaxError);
    expect(await errorOf(parse([encoder.encode("1\n"), concat([bom, encoder.encode("2\n")])]))).toBeInstanceOf(SyntaxError);
    expect(() => JSON.parse("\ufeff2")).toThrow(SyntaxError);
  });

  test("JsonLinesParseStream defaults maxLineLength to 16 MiB and checks it", () => {
    expect(new JsonLinesParseStream().maxLineLength).toBe(16 * 2 ** 20);
    expect(() => new JsonLinesParseStream({ maxLineLength: 0 })).toThrow(/maxLineLength/);
    expect(() => new JsonLinesParseStream({ maxLineLength: 1.5 })).toThrow(RangeError);
  });

  test("JsonLinesParseStream errors with a TypeError on a chunk that is not text or bytes", async () => {
    expect(await errorOf(parse([42 as never]))).toBeInstanceOf(TypeError);
  });

  test("JsonLinesParseStream cancels its source when its output is cancelled", async () => {
    const cancelled = deferred<unknown>();
    const source = new ReadableStream<string>({
      pull(c) {
        c.enqueue("1\n");
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const reader = source.pipeThrough(new JsonLinesParseStream()).getReader();
    expect((await reader.read()).value).toBe(1);
    await reader.cancel("done");
    expect(await cancelled.promise).toBe("done");
  });
});
