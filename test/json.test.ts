import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { jsonStream, type JsonStreamOptions } from "../lib/json.ts";
import { collect, concat, deferred } from "./_support/util.ts";

const encoder = new TextEncoder();

async function bytesOf(value: unknown, options?: JsonStreamOptions): Promise<Uint8Array> {
  return concat(await collect(jsonStream(value, options)));
}

async function textOf(value: unknown, options?: JsonStreamOptions): Promise<string> {
  return new TextDecoder().decode(await bytesOf(value, options));
}

/** Byte equality that stays fast on large arrays (deep equality of typed arrays is slow), with a readable diff on failure. */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  let same = actual.length === expected.length;
  for (let i = 0; same && i < actual.length; i++) same = actual[i] === expected[i];
  if (!same) expect(new TextDecoder().decode(actual)).toBe(new TextDecoder().decode(expected));
  expect(same).toBe(true);
}

/** Asserts that jsonStream gives exactly the bytes of JSON.stringify, whole and with small chunks. */
async function expectSame(value: unknown, replacer?: JsonStreamOptions["replacer"], space?: JsonStreamOptions["space"]): Promise<void> {
  const expected = encoder.encode(JSON.stringify(value, replacer as never, space as never));
  for (const chunkSize of [1, 4, 5, 13, 65536]) {
    const chunks = await collect(jsonStream(value, { replacer, space, chunkSize }));
    expect(chunks.every((chunk) => chunk.length > 0 && chunk.length <= chunkSize)).toBe(true);
    expectBytes(concat(chunks), expected);
  }
}

async function errorOf(stream: ReadableStream<Uint8Array>): Promise<unknown> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return undefined;
    }
  } catch (error) {
    return error;
  }
}

function withBigIntToJSON<T>(fn: () => Promise<T>): Promise<T> {
  const proto = BigInt.prototype as unknown as { toJSON?: (this: bigint, key: string) => unknown };
  proto.toJSON = function (key) {
    return `${String(this)}n@${key}`;
  };
  return fn().finally(() => delete proto.toJSON);
}

