import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { JsonItemStream, JsonLimitError, JsonParseError, type JsonItem, type JsonItemStreamOptions } from "../lib/json_items.ts";
import { collect, cutAt, deferred, errorOf, streamOf } from "./_support/util.ts";

const encoder = new TextEncoder();

function items(chunks: Uint8Array[], paths: string | string[], options?: JsonItemStreamOptions): Promise<JsonItem[]> {
  return collect(streamOf(chunks).pipeThrough(new JsonItemStream(paths, options)));
}

/** Every single byte as its own chunk. */
function bytewise(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/** The fields of an error that say what and where. */
function where(error: unknown): Record<string, unknown> {
  const e = error as JsonParseError & JsonLimitError;
  return { name: e.name, kind: e.kind, limit: e.limit, offset: e.offset, line: e.line, column: e.column, path: e.path };
}

// A JSON text as a tree that keeps what a JS value cannot: member order, duplicate names, the spelling of scalars.
type Node = { t: "array"; items: Node[] } | { t: "object"; entries: [string, Node][] } | { t: "scalar"; text: string };

/** A JS string written as a JSON string in one of four ways; lone surrogates are always escaped (UTF-8 cannot hold them). */
function writeString(s: string, style: number): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const pair = u >= 0xd800 && u <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const lone = !pair && u >= 0xd800 && u <= 0xdfff;
    const escape = (x: number) => "\\u" + x.toString(16).padStart(4, "0")[style === 3 ? "toUpperCase" : "toLowerCase"]();
    const short: Record<number, string> = { 0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t", 0x2f: "\\/" };
    if (style === 1 || lone || u < 0x20 || u === 0x22 || u === 0x5c || (style === 3 && i % 2 === 0)) {
      out += style === 2 && short[u] !== undefined ? short[u] : u === 0x22 ? '\\"' : u === 0x5c ? "\\\\" : escape(u);
      if (pair) out += escape(s.charCodeAt(++i));
    } else if (style === 2 && u === 0x2f) out += "\\/";
    else {
      out += s[i];
      if (pair) out += s[++i];
    }
  }
  return out + '"';
}

const jsString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 }).map((units) => String.fromCharCode(...units)),
  fc.constantFrom("__proto__", "", "a", "b", "0", "constructor", "é", "🦄"),
);
const numberText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? "-0" : JSON.stringify(n))),
  fc.integer().map(String),
  fc
    .tuple(fc.boolean(), fc.stringMatching(/^(0|[1-9][0-9]{0,20})$/), fc.stringMatching(/^(\.[0-9]{1,20})?$/), fc.stringMatching(/^([eE][+-]?[0-9]{1,3})?$/))
    .map(([minus, int, frac, exp]) => `${minus ? "-" : ""}${int}${frac}${exp}`),
);
const scalar = fc.oneof(
  numberText,
  fc.constantFrom("true", "false", "null"),
  fc.tuple(jsString, fc.integer({ min: 0, max: 3 })).map(([s, style]) => writeString(s, style)),
);
const { node } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar.map((text): Node => ({ t: "scalar", text })),
    fc.array(tie("node"), { maxLength: 5 }).map((items): Node => ({ t: "array", items })),
    fc
      .array(fc.tuple(fc.tuple(jsString, fc.integer({ min: 0, max: 3 })), tie("node")), { maxLength: 5 })
      .map((entries): Node => ({ t: "object", entries: entries.map(([[k, style], v]) => [writeString(k, style), v]) })),
  ),
}));

/** Writes a tree with the whitespace `space()` gives between tokens. Member names are stored already written. */
function write(n: Node, space: () => string = () => ""): string {
  if (n.t === "scalar") return n.text;
  if (n.t === "array") return `[${space()}${n.items.map((c) => write(c, space) + space()).join(`,${space()}`)}]`;
  return `{${space()}${n.entries.map(([k, v]) => `${k}${space()}:${space()}${write(v, space)}${space()}`).join(`,${space()}`)}}`;
}

type Step = { name: string } | { index: number } | "*";

function formatPath(steps: Step[], bracketed: boolean): string {
  let path = "$";
  for (const s of steps) {
    if (s === "*") path += bracketed ? "[*]" : ".*";
    else if ("index" in s) path += `[${s.index}]`;
    else path += !bracketed && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name) ? `.${s.name}` : `[${JSON.stringify(s.name)}]`;
  }
  return path;
}

/** What the path selects in the tree, in document order: each place's key and JSON.parse of its own text. */
function expected(n: Node, steps: Step[], path: string, at = 0, key: string | number | null = null, out: JsonItem[] = []): JsonItem[] {
  if (at === steps.length) {
    out.push({ path, key, value: JSON.parse(write(n)) });
    return out;
  }
  const step = steps[at]!;
  if (n.t === "array") n.items.forEach((c, i) => (step === "*" || ("index" in step && step.index === i)) && expected(c, steps, path, at + 1, i, out));
  if (n.t === "object") {
    for (const [k, c] of n.entries) {
      const name = JSON.parse(k) as string;
      if (step === "*" || ("name" in step && step.name === name)) expected(c, steps, path, at + 1, name, out);
    }
  }
  return out;
}

/** A path into the tree along `choices`, with the steps flagged in `wild` made wildcards. */
function pathInto(n: Node, choices: number[], wild: boolean[]): Step[] {
  const steps: Step[] = [];
  for (const choice of choices) {
    if (n.t === "array" && n.items.length > 0) {
      const i = choice % n.items.length;
      steps.push(wild[steps.length] ? "*" : { index: i });
      n = n.items[i]!;
    } else if (n.t === "object" && n.entries.length > 0) {
      const [k, c] = n.entries[choice % n.entries.length]!;
      steps.push(wild[steps.length] ? "*" : { name: JSON.parse(k) as string });
      n = c;
    } else break;
  }
  return steps;
}

const cuts = fc.oneof(fc.constant("bytes" as const), fc.array(fc.nat(), { maxLength: 12 }));
const spaces = fc.array(fc.stringMatching(/^[ \t\n\r]{0,3}$/), { minLength: 1, maxLength: 8 });

function chunked(bytes: Uint8Array, cut: "bytes" | number[]): Uint8Array[] {
  return cut === "bytes" ? bytewise(bytes) : cutAt(bytes, cut.map((c) => c % (bytes.length + 1)));
}

function spacer(list: string[]): () => string {
  let k = 0;
  return () => list[k++ % list.length]!;
}