describe("jsonStream exactness", () => {
  const sparse = [1, , 3];
  const nullProto = Object.assign(Object.create(null), { b: 2, a: [1] });
  const cases: [string, unknown][] = [
    ["primitives", [null, true, false, 0, -0, 1.5e300, -1e-7, NaN, Infinity, -Infinity, "", "x"]],
    ["strings with escapes, U+2028/U+2029, lone surrogates and astral characters", ["\"\\\n\r\t\b\f\u0001\u001f\u007f", "\u2028\u2029", "\ud800", "a\udc00b", "\udbff\udfff🦄", "€円"]],
    ["undefined, functions and symbols: omitted in objects, null in arrays", { a: undefined, b: () => 1, c: Symbol("s"), d: [undefined, () => 1, Symbol("s")], e: 1 }],
    ["holes in sparse arrays", sparse],
    ["boxed primitives", [new Number(-0), new String("s"), new Boolean(false), Object(Symbol("x")), { n: new Number(NaN) }]],
    ["integer-like keys come first, in the engine's order", { b: 1, 2: 2, a: 3, 1: 4, "-1": 5 }],
    ["nested empty containers", { a: {}, b: [], c: [{}, [[]]], d: { e: { f: {} } } }],
    ["dates and toJSON", { d: new Date(0), bad: new Date(NaN), t: { toJSON: (key: string) => `key:${key}` } }],
    ["null-prototype objects", { x: nullProto }],
    ["Maps, Sets, typed arrays and errors as JSON.stringify sees them", [new Map([[1, 2]]), new Set([1]), new Uint8Array([1, 2]), new Error("e")]],
    ["a Proxy of an object and of an array", { p: new Proxy({ a: 1, b: [2] }, {}), q: new Proxy([1, 2], {}) }],
    ["a wide array", Array.from({ length: 5000 }, (_, i) => ({ i, s: "v" + i }))],
    [
      "wide arrays inside objects, with holes, dates, undefined and nested arrays among plain items",
      { a: { b: Array.from({ length: 3000 }, (_, i) => (i % 97 === 0 ? new Date(i) : i % 89 === 0 ? undefined : i % 7 === 0 ? [i, [i]] : { i })), c: [, , 1, , 2] } },
    ],
    ["a deep but ordinary value", JSON.parse("[".repeat(500) + "1" + "]".repeat(500))],
  ];
  for (const [name, value] of cases) {
    test(`jsonStream matches JSON.stringify: ${name}`, async () => {
      await expectSame(value);
      await expectSame(value, null, 2);
      await expectSame(value, null, "-\t-");
    });
  }

  test("jsonStream calls toJSON with the key, before the replacer", async () => {
    const calls: string[] = [];
    const make = () => ({
      a: { toJSON: (key: string) => (calls.push(`toJSON ${key}`), { inner: key }) },
      list: [{ toJSON: (key: string) => (calls.push(`toJSON ${key}`), key) }],
    });
    const replacer = function (this: unknown, key: string, value: unknown) {
      calls.push(`replacer ${key} ${JSON.stringify(value)}`);
      return value;
    };
    const expected = JSON.stringify(make(), replacer);
    const expectedCalls = calls.splice(0);
    expect(await textOf(make(), { replacer })).toBe(expected);
    expect(calls).toEqual(expectedCalls);
    expect(calls).toContain("toJSON a");
    expect(calls).toContain("toJSON 0");
  });

  test("jsonStream calls the replacer with the holder as this, starting with key \"\" on a wrapper", async () => {
    const value = { a: [1, { b: 2 }] };
    const seen: [unknown, string, unknown][] = [];
    const replacer = function (this: unknown, key: string, v: unknown) {
      seen.push([this, key, v]);
      return v;
    };
    const expected = JSON.stringify(value, replacer);
    const expectedSeen = seen.splice(0);
    expect(await textOf(value, { replacer })).toBe(expected);
    expect(seen.length).toBe(expectedSeen.length);
    expect(seen[0]![0]).toEqual({ "": value });
    expect(Object.getPrototypeOf(seen[0]![0])).toBe(Object.prototype);
    expect(seen[0]![1]).toBe("");
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]![0]).toBe(expectedSeen[i]![0]);
      expect(seen[i]![1]).toBe(expectedSeen[i]![1]);
    }
  });

  test("jsonStream applies a replacer function that drops and transforms values", async () => {
    const value = { keep: 1, drop: 2, nested: { drop: 3, n: 4, list: [5, "drop", 6] } };
    const replacer = (key: string, v: unknown) => (key === "drop" || v === "drop" ? undefined : typeof v === "number" ? v * 10 : v);
    await expectSame(value, replacer);
    await expectSame(value, replacer, 3);
  });

  test("jsonStream applies replacer arrays: numbers as strings, boxed keys, duplicates dropped, objects only", async () => {
    const value = { a: 1, 1: "one", b: { a: 2, c: 3, 1: [{ a: 4, z: 5 }] }, c: 6 };
    await expectSame(value, ["a", 1, "b", "a", new String("c") as never, new Number(1) as never, {} as never, true as never]);
    await expectSame(value, ["b", "1", "a"], 2);
    await expectSame([{ a: 1, b: 2 }, [3]], ["a"]);
  });

  test("jsonStream indents nested plain values with a space string holding $ patterns exactly", async () => {
    const value = [{ "": "x", n: { m: [1, 2] } }, { d: new Date(0) }, [[1], [2]], { a: [{ b: 1 }, { c: 2 }] }];
    for (const space of ["$$", "$&", "$'", "$`", "$1", "a$$b"]) await expectSame(value, null, space);
  });

  test("jsonStream clamps space to 10, cuts strings to 10 characters and unwraps boxed spaces", async () => {
    const value = { a: [1, { b: 2 }], c: {} };
    for (const space of [-3, 0, 0.9, 1, 4.7, 10, 11, 100, Infinity, NaN, "", "\t", "0123456789abc", new Number(3), new String("><")]) {
      await expectSame(value, null, space as never);
    }
    await expectSame(value, null, true as never);
  });

  test("jsonStream invokes each getter once, in the order JSON.stringify does", async () => {
    const make = (log: string[]) => {
      const leaf = (name: string) => ({
        plain: 1,
        get g() {
          log.push(name);
          return { deeper: name };
        },
      });
      return {
        first: leaf("first"),
        get top() {
          log.push("top");
          return [leaf("inTop"), 2];
        },
        many: Array.from({ length: 300 }, (_, i) => (i % 100 === 0 ? leaf(`item${i}`) : { i })),
        last: leaf("last"),
      };
    };
    const expectedLog: string[] = [];
    const expected = JSON.stringify(make(expectedLog));
    for (const chunkSize of [4, 65536]) {
      const log: string[] = [];
      expect(await textOf(make(log), { chunkSize })).toBe(expected);
      expect(log).toEqual(expectedLog);
    }
  });

  test("jsonStream matches JSON.stringify on BigInts with BigInt.prototype.toJSON, 0n included, and boxed BigInts", async () => {
    await withBigIntToJSON(async () => {
      const value = { zero: 0n, big: 12345678901234567890n, list: [1n, -1n], boxed: Object(5n) };
      await expectSame(value);
      expect(await textOf(0n)).toBe(JSON.stringify(0n));
      expect(await textOf(0n)).toBe('"0n@"');
    });
  });

  test("jsonStream streams a value nested deeper than JSON.stringify can handle", async () => {
    const depth = 100_000;
    let deep: unknown = [];
    for (let i = 0; i < depth; i++) deep = { a: [deep] };
    // 200,001 levels: past the default maxDepth, so the bound is lifted.
    const text = await textOf(deep, { maxDepth: Infinity });
    expect(text.length).toBe(depth * 8 + 2);
    expect(text.startsWith('{"a":[{"a":[')).toBe(true);
    expect(text.includes('{"a":[[]]}')).toBe(true);
    expect(text.endsWith("]}]}]}")).toBe(true);
  });

  test("jsonStream never cuts a UTF-8 sequence between chunks", async () => {
    const value = { s: "€🦄円x".repeat(1000), k: ["ÆTH", "\u{10ffff}"] };
    for (const chunkSize of [4, 5, 6, 7, 64]) {
      const chunks = await collect(jsonStream(value, { chunkSize }));
      const decoder = new TextDecoder("utf-8", { fatal: true });
      expect(chunks.map((c) => decoder.decode(c)).join("")).toBe(JSON.stringify(value));
    }
  });

  test("jsonStream below 4 bytes per chunk keeps the size bound and the bytes, cutting inside UTF-8 sequences only then", async () => {
    const value = { s: "€🦄円x", n: [1, 2] };
    const expected = encoder.encode(JSON.stringify(value));
    for (const chunkSize of [1, 2, 3]) {
      const chunks = await collect(jsonStream(value, { chunkSize }));
      expect(chunks.every((c) => c.length > 0 && c.length <= chunkSize)).toBe(true);
      expectBytes(concat(chunks), expected);
    }
  });

  test("jsonStream splits a long string into chunks of at most chunkSize bytes", async () => {
    const value = "a".repeat(200_000);
    const chunks = await collect(jsonStream(value, { chunkSize: 65536 }));
    expect(chunks.map((c) => c.length)).toEqual([65536, 65536, 65536, 200_002 - 3 * 65536]);
  });

  test("jsonStream matches JSON.stringify on arbitrary values, replacers, spaces and chunk sizes", async () => {
    const keys = fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: -2, max: 20 }));
    const replacer = fc.oneof(
      fc.constant(null),
      fc.array(keys, { maxLength: 6 }),
      fc.constantFrom(
        (key: string, v: unknown) => (key.includes("a") ? undefined : v),
        (_key: string, v: unknown) => (typeof v === "number" ? -v : typeof v === "string" ? v.toUpperCase() : v),
        function (this: Record<string, unknown>, key: string, v: unknown) {
          return Array.isArray(this) ? v : key === "" ? v : [key, v];
        },
        (_key: string, v: unknown) => (v === null ? () => 0 : v),
      ),
    );
    const space = fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: -5, max: 20 }),
      fc.string({ maxLength: 14 }),
      fc.constantFrom("\n", "\r\n", " \n", "a\nb", "\n\n", '"\n['),
    );
    const value = fc.anything({
      withBoxedValues: true,
      withNullPrototype: true,
      withSparseArray: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withObjectString: true,
      maxDepth: 4,
    });
    await fc.assert(
      fc.asyncProperty(value, replacer, space, fc.integer({ min: 1, max: 40 }), async (v, r, s, chunkSize) => {
        const expected = JSON.stringify(v, r as never, s);
        const stream = jsonStream(v, { replacer: r as never, space: s, chunkSize });
        if (expected === undefined) {
          expect(await errorOf(stream)).toBeInstanceOf(TypeError);
          return;
        }
        const chunks = await collect(stream);
        expect(chunks.every((c) => c.length <= chunkSize)).toBe(true);
        expectBytes(concat(chunks), encoder.encode(expected));
      }),
      { numRuns: 300 },
    );
  });
});