describe("JsonItemStream", () => {
  test("JsonItemStream emits each selected value equal to JSON.parse at its place, in any chunking and whitespace (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(node, fc.array(fc.nat(), { maxLength: 5 }), fc.array(fc.boolean(), { maxLength: 5 }), fc.boolean(), spaces, cuts, async (doc, choices, wild, bracketed, ws, cut) => {
        const steps = pathInto(doc, choices, wild);
        const path = formatPath(steps, bracketed);
        const text = write(doc, spacer(ws));
        JSON.parse(text); // the generated text is JSON
        const got = await items(chunked(encoder.encode(text), cut), path);
        expect(got).toEqual(expected(doc, steps, path));
      }),
      { numRuns: 300 },
    );
  });

  test("JsonItemStream emits the values of several paths at once in document order, each with its path (fast-check)", async () => {
    const stepMatches = (step: Step, key: string | number) =>
      step === "*" || (typeof key === "number" ? "index" in step && step.index === key : "name" in step && step.name === key);
    function walk(n: Node, selectors: Step[][], paths: string[], live: number[], depth: number, key: string | number | null, out: JsonItem[]): void {
      const full = live.find((s) => selectors[s]!.length === depth);
      if (full !== undefined) {
        out.push({ path: paths[full]!, key, value: JSON.parse(write(n)) });
        return;
      }
      const children: [string | number, Node][] = n.t === "array" ? n.items.map((c, i) => [i, c]) : n.t === "object" ? n.entries.map(([k, c]) => [JSON.parse(k) as string, c]) : [];
      for (const [k, c] of children) {
        const next = live.filter((s) => selectors[s]!.length > depth && stepMatches(selectors[s]![depth]!, k));
        if (next.length > 0) walk(c, selectors, paths, next, depth + 1, k, out);
      }
    }
    const choice = fc.tuple(fc.array(fc.nat(), { maxLength: 4 }), fc.array(fc.boolean(), { maxLength: 4 }));
    await fc.assert(
      fc.asyncProperty(node, fc.array(choice, { minLength: 2, maxLength: 3 }), spaces, cuts, async (doc, choices, ws, cut) => {
        const selectors = choices.map(([c, w]) => pathInto(doc, c, w));
        const paths = selectors.map((steps, i) => formatPath(steps, i % 2 === 1));
        let stream: JsonItemStream;
        try {
          stream = new JsonItemStream(paths);
        } catch {
          fc.pre(false); // paths that overlap or repeat are refused (tested elsewhere)
          return;
        }
        const text = write(doc, spacer(ws));
        const got = await collect(streamOf(chunked(encoder.encode(text), cut)).pipeThrough(stream!));
        const want: JsonItem[] = [];
        walk(doc, selectors, paths, selectors.map((_, i) => i), 0, null, want);
        expect(got).toEqual(want);
        const counts = Object.fromEntries(paths.map((p) => [p, want.filter((item) => item.path === p).length]));
        expect(await stream!.summary).toEqual(counts);
      }),
      { numRuns: 200 },
    );
  });

  test("JsonItemStream selecting $ gives exactly JSON.parse of the whole text (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(node, spaces, cuts, async (doc, ws, cut) => {
        const text = write(doc, spacer(ws));
        const got = await items(chunked(encoder.encode(text), cut), "$");
        expect(got).toEqual([{ path: "$", key: null, value: JSON.parse(text) }]);
      }),
      { numRuns: 200 },
    );
  });

  test("JsonItemStream accepts exactly the texts JSON.parse accepts, also after random damage (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(node, spaces, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 }), cuts, async (doc, ws, at, byte, how, cut) => {
        const clean = encoder.encode(write(doc, spacer(ws)));
        const p = at % (clean.length + 1);
        const damaged =
          how === 0 ? Uint8Array.of(...clean.subarray(0, p), byte, ...clean.subarray(p + 1))
          : how === 1 ? Uint8Array.of(...clean.subarray(0, p), byte, ...clean.subarray(p))
          : Uint8Array.of(...clean.subarray(0, p), ...clean.subarray(p + 1));
        let reference: { value: unknown } | undefined;
        // A fresh decoder each time: after a fatal decoder throws, Firefox 153's stops stripping a BOM.
        try {
          reference = { value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(damaged)) };
        } catch {
          reference = undefined;
        }
        // Selecting nothing: the whole text is only scanned, and must still be validated.
        const skipped = await items(chunked(damaged, cut), "$.nothing[*]").then(() => true, (e: unknown) => e);
        const whole = await items(chunked(damaged, cut), "$").then((r) => r, (e: unknown) => e);
        if (reference === undefined) {
          expect(skipped).toBeInstanceOf(JsonParseError);
          expect(whole).toBeInstanceOf(JsonParseError);
          expect(where(whole)).toEqual(where(skipped));
        } else {
          expect(skipped).toBe(true);
          expect(whole).toEqual([{ path: "$", key: null, value: reference.value }]);
        }
      }),
      { numRuns: 400 },
    );
  });

  test("JsonItemStream emits array elements, object members with their names and single values, for several paths at once", async () => {
    const text = JSON.stringify({ id: 7, prices: { WETH: "3000", "odd key": "1" }, orders: [{ n: 1 }, { n: 2 }], meta: { v: [1, 2] }, list: [["x"], ["y"]] });
    const stream = new JsonItemStream(["$.orders[*]", "$.prices.*", "$.meta", "$.list[1][0]", '$["id"]']);
    const got = await collect(streamOf([encoder.encode(text)]).pipeThrough(stream));
    expect(got).toEqual([
      { path: '$["id"]', key: "id", value: 7 },
      { path: "$.prices.*", key: "WETH", value: "3000" },
      { path: "$.prices.*", key: "odd key", value: "1" },
      { path: "$.orders[*]", key: 0, value: { n: 1 } },
      { path: "$.orders[*]", key: 1, value: { n: 2 } },
      { path: "$.meta", key: "meta", value: { v: [1, 2] } },
      { path: "$.list[1][0]", key: 0, value: "y" },
    ]);
    expect(await stream.summary).toEqual({ "$.orders[*]": 2, "$.prices.*": 2, "$.meta": 1, "$.list[1][0]": 1, '$["id"]': 1 });
  });

  test("JsonItemStream emits the elements of a document that is one big array with $[*]", async () => {
    const text = ' [1, {"a": [true]}, "s", null, -0, 1e400] ';
    expect(await items(bytewise(encoder.encode(text)), "$[*]")).toEqual(JSON.parse(text).map((value: unknown, key: number) => ({ path: "$[*]", key, value })));
  });

  test("JsonItemStream keeps duplicate names (last wins), __proto__ as an own member, -0 and lone surrogates from escapes", async () => {
    const text = '[{"a":1,"a":2,"__proto__":{"x":1},"s":"\\ud800\\u0041\\uDFFF","z":-0}]';
    const [item] = await items(bytewise(encoder.encode(text)), "$[*]");
    const value = item!.value as Record<string, unknown>;
    expect(value).toEqual(JSON.parse(text)[0]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["a", "__proto__", "s", "z"]);
    expect(value.a).toBe(2);
    expect(value.s).toBe("\ud800A\udfff");
    expect(Object.is(value.z, -0)).toBe(true);
  });

  test("JsonItemStream matches member names after decoding their escapes, and emits each occurrence of a repeated name", async () => {
    const text = '{"\\u006frders":[1],"orders":[2],"m\\u00e9ta":3}';
    expect(await items(bytewise(encoder.encode(text)), ["$.orders[*]", "$.méta"])).toEqual([
      { path: "$.orders[*]", key: 0, value: 1 },
      { path: "$.orders[*]", key: 0, value: 2 },
      { path: "$.méta", key: "méta", value: 3 },
    ]);
  });

  test("JsonItemStream skips a leading byte order mark, as Response.json does", async () => {
    const bytes = Uint8Array.of(0xef, 0xbb, 0xbf, ...encoder.encode('{"a":1}'));
    expect(await items(bytewise(bytes), "$.a")).toEqual([{ path: "$.a", key: "a", value: 1 }]);
    expect(await new Response(bytes).json()).toEqual({ a: 1 });
    const inside = await errorOf(items([encoder.encode("[1,\ufeff2]")], "$[*]"));
    expect(where(inside)).toMatchObject({ kind: "unexpected-byte", offset: 3, path: "$[1]" });
  });

  test("JsonItemStream calls the reviver as JSON.parse does for each selected value", async () => {
    const text = '{"orders":[{"price":"12","tags":["a","b"]},{"price":"7","tags":[]}],"meta":{"drop":1,"keep":2}}';
    const calls: [string[], string, boolean][] = [];
    const reviver = function (this: Record<string, unknown>, key: string, value: unknown) {
      calls.push([Object.keys(this), key, this[key] === value]);
      if (key === "price") return BigInt(value as string);
      if (key === "drop") return undefined;
      return value;
    };
    const got = await items(bytewise(encoder.encode(text)), ["$.orders[*]", "$.meta.*"], { reviver });
    const streamed = calls.splice(0);
    const whole = JSON.parse(text, reviver);
    expect(got).toEqual([
      { path: "$.orders[*]", key: 0, value: whole.orders[0] },
      { path: "$.orders[*]", key: 1, value: whole.orders[1] },
      { path: "$.meta.*", key: "keep", value: 2 },
    ]);
    expect(streamed).toEqual([
      [["price", "tags"], "price", true],
      [["0", "1"], "0", true],
      [["0", "1"], "1", true],
      [["price", "tags"], "tags", true],
      [["0"], "0", true], // the selected value itself: its index as a string, a holder with only it
      [["price", "tags"], "price", true],
      [["price", "tags"], "tags", true],
      [["1"], "1", true],
      [["drop"], "drop", true],
      [["keep"], "keep", true],
    ]);
    // JSON.parse makes the same calls inside each value.
    expect(calls.slice(0, 4)).toEqual(streamed.slice(0, 4));
  });

  test("JsonItemStream calls the reviver with a holder of the selected value under its real key, also for values with an empty name inside", async () => {
    const text = '{"m":{"":{"":1}}}';
    const seen: [string, string][] = [];
    const got = await items([encoder.encode(text)], "$.m", {
      reviver(this: unknown, key, value) {
        seen.push([key, JSON.stringify(this)]);
        return value;
      },
    });
    expect(got).toEqual([{ path: "$.m", key: "m", value: { "": { "": 1 } } }]);
    expect(seen).toEqual([
      ["", '{"":1}'],
      ["", '{"":{"":1}}'],
      ["m", '{"m":{"":{"":1}}}'],
    ]);
  });

  test("JsonItemStream passes the reviver the third argument JSON.parse passes, where the runtime has one (source text)", async () => {
    const text = '{"a":1.50,"b":{"c":"x","d":[1e2]}}';
    const seen = (record: [string, unknown][]) =>
      function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
        record.push([key, context?.source]);
        return value;
      };
    const native: [string, unknown][] = [];
    JSON.parse(text, seen(native));
    const streamed: [string, unknown][] = [];
    await items(bytewise(encoder.encode(text)), ["$.a", "$.b"], { reviver: seen(streamed) });
    // The same calls but the last (the document itself, which is not selected).
    expect(streamed).toEqual(native.slice(0, -1));
    if (native[0]![1] !== undefined) expect(streamed[0]).toEqual(["a", "1.50"]);
  });

  test("JsonItemStream errors the stream with the reviver's own error", async () => {
    const boom = new Error("boom");
    const stream = new JsonItemStream("$[*]", {
      reviver() {
        throw boom;
      },
    });
    expect(await errorOf(collect(streamOf([encoder.encode("[1]")]).pipeThrough(stream)))).toBe(boom);
    expect(await errorOf(stream.summary)).toBe(boom);
  });
});