/** Wraps `target` in a Proxy that logs every trap it runs as `name.trap(key)`. */
function spy<T extends object>(target: T, log: string[], name: string): T {
  const handler: ProxyHandler<T> = {};
  for (const trap of ["get", "has", "ownKeys", "getOwnPropertyDescriptor", "getPrototypeOf", "defineProperty", "set", "deleteProperty"] as const) {
    (handler as Record<string, unknown>)[trap] = (...args: unknown[]) => {
      const key = args[1];
      log.push(`${name}.${trap}${typeof key === "string" || typeof key === "symbol" ? `(${String(key)})` : ""}`);
      return (Reflect[trap] as (...a: unknown[]) => unknown)(...args);
    };
  }
  return new Proxy(target, handler);
}

/** A value full of user code and Proxies that logs what runs, in order. */
function tricky(log: string[]): unknown {
  const boxedNumber = Object.assign(new Number(7), { valueOf: () => (log.push("boxed valueOf"), 7) });
  const boxedString = Object.assign(new String("s"), { toString: () => (log.push("boxed toString"), "S") });
  class Items extends Array<unknown> {
    constructor(...items: unknown[]) {
      log.push("Items constructor");
      super(...items);
    }
  }
  const items = new Items();
  items.push(1, 2, { i: 3 }, 4);
  const nullProto = Object.create(null) as Record<string, unknown>;
  Object.defineProperty(nullProto, "g", { enumerable: true, get: () => (log.push("nullProto getter"), [1]) });
  return {
    a: spy({ x: 1, y: [1, 2, { z: "q" }], get g() { log.push("getter g"); return 3; } }, log, "A"),
    arr: spy([1, { k: 2 }, , 4], log, "Arr"),
    get top() {
      log.push("getter top");
      return { t: spy({ u: 1 }, log, "Top") };
    },
    t: { toJSON: (key: string) => (log.push(`toJSON ${key}`), spy({ w: 1, inner: spy({ v: 2 }, log, "Inner") }, log, "FromToJSON")) },
    boxed: [boxedNumber, boxedString, { deep: boxedNumber }],
    plain: { small: [1, 2, 3], nested: { p: spy({ q: 1 }, log, "P") } },
    wide: Array.from({ length: 40 }, (_, i) => (i === 20 ? spy({ mid: i }, log, "Mid") : i === 30 ? spy([i], log, "MidArray") : { i })),
    items,
    nullProto,
  };
}