describe("JsonItemStream errors", () => {
  const cases: [string, string | Uint8Array, string, Record<string, unknown>][] = [
    ["a trailing comma in an object", '{"a":1,}', "$.a", { kind: "unexpected-byte", offset: 7, line: 1, column: 8, path: "$" }],
    ["a trailing comma in an array", "[1,2,]", "$[*]", { kind: "unexpected-byte", offset: 5, path: "$[2]" }],
    ["a missing colon", '{"a" 1}', "$.a", { kind: "unexpected-byte", offset: 5, path: "$.a" }],
    ["a mismatched bracket", '{"a":[1}', "$.b", { kind: "unexpected-byte", offset: 7, path: "$.a[0]" }],
    ["a leading zero", '{"a":{"b":[1,{"c":01}]}}', "$.q", { kind: "unexpected-byte", offset: 19, path: "$.a.b[1].c" }],
    ["a bad literal in a part not selected", '{"skip":{"deep":[tru]},"orders":[]}', "$.orders[*]", { kind: "unexpected-byte", offset: 20, path: "$.skip.deep[0]" }],
    ["a control character in a string", '["a\u0001"]', "$[*]", { kind: "unexpected-byte", offset: 3, path: "$[0]" }],
    ["a line break in a string", '{"a":"x\ny"}', "$.a", { kind: "unterminated-string", offset: 7, line: 1, column: 8, path: "$.a" }],
    ["a text that ends in a string", '{"a":"abc', "$.a", { kind: "unterminated-string", offset: 9, path: "$.a" }],
    ["a text that ends in a member name", '{"orders":[{"ab', "$.orders[*]", { kind: "unterminated-string", offset: 15, path: "$.orders[0]" }],
    ["an unknown escape", '"\\q"', "$", { kind: "bad-escape", offset: 2, path: "$" }],
    ["a short \\u escape", '["\\u12x4"]', "$[*]", { kind: "bad-escape", offset: 6, path: "$[0]" }],
    ["a byte that starts no UTF-8 sequence", Uint8Array.of(0x5b, 0x22, 0xff, 0x22, 0x5d), "$[*]", { kind: "invalid-utf8", offset: 2, path: "$[0]" }],
    ["an overlong UTF-8 sequence", Uint8Array.of(0x22, 0xc0, 0x80, 0x22), "$", { kind: "invalid-utf8", offset: 1, path: "$" }],
    ["a surrogate written in UTF-8", Uint8Array.of(0x22, 0xed, 0xa0, 0x80, 0x22), "$", { kind: "invalid-utf8", offset: 2, path: "$" }],
    ["a cut UTF-8 sequence", Uint8Array.of(0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d), "$.a", { kind: "invalid-utf8", offset: 8, path: "$.a" }],
    ["data after the top-level value", "[1] 2", "$[*]", { kind: "trailing-data", offset: 4, path: "$" }],
    ["a second document", '{"a":1}{"a":2}', "$.a", { kind: "trailing-data", offset: 7, path: "$" }],
    ["a truncated document", '{"orders":[{"id":1},{"id":', "$.orders[*]", { kind: "truncated", offset: 26, path: "$.orders[1].id" }],
    ["an empty text", "", "$", { kind: "truncated", offset: 0, line: 1, column: 1, path: "$" }],
    ["only whitespace", " \n ", "$", { kind: "truncated", offset: 3, line: 2, column: 2, path: "$" }],
    ["a number cut after its point", "[1.", "$[*]", { kind: "truncated", offset: 3, path: "$[0]" }],
    ["a byte order mark inside the text", "[1,\ufeff2]", "$[*]", { kind: "unexpected-byte", offset: 3, path: "$[1]" }],
  ];
  for (const [what, text, path, fields] of cases) {
    test(`JsonItemStream reports ${what} with its kind and position, in any chunking`, async () => {
      const bytes = typeof text === "string" ? encoder.encode(text) : text;
      const whole = await errorOf(items([bytes], path));
      expect(whole).toBeInstanceOf(JsonParseError);
      expect(whole).toBeInstanceOf(SyntaxError);
      expect(where(whole)).toMatchObject(fields);
      expect(where(await errorOf(items(bytewise(bytes), path)))).toEqual(where(whole));
      const e = whole as JsonParseError;
      expect(e.message).toContain(`at offset ${e.offset} (line ${e.line}, column ${e.column}) in ${e.path}`);
      expect(e.message).toContain({ "unexpected-byte": "unexpected byte", "unterminated-string": "unterminated string", "bad-escape": "bad escape", "invalid-utf8": "invalid UTF-8", "trailing-data": "trailing data", truncated: "truncated text" }[e.kind]);
      if (typeof text === "string") expect(() => JSON.parse(text)).toThrow(SyntaxError);
    });
  }

  test("JsonItemStream counts lines and columns in bytes across chunks", async () => {
    const text = '{\n  "a": [\n    1,\n    "é", x\n  ]\n}';
    const error = await errorOf(items(bytewise(encoder.encode(text)), "$.a[*]"));
    expect(where(error)).toMatchObject({ kind: "unexpected-byte", offset: encoder.encode(text.slice(0, text.indexOf("x"))).length, line: 4, column: 11, path: "$.a[2]" });
  });

  test("JsonItemStream names member names that need quoting in the error path", async () => {
    const error = await errorOf(items([encoder.encode('{"a b":{"c":[1,2,{"ok":tru}]}}')], "$.x"));
    expect((error as JsonParseError).path).toBe('$["a b"].c[2].ok');
  });

  test("JsonItemStream errors with a TypeError on a chunk that is not a Uint8Array", async () => {
    expect(await errorOf(collect(streamOf(["[1]" as never]).pipeThrough(new JsonItemStream("$"))))).toBeInstanceOf(TypeError);
  });

  test("JsonItemStream rejects summary with the error of a truncated document, after the values before it", async () => {
    const stream = new JsonItemStream("$.orders[*]");
    const reader = streamOf([encoder.encode('{"orders":[1,2,'), encoder.encode("3")]).pipeThrough(stream).getReader();
    expect((await reader.read()).value).toEqual({ path: "$.orders[*]", key: 0, value: 1 });
    expect((await reader.read()).value).toEqual({ path: "$.orders[*]", key: 1, value: 2 });
    const error = await errorOf(reader.read());
    expect(where(error)).toMatchObject({ kind: "truncated", offset: 16, path: "$.orders[2]" });
    expect(await errorOf(stream.summary)).toBe(error);
  });
});