describe("jsonStream observes the value as JSON.stringify does", () => {
  const logging = (log: string[]) =>
    function (this: unknown, key: string, value: unknown) {
      log.push(`replacer ${key}`);
      return value;
    };
  const list = ["a", "x", "y", "z", "g", "arr", "k", "top", "t", "u", "w", "inner", "v", "boxed", "deep", "plain", "small", "nested", "p", "q", "wide", "i", "mid", "items", "nullProto"];
  /** Runs JSON.stringify and jsonStream on fresh copies of the same value and returns both outputs and logs. */
  async function both(options: JsonStreamOptions, withReplacerFunction: boolean) {
    const expectedLog: string[] = [];
    const actualLog: string[] = [];
    const expected = JSON.stringify(tricky(expectedLog), (withReplacerFunction ? logging(expectedLog) : options.replacer) as never, options.space as never);
    const actual = await textOf(tricky(actualLog), { ...options, ...(withReplacerFunction ? { replacer: logging(actualLog) } : {}) });
    return { expected, actual, expectedLog, actualLog };
  }

  for (const async of [true, false]) {
    for (const space of [undefined, 2]) {
      test(`jsonStream runs getters, toJSON, the replacer, valueOf and Proxy traps as JSON.stringify does, with a replacer function (async: ${async}, space: ${space})`, async () => {
        for (const chunkSize of [4, 65536]) {
          const { expected, actual, expectedLog, actualLog } = await both({ async, space, chunkSize }, true);
          expect(actual).toBe(expected);
          // Without the native fast path every trap runs as in JSON.stringify, but for the
          // has/getPrototypeOf traps of the checks for async values and boxed primitives.
          const keep = (entry: string) => !/\.(getPrototypeOf|has)\b/.test(entry);
          expect(actualLog.filter(keep)).toEqual(expectedLog.filter(keep));
        }
      });

      test(`jsonStream runs getters, toJSON, valueOf and Proxy get traps as JSON.stringify does, on its fast path (async: ${async}, space: ${space})`, async () => {
        for (const replacer of [null, list]) {
          for (const chunkSize of [4, 65536]) {
            const { expected, actual, expectedLog, actualLog } = await both({ async, space, chunkSize, replacer }, false);
            expect(actual).toBe(expected);
            // The check of a small sub-tree before the native JSON.stringify reads a Proxy through
            // ownKeys/getOwnPropertyDescriptor/has/getPrototypeOf (there is no way to tell a Proxy
            // without running a trap); never through get, and it runs no user code.
            const keep = (entry: string) => !/\.(getPrototypeOf|has|ownKeys|getOwnPropertyDescriptor)\b/.test(entry);
            expect(actualLog.filter(keep)).toEqual(expectedLog.filter(keep));
            expect(expectedLog).toContain("getter top");
          }
        }
      });
    }
  }

  test("jsonStream reads the options as JSON.stringify reads its arguments: the replacer list once, then a boxed space", async () => {
    const expectedLog: string[] = [];
    const actualLog: string[] = [];
    const make = (log: string[]) => {
      const length = { valueOf: () => (log.push("length valueOf"), 3) };
      const key = Object.assign(new String("b"), { toString: () => (log.push("key toString"), "b") });
      const replacer = new Proxy(["a", key, 1], {
        get(target, property, receiver) {
          log.push(`list.get(${String(property)})`);
          return property === "length" ? length : Reflect.get(target, property, receiver);
        },
      });
      const space = Object.assign(new Number(2), { valueOf: () => (log.push("space valueOf"), 2) });
      return { replacer: replacer as never, space: space as never };
    };
    const value = { a: 1, b: { a: 2, 1: 3, c: 4 }, 1: 5 };
    const e = make(expectedLog);
    const expected = JSON.stringify(value, e.replacer, e.space);
    const a = make(actualLog);
    const actual = await textOf(value, { replacer: a.replacer, space: a.space });
    expect(actual).toBe(expected);
    expect(actualLog).toEqual(expectedLog);
    expect(actualLog.filter((entry) => entry === "length valueOf")).toHaveLength(1);
  });

  test("jsonStream with a replacer list reads listed keys that are inherited or not enumerable, as JSON.stringify does", async () => {
    const log: string[] = [];
    const proto = { get inherited() { log.push("inherited getter"); return { n: 1 }; }, big: 1n };
    const value = { own: Object.create(proto) as object };
    Object.defineProperty(value.own, "hidden", { value: [1, 2], enumerable: false });
    const expectedLog: string[] = [];
    const expected = JSON.stringify(value, ["own", "inherited", "hidden"]);
    expectedLog.push(...log.splice(0));
    expect(await textOf(value, { replacer: ["own", "inherited", "hidden"] })).toBe(expected);
    expect(log).toEqual(expectedLog);
    const error = await errorOf(jsonStream(value, { replacer: ["own", "big"] }));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain("$.own.big");
    const promised = { own: Object.create({ later: Promise.resolve("done") }) as object };
    expect(await textOf(promised, { replacer: ["own", "later"] })).toBe('{"own":{"later":"done"}}');
  });

  test("jsonStream writes a wide array subclass without constructing one", async () => {
    const log: string[] = [];
    class Tagged extends Array<unknown> {
      constructor(...items: unknown[]) {
        log.push("constructor");
        super(...items);
      }
    }
    // Wider than one check of a sub-tree: written as runs of plain items.
    const tagged = Tagged.from({ length: 3000 }, (_, i) => ({ i }));
    log.length = 0;
    await expectSame({ tagged });
    expect(log).toEqual([]);
  });
});

describe("jsonStream laziness", () => {
  test("jsonStream reads nothing of the value before the first read", async () => {
    let reads = 0;
    const value = {
      get a() {
        reads++;
        return 1;
      },
    };
    const stream = jsonStream(value);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(reads).toBe(0);
    const reader = stream.getReader();
    await reader.read();
    expect(reads).toBe(1);
  });

  test("jsonStream makes about one chunk per read, not the whole document", async () => {
    let gets = 0;
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const value = new Proxy(items, {
      get(target, key, receiver) {
        if (typeof key === "string" && /^\d+$/.test(key)) gets++;
        return Reflect.get(target, key, receiver);
      },
    });
    const reader = jsonStream(value, { chunkSize: 64, replacer: (_k, v) => v }).getReader();
    const first = await reader.read();
    expect(first.value!.length).toBeLessThanOrEqual(64);
    expect(gets).toBeLessThan(100);
    await reader.cancel();
  });
});

describe("jsonStream errors", () => {
  test("jsonStream errors with a TypeError naming the path of a BigInt", async () => {
    const orders = Array.from({ length: 1300 }, (_, i) => ({ id: i, amount: i === 1234 ? 5n : "5" }));
    const error = await errorOf(jsonStream({ orders }));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain("$.orders[1234].amount");
    expect((error as Error).message).toContain("BigInt");
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.orders[1234].amount");
  });

  test("jsonStream errors with a TypeError naming the path of a cycle", async () => {
    const value: Record<string, unknown> = { a: { "odd key": [1] } };
    ((value.a as Record<string, unknown[]>)["odd key"]!).push(value);
    const error = await errorOf(jsonStream(value));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('$.a["odd key"][1]');
    expect((error as Error).message).toMatch(/circular/);
  });

  test("jsonStream allows the same object twice when it is not a cycle", async () => {
    const shared = { s: 1 };
    await expectSame({ a: shared, b: [shared, shared] });
  });

  test("jsonStream passes on an error thrown by a getter, toJSON or the replacer as the same object, with its path", async () => {
    const boom = new Error("boom");
    const getter = { list: [0, { get x() { throw boom; } }] };
    let error = await errorOf(jsonStream(getter));
    expect(error).toBe(boom);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.list[1].x");

    const toJSONError = new RangeError("toJSON failed");
    error = await errorOf(jsonStream({ a: { toJSON() { throw toJSONError; } } }));
    expect(error).toBe(toJSONError);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.a");

    const replacerError = new Error("replacer failed");
    error = await errorOf(jsonStream({ a: 1, b: { c: 2 } }, { replacer: (k, v) => { if (k === "c") throw replacerError; return v; } }));
    expect(error).toBe(replacerError);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.b.c");

    error = await errorOf(jsonStream({ a: { toJSON() { throw "a string"; } } }));
    expect(error).toBe("a string");
  });

  test("jsonStream errors after partial output rather than closing normally", async () => {
    const value = { big: "x".repeat(1000), then: { get bad() { throw new Error("late"); } } };
    const reader = jsonStream(value, { chunkSize: 100 }).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    let closed = false;
    let caught: unknown;
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) {
          closed = true;
          break;
        }
      }
    } catch (error) {
      caught = error;
    }
    expect(closed).toBe(false);
    expect((caught as Error).message).toBe("late");
  });

  test("jsonStream errors with a TypeError for a value JSON.stringify turns into undefined", async () => {
    for (const value of [undefined, () => 1, Symbol("s"), { toJSON: () => undefined }]) {
      expect(JSON.stringify(value)).toBeUndefined();
      expect(await errorOf(jsonStream(value))).toBeInstanceOf(TypeError);
    }
    expect(await errorOf(jsonStream(1, { replacer: () => undefined }))).toBeInstanceOf(TypeError);
  });

  test("jsonStream rejects bad options at the call, naming the option", () => {
    expect(() => jsonStream(1, { chunkSize: 0 })).toThrow(RangeError);
    expect(() => jsonStream(1, { chunkSize: -1 })).toThrow(/chunkSize must be a positive integer/);
    expect(() => jsonStream(1, { chunkSize: 1.5 })).toThrow(RangeError);
    expect(() => jsonStream(1, { chunkSize: "64" as never })).toThrow(TypeError);
    expect(() => jsonStream(1, { replacer: 1 as never })).toThrow(TypeError);
    expect(() => jsonStream(1, { replacer: {} as never })).toThrow(/replacer/);
    expect(() => jsonStream(1, { async: "yes" as never })).toThrow(/async/);
    expect(() => jsonStream(1, { maxDepth: 0 })).toThrow("jsonStream: maxDepth must be a positive integer or Infinity, got number 0");
    expect(() => jsonStream(1, { maxDepth: 1.5 })).toThrow(RangeError);
    expect(() => jsonStream(1, { maxDepth: NaN })).toThrow(RangeError);
    expect(() => jsonStream(1, { maxDepth: "9" as never })).toThrow(/maxDepth/);
  });
});