describe("JsonItemStream limits", () => {
  async function limitError(text: string, path: string, options: JsonItemStreamOptions): Promise<JsonLimitError> {
    const bytes = encoder.encode(text);
    const whole = await errorOf(items([bytes], path, options));
    expect(whole).toBeInstanceOf(JsonLimitError);
    expect(whole).toBeInstanceOf(RangeError);
    expect(where(await errorOf(items(bytewise(bytes), path, options)))).toEqual(where(whole));
    return whole as JsonLimitError;
  }

  test("JsonItemStream enforces maxDepth everywhere, the top-level container being depth 1", async () => {
    expect(await items([encoder.encode("[[[1]]]")], "$[*]", { maxDepth: 3 })).toEqual([{ path: "$[*]", key: 0, value: [[1]] }]);
    const error = await limitError('{"skip":[[[1]]]}', "$.x", { maxDepth: 3 });
    expect(where(error)).toMatchObject({ limit: "maxDepth", offset: 10, path: "$.skip[0][0]" });
    expect(error.message).toContain("maxDepth (3)");
  });

  test("JsonItemStream enforces maxStringLength in UTF-16 code units, member names included", async () => {
    const ok = '["abcd", "éé🦄", "\\u0041\\n\\"d"]';
    expect(await items([encoder.encode(ok)], "$[*]", { maxStringLength: 4 })).toHaveLength(3);
    expect(where(await limitError('["ok", "abcde"]', "$[*]", { maxStringLength: 4 }))).toMatchObject({ limit: "maxStringLength", offset: 7, path: "$[1]" });
    expect(where(await limitError('{"abcde":1}', "$.x", { maxStringLength: 4 }))).toMatchObject({ limit: "maxStringLength", offset: 1, path: "$" });
    expect(where(await limitError('["ééé🦄"]', "$.x", { maxStringLength: 4 }))).toMatchObject({ limit: "maxStringLength", offset: 1 });
    // A long string not selected is never held, yet the limit still stops it, before it ends.
    const source = streamOf([encoder.encode('["'), ...Array.from({ length: 4 }, () => encoder.encode("x".repeat(1000)))]);
    expect(await errorOf(collect(source.pipeThrough(new JsonItemStream("$.x", { maxStringLength: 2500 }))))).toBeInstanceOf(JsonLimitError);
  });

  test("JsonItemStream enforces maxNumberLength in characters", async () => {
    expect(await items([encoder.encode("[-1.5e+10]")], "$[*]", { maxNumberLength: 8 })).toEqual([{ path: "$[*]", key: 0, value: -1.5e10 }]);
    expect(where(await limitError('{"a":[1, -1.5e+100]}', "$.a", { maxNumberLength: 8 }))).toMatchObject({ limit: "maxNumberLength", offset: 9, path: "$.a[1]" });
    expect(where(await limitError("123456789", "$", { maxNumberLength: 8 }))).toMatchObject({ limit: "maxNumberLength", offset: 0, path: "$" });
  });

  test("JsonItemStream enforces maxValueBytes on each selected value, not on what is skipped", async () => {
    const text = '{"skip":"' + "x".repeat(100) + '","orders":[[1,2],[1,2,3,4]]}';
    expect(await items([encoder.encode(text)], "$.orders[0]", { maxValueBytes: 5 })).toEqual([{ path: "$.orders[0]", key: 0, value: [1, 2] }]);
    const error = await limitError(text.replace(/\n/g, ""), "$.orders[*]", { maxValueBytes: 5 });
    expect(where(error)).toMatchObject({ limit: "maxValueBytes", offset: text.indexOf("[1,2,3"), path: "$.orders[1]" });
  });

  test("JsonItemStream enforces maxTotalBytes, reporting an earlier syntax error first", async () => {
    expect(await items([encoder.encode("[1,2]")], "$[*]", { maxTotalBytes: 5 })).toHaveLength(2);
    expect(where(await limitError("[1,2,3]", "$[*]", { maxTotalBytes: 5 }))).toMatchObject({ limit: "maxTotalBytes", offset: 5 });
    expect(await errorOf(items([encoder.encode("[1,}2,3]")], "$[*]", { maxTotalBytes: 5 }))).toBeInstanceOf(JsonParseError);
  });

  test("JsonItemStream rejects bad arguments at construction, naming them", () => {
    expect(() => new JsonItemStream("orders")).toThrow(/invalid path "orders" at character 0/);
    expect(() => new JsonItemStream("$.orders[")).toThrow(TypeError);
    expect(() => new JsonItemStream("$.a.")).toThrow(/after '\.'/);
    expect(() => new JsonItemStream("$[-1]")).toThrow(TypeError);
    expect(() => new JsonItemStream([])).toThrow(/at least one path/);
    expect(() => new JsonItemStream(42 as never)).toThrow(/paths must be a string or an array of strings, got number 42/);
    expect(() => new JsonItemStream(["$.a", "$.a"])).toThrow(/given twice/);
    expect(() => new JsonItemStream(["$.a", "$.a[*]"])).toThrow(/overlap/);
    expect(() => new JsonItemStream(["$", "$.orders[*]"])).toThrow(/overlap/);
    expect(() => new JsonItemStream(["$.*.b", "$.a.b.c"])).toThrow(/overlap/);
    expect(() => new JsonItemStream(["$.a[*]", "$.b[*]", "$[0].x"])).not.toThrow();
    expect(() => new JsonItemStream("$", null as never)).toThrow(/options must be an object/);
    expect(() => new JsonItemStream("$", { reviver: 1 as never })).toThrow(/reviver must be a function, got number 1/);
    for (const name of ["maxDepth", "maxStringLength", "maxNumberLength", "maxValueBytes", "maxTotalBytes"]) {
      expect(() => new JsonItemStream("$", { [name]: 0 })).toThrow(new RangeError(`Cannot construct JsonItemStream: ${name} must be a positive integer or Infinity, got number 0`));
      expect(() => new JsonItemStream("$", { [name]: 1.5 })).toThrow(RangeError);
      expect(() => new JsonItemStream("$", { [name]: "9" as never })).toThrow(RangeError);
      expect(() => new JsonItemStream("$", { [name]: Infinity })).not.toThrow();
    }
  });

  test("JsonItemStream parses quoted and bracketed path steps", async () => {
    const text = JSON.stringify({ "a.b": { "it's": [0, { "": "empty" }] } });
    const got = await items([encoder.encode(text)], ["$['a.b'][\"it's\"][1]['']"]);
    expect(got).toEqual([{ path: "$['a.b'][\"it's\"][1]['']", key: "", value: "empty" }]);
  });
});

describe("JsonItemStream streaming", () => {
  test("JsonItemStream emits values as their bytes arrive, before the document ends", async () => {
    const more = deferred<void>();
    let pulls = 0;
    const source = new ReadableStream<Uint8Array>({
      async pull(c) {
        pulls++;
        if (pulls === 1) c.enqueue(encoder.encode('{"orders":[{"n":1},{"n"'));
        else if (pulls === 2) {
          await more.promise;
          c.enqueue(encoder.encode(":2}]}"));
        } else c.close();
      },
    });
    const stream = new JsonItemStream("$.orders[*]");
    const reader = source.pipeThrough(stream).getReader();
    expect((await reader.read()).value).toEqual({ path: "$.orders[*]", key: 0, value: { n: 1 } });
    more.resolve();
    expect((await reader.read()).value).toEqual({ path: "$.orders[*]", key: 1, value: { n: 2 } });
    expect((await reader.read()).done).toBe(true);
    expect(await stream.summary).toEqual({ "$.orders[*]": 2 });
  });

  test("JsonItemStream waits for the reader when one chunk holds more values than it queues", async () => {
    const count = 20_000;
    let built = 0;
    const stream = new JsonItemStream("$[*]", { reviver: (_key, value) => (built++, value) });
    const writer = stream.writable.getWriter();
    const written = writer.write(encoder.encode(`[${Array.from({ length: count }, (_, i) => i).join(",")}]`));
    let settled = false;
    void written.then(() => (settled = true));
    // The transform polls the reader's pace on timers; a few of its polls pass here.
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    expect(built).toBeLessThan(4096 + 2 * 256);
    const reader = stream.readable.getReader();
    for (let i = 0; i < count; i++) expect((await reader.read()).value).toEqual({ path: "$[*]", key: i, value: i });
    await written;
    await writer.close();
    expect((await reader.read()).done).toBe(true);
    expect(await stream.summary).toEqual({ "$[*]": count });
  });

  test("JsonItemStream cancels its source when its reader is cancelled, and summary rejects with the reason", async () => {
    const cancelled = deferred<unknown>();
    let n = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(encoder.encode(n++ === 0 ? "[" : `${n},`));
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const stream = new JsonItemStream("$[*]");
    const reader = source.pipeThrough(stream).getReader();
    expect((await reader.read()).value).toEqual({ path: "$[*]", key: 0, value: 2 });
    await reader.cancel("enough");
    expect(await cancelled.promise).toBe("enough");
    expect(await errorOf(stream.summary)).toBe("enough");
  });

  test("JsonItemStream errors its source's pipe when the text is invalid, cancelling the source", async () => {
    const cancelled = deferred<unknown>();
    let n = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(encoder.encode(n++ === 0 ? "[1," : "}"));
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const error = await errorOf(collect(source.pipeThrough(new JsonItemStream("$[*]"))));
    expect(error).toBeInstanceOf(JsonParseError);
    expect(await cancelled.promise).toBe(error);
  });

  test("JsonItemStream gives the values of a chunk far larger than 64 KiB, multi-byte text included, exactly", async () => {
    const values = Array.from({ length: 30_000 }, (_, i) => (i % 3 === 0 ? { s: `é${i}🦄`, n: i } : i % 3 === 1 ? `€${"x".repeat(i % 17)}` : [i, "日本"]));
    const text = JSON.stringify(values);
    expect(text.length).toBeGreaterThan(4 * 65536);
    const got = await items([encoder.encode(text)], "$[*]");
    expect(got).toEqual(values.map((value, key) => ({ path: "$[*]", key, value })));
  });

  test("JsonItemStream holds a large selected value across many small chunks and emits it whole", async () => {
    const value = { list: Array.from({ length: 3000 }, (_, i) => ({ i, s: "é".repeat(i % 7) })) };
    const bytes = encoder.encode(JSON.stringify({ big: value, after: 1 }));
    const got = await items(cutAt(bytes, Array.from({ length: 400 }, (_, k) => k * 137)), ["$.big", "$.after"]);
    expect(got).toEqual([
      { path: "$.big", key: "big", value },
      { path: "$.after", key: "after", value: 1 },
    ]);
  });
});