describe("jsonStream on values that a review found wrong", () => {
  test("jsonStream indents as JSON.stringify when space holds a line break", async () => {
    const values = [
      { d: new Date(0), x: { a: [1, { b: 2 }] } },
      [new Date(0), { x: { y: [1, 2, { z: "a\nb" }] } }, [[3]], "\n"],
      { t: { toJSON: () => ({ deep: { er: [1, [2, [3, {}]]] } }) }, e: [], o: {}, s: '"[{,' },
      // Long enough to go through runs of array items, each nested.
      { d: new Date(0), rows: Array.from({ length: 1000 }, (_, i) => (i % 300 === 0 ? new Date(i) : { i, v: [i, { w: "x" }] })) },
    ];
    for (const space of ["\n", "\r\n", " \n", "a\nb", "\n\n\n", '"\n[', "\n{,"]) {
      for (const value of values) await expectSame(value, null, space);
      await expectSame(values[0], ["d", "x", "a", "b"], space);
    }
  });

  test("jsonStream calls toJSON on a function, at the top, in objects, in arrays and in plain sub-trees", async () => {
    const fn = Object.assign(() => 0, { toJSON: (key: string) => "fn@" + key });
    expect(await textOf(fn)).toBe('"fn@"');
    expect(await textOf(fn)).toBe(JSON.stringify(fn));
    await expectSame({ a: fn, b: [fn, 1, fn], c: { d: { e: fn } } });
    await expectSame([fn, fn, fn]);
    await expectSame({ a: fn, n: 1 }, null, 2);
    await expectSame({ a: fn, b: [fn] }, (_key: string, v: unknown) => v);
    // A toJSON returning a function still writes nothing, as JSON.stringify does.
    const toFunction = Object.assign(() => 0, { toJSON: () => () => 1 });
    await expectSame({ a: toFunction, b: [toFunction] });
    // An inherited toJSON counts too.
    const proto = Function.prototype as unknown as { toJSON?: (key: string) => unknown };
    proto.toJSON = (key: string) => `inherited@${key}`;
    try {
      await expectSame({ a: () => 1, b: [function named() {}, 2] });
    } finally {
      delete proto.toJSON;
    }
  });

  test("jsonStream reads an array Proxy's items through its get trap, as JSON.stringify does", async () => {
    const make = (log: string[]) =>
      new Proxy([1, 1, new Date(0)], {
        get: (target, key, receiver) => {
          log.push(String(key));
          return key === "0" || key === "1" ? 2 : Reflect.get(target, key, receiver);
        },
      });
    const expectedLog: string[] = [];
    const expected = JSON.stringify(make(expectedLog));
    expect(expected).toBe('[2,2,"1970-01-01T00:00:00.000Z"]');
    for (const chunkSize of [1, 65536]) {
      const log: string[] = [];
      expect(await textOf(make(log), { chunkSize })).toBe(expected);
      expect(log).toEqual(expectedLog);
    }
    // A long array Proxy of plain objects: runs of items, each item read once through the trap, in order.
    const wide = (log: string[]) =>
      new Proxy(Array.from({ length: 5000 }, (_, i) => (i === 4000 ? new Date(0) : { i })), {
        get: (target, key, receiver) => {
          log.push(String(key));
          const v = Reflect.get(target, key, receiver);
          return typeof v === "object" && v !== null && "i" in v ? { i: (v as { i: number }).i * 2 } : v;
        },
      });
    for (const space of [undefined, 1]) {
      const wideExpectedLog: string[] = [];
      const wideLog: string[] = [];
      const text = await textOf(wide(wideLog), { space });
      expect(text).toBe(JSON.stringify(wide(wideExpectedLog), null, space));
      expect(wideLog).toEqual(wideExpectedLog);
    }
  });

  test("jsonStream stops a replacer that wraps every value at maxDepth with a RangeError naming the depth and path", async () => {
    const wrap = (_key: string, v: unknown) => ({ wrap: v });
    // Its stack overflows: a RangeError in V8 and JavaScriptCore, an InternalError in Firefox.
    expect(() => JSON.stringify({ a: 1 }, wrap)).toThrow();
    const error = await errorOf(jsonStream({ a: 1 }, { replacer: wrap }));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/^jsonStream: the value nests deeper than maxDepth \(100000 levels\) at \$(\.wrap){8}…\(99984 levels\)…(\.wrap){8} /);
    const small = await errorOf(jsonStream({ a: 1 }, { replacer: wrap, maxDepth: 3 }));
    expect((small as Error).message).toContain("nests deeper than maxDepth (3 levels) at $.wrap.wrap.wrap (");
    expect((small as Record<string, unknown>).jsonPath).toBe("$.wrap.wrap.wrap");
  });

  test("jsonStream counts every kind of container towards maxDepth, and Infinity lifts it", async () => {
    let nested: unknown = 1;
    for (let i = 0; i < 10; i++) nested = i % 2 ? [nested] : { k: nested };
    expect(await textOf(nested, { maxDepth: 10 })).toBe(JSON.stringify(nested));
    expect(await textOf(nested, { maxDepth: 10, space: 1 })).toBe(JSON.stringify(nested, null, 1));
    // Plain sub-trees (written natively) are bounded too.
    expect(await errorOf(jsonStream(nested, { maxDepth: 9 }))).toBeInstanceOf(RangeError);
    expect(await errorOf(jsonStream([1, 2, nested], { maxDepth: 10 }))).toBeInstanceOf(RangeError);
    expect(await textOf([1, 2, nested], { maxDepth: 11 })).toBe(JSON.stringify([1, 2, nested]));
    // Async iterables and streams are levels as well; the one refused is never opened.
    let opened = false;
    const inner = { async *[Symbol.asyncIterator]() { opened = true; yield 1; } };
    expect(await textOf([[inner]], { maxDepth: 3 })).toBe("[[[1]]]");
    opened = false;
    expect(((await errorOf(jsonStream([[inner]], { maxDepth: 2 }))) as Error).message).toContain("maxDepth (2 levels) at $[0][0]");
    expect(opened).toBe(false);
    const stream = new ReadableStream({ start: (c) => c.close() });
    expect(await errorOf(jsonStream({ s: stream }, { maxDepth: 1 }))).toBeInstanceOf(RangeError);
    expect(stream.locked).toBe(false);
    // Infinity: a wrapping replacer then runs as long as it is read.
    const reader = jsonStream({ a: 1 }, { replacer: (_key: string, v: unknown) => ({ wrap: v }), maxDepth: Infinity, chunkSize: 1 << 20 }).getReader();
    let bytes = 0;
    while (bytes < 2_000_000) bytes += (await reader.read()).value!.length;
    await reader.cancel();
  });

  test("jsonStream stops an Object.prototype.toJSON that makes a new object for a replacer list of __proto__", async () => {
    const proto = Object.prototype as unknown as { toJSON?: unknown };
    let error: unknown;
    let native: unknown;
    let text: string | undefined;
    Object.defineProperty(proto, "toJSON", { value: () => ({}), configurable: true, writable: true });
    try {
      try {
        native = JSON.stringify({}, ["__proto__"]);
      } catch (e) {
        native = e;
      }
      text = await textOf({}, { replacer: ["__proto__"], maxDepth: 1000 }).catch((e: unknown) => {
        error = e;
        return undefined;
      });
    } finally {
      delete proto.toJSON;
    }
    // Deno's __proto__ getter returns undefined: there the key reads nothing, and both write {}.
    if (typeof native === "string") {
      expect(text).toBe(native);
      return;
    }
    expect(native).toBeInstanceOf(Error); // a stack overflow
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain("nests deeper than maxDepth (1000 levels) at $.__proto__.__proto__");
  });
});

describe("jsonStream async values", () => {
  test("jsonStream awaits Promises and serialises their values in place", async () => {
    const value = { a: Promise.resolve(1), b: [Promise.resolve({ c: Promise.resolve("deep") }), 2], d: Promise.resolve(undefined) };
    expect(await textOf(value)).toBe('{"a":1,"b":[{"c":"deep"},2]}');
    expect(await textOf(value, { space: 1 })).toBe(JSON.stringify({ a: 1, b: [{ c: "deep" }, 2] }, null, 1));
    expect(await textOf(Promise.resolve([1]))).toBe("[1]");
  });

  test("jsonStream applies toJSON and the replacer to what a Promise resolves to", async () => {
    const seen: unknown[] = [];
    const replacer = (key: string, v: unknown) => {
      seen.push(v);
      return key === "when" ? `at ${String(v)}` : v;
    };
    const text = await textOf({ when: Promise.resolve(new Date(0)) }, { replacer });
    expect(text).toBe('{"when":"at 1970-01-01T00:00:00.000Z"}');
    expect(seen.some((v) => v instanceof Promise)).toBe(false);
  });

  test("jsonStream awaits a Promise returned by the replacer and writes its value as it is", async () => {
    const text = await textOf({ id: 7, user: 1 }, { replacer: (k, v) => (k === "user" ? Promise.resolve({ name: "ann" }) : v) });
    expect(text).toBe('{"id":7,"user":{"name":"ann"}}');
  });

  test("jsonStream serialises an async iterable as an array, one item per pull", async () => {
    let produced = 0;
    async function* items() {
      for (let i = 0; i < 5; i++) {
        produced++;
        yield i === 2 ? undefined : { i };
      }
    }
    const reader = jsonStream({ items: items() }, { chunkSize: 4 }).getReader();
    await reader.read();
    expect(produced).toBeLessThanOrEqual(1);
    const rest: Uint8Array[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(r.value);
    expect(produced).toBe(5);
    const all = await textOf({ items: items() }, { space: 2 });
    expect(all).toBe(JSON.stringify({ items: [{ i: 0 }, { i: 1 }, null, { i: 3 }, { i: 4 }] }, null, 2));
  });

  test("jsonStream serialises a ReadableStream as an array, reading it with backpressure", async () => {
    let pulls = 0;
    const inner = new ReadableStream<unknown>({
      pull(controller) {
        pulls++;
        if (pulls > 1000) controller.close();
        else controller.enqueue({ n: pulls, s: "x".repeat(50) });
      },
    }, { highWaterMark: 0 });
    const reader = jsonStream({ rows: inner }, { chunkSize: 64 }).getReader();
    await reader.read();
    await reader.read();
    expect(pulls).toBeLessThan(10);
    let text = "";
    const decoder = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    expect(pulls).toBe(1001);
    expect(text.endsWith('{"n":1000,"s":"' + "x".repeat(50) + '"}]}')).toBe(true);
  });

  test("jsonStream applies toJSON with the index and the replacer to stream items", async () => {
    const calls: string[] = [];
    const inner = new ReadableStream({
      start(c) {
        c.enqueue({ toJSON: (key: string) => `item ${key}` });
        c.enqueue(Promise.resolve(2));
        c.close();
      },
    });
    const text = await textOf([inner], { replacer(key, v) { calls.push(key); return v; } });
    expect(text).toBe('[["item 0",2]]');
    expect(calls).toEqual(["", "0", "0", "1"]);
  });

  test("jsonStream errors with the rejection of a Promise, with its path", async () => {
    const reason = new Error("no data");
    const error = await errorOf(jsonStream({ a: [1, Promise.reject(reason)] }));
    expect(error).toBe(reason);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.a[1]");
  });

  test("jsonStream errors with an inner stream's error and an iterator's throw, with the path", async () => {
    const reason = new TypeError("broken source");
    let n = 0;
    const inner = new ReadableStream({
      pull(c) {
        if (n++ < 2) c.enqueue(n);
        else c.error(reason);
      },
    });
    let error = await errorOf(jsonStream({ rows: inner }));
    expect(error).toBe(reason);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.rows[2]");

    const thrown = new Error("iterator failed");
    async function* failing() {
      yield 1;
      throw thrown;
    }
    error = await errorOf(jsonStream({ it: failing() }));
    expect(error).toBe(thrown);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.it[1]");
  });

  test("jsonStream cancels open inner streams and returns open iterators when cancelled", async () => {
    const cancelled = deferred<unknown>();
    const inner = new ReadableStream({
      pull(c) {
        c.enqueue("row");
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    let finished = false;
    async function* outer() {
      try {
        yield inner;
        yield "never";
      } finally {
        finished = true;
      }
    }
    const reader = jsonStream({ a: outer() }, { chunkSize: 8 }).getReader();
    await reader.read();
    await reader.read();
    await reader.read();
    await reader.cancel("enough");
    expect(await cancelled.promise).toBe("enough");
    await new Promise((r) => setTimeout(r, 0));
    expect(finished).toBe(true);
  });

  test("jsonStream cancels a pending inner read when cancelled while waiting", async () => {
    const cancelled = deferred<unknown>();
    const inner = new ReadableStream({
      pull() {
        return new Promise(() => {});
      },
      cancel(reason) {
        cancelled.resolve(reason);
      },
    });
    const reader = jsonStream([inner]).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("[[");
    const pending = reader.read();
    await reader.cancel("stop");
    expect(await cancelled.promise).toBe("stop");
    expect((await pending).done).toBe(true);
  });

  test("jsonStream with async: false serialises Promises and streams as JSON.stringify does", async () => {
    const value = { p: Promise.resolve(1), i: (async function* () {})() };
    expect(await textOf(value, { async: false })).toBe('{"p":{},"i":{}}');
    // A native ReadableStream has no own enumerable properties; a polyfilled one may even hold a cycle.
    const withStream = { s: new ReadableStream() };
    let expected: string | undefined;
    try {
      expected = JSON.stringify(withStream);
    } catch {
      expected = undefined;
    }
    if (expected === undefined) expect(await errorOf(jsonStream(withStream, { async: false }))).toBeInstanceOf(TypeError);
    else expect(await textOf(withStream, { async: false })).toBe(expected);
  });

  test("jsonStream does not treat an object that merely inherits from Promise.prototype as a Promise", async () => {
    const value = { fake: Object.assign(Object.create(Promise.prototype) as object, { a: 1 }) };
    expect(await textOf(value)).toBe(JSON.stringify(value));
  });

  test("jsonStream does not call return() on an iterator whose next() threw", async () => {
    const thrown = new Error("next failed");
    let returned = false;
    const iterable = {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          throw thrown;
        },
        return: () => {
          returned = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    const error = await errorOf(jsonStream({ rows: iterable }));
    expect(error).toBe(thrown);
    expect((error as { jsonPath?: string }).jsonPath).toBe("$.rows[0]");
    expect(returned).toBe(false);
  });

  test("jsonStream does not treat a thenable as a Promise", async () => {
    const value = { t: { then: 1, x: 2 } };
    expect(await textOf(value)).toBe(JSON.stringify(value));
  });
});

describe("jsonStream gets right what peers get wrong", () => {
  test("toJSON receives its key (json-ext 1.1 calls it without)", async () => {
    const value = { when: { toJSON: (key: string) => `key=${key}` }, list: [{ toJSON: (key: string) => `key=${key}` }] };
    expect(await textOf(value)).toBe('{"when":"key=when","list":["key=0"]}');
  });

  test("0n is serialised through BigInt.prototype.toJSON (json-ext 1.1 throws)", async () => {
    await withBigIntToJSON(async () => {
      expect(await textOf({ zero: 0n })).toBe('{"zero":"0n@zero"}');
    });
  });

  test("a boxed BigInt is a TypeError, like JSON.stringify (json-ext 1.1 gives {})", async () => {
    const value = { b: Object(1n) };
    expect(() => JSON.stringify(value)).toThrow(TypeError);
    const error = await errorOf(jsonStream(value));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain("$.b");
  });

  test("a boxed space is unwrapped (json-ext 1.1 ignores it)", async () => {
    expect(await textOf({ a: 1 }, { space: new Number(2) })).toBe('{\n  "a": 1\n}');
    expect(await textOf({ a: 1 }, { space: new String("\t") })).toBe('{\n\t"a": 1\n}');
  });

  test("an undefined root is an error, not null (json-ext 1.1 writes null)", async () => {
    expect(await errorOf(jsonStream(undefined))).toBeInstanceOf(TypeError);
  });

  test("a BigInt is not written as a number (json-stream-stringify writes 1)", async () => {
    const error = await errorOf(jsonStream({ n: 1n }));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain("$.n");
  });

  test("boxed primitives are unwrapped (json-stream-stringify writes {})", async () => {
    expect(await textOf([new Number(1), new String("s"), new Boolean(true)])).toBe('[1,"s",true]');
  });

  test("space is clamped to 10 (json-stream-stringify indents by 20)", async () => {
    expect(await textOf([1], { space: 20 })).toBe(`[\n${" ".repeat(10)}1\n]`);
    expect(await textOf([1], { space: "x".repeat(20) })).toBe(`[\n${"x".repeat(10)}1\n]`);
  });

  test("keys are not cached between streams (json-stream-stringify keeps a module-level cache)", async () => {
    // Many distinct keys, in two streams: the output is exact and nothing keyed by them survives the streams.
    const value = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]));
    const text = await textOf(value, { replacer: (_k, v) => v });
    expect(text).toBe(JSON.stringify(value));
    const other = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, -i]));
    expect(await textOf(other, { replacer: (_k, v) => v })).toBe(JSON.stringify(other));
  });
});
