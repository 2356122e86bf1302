import { expect, inject, test } from "vitest";
import * as polyfill from "web-streams-polyfill";
import { ChunkStream } from "../lib/chunk.ts";

// The polyfill run is only worth something if sluice really ran on the
// polyfill's classes there, and the native runs only if they did not.
test("the polyfill run uses web-streams-polyfill's classes and the others the runtime's own", () => {
  const polyfilled = inject("runtime") === "polyfill";
  // Browser projects are named "chromium (chromium)": the project, then the instance.
  expect(ReadableStream === polyfill.ReadableStream).toBe(polyfilled);
  expect(TransformStream === polyfill.TransformStream).toBe(polyfilled);
  expect(new ChunkStream(1) instanceof polyfill.TransformStream).toBe(polyfilled);
});

test("each project runs in the runtime it is named after", () => {
  const runtime = inject("runtime").split(" ")[0];
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } }; navigator?: { userAgent?: string } };
  const isBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";
  switch (runtime) {
    case "node":
    case "polyfill":
      expect(g.Deno).toBeUndefined();
      expect(typeof g.process?.versions?.node).toBe("string");
      expect(isBrowser).toBe(false);
      break;
    case "deno":
      expect(g.Deno).toBeDefined();
      break;
    case "bun":
      expect((globalThis as { Bun?: { version?: string } }).Bun?.version).toMatch(/^\d+\.\d+/);
      expect(g.Deno).toBeUndefined();
      expect(isBrowser).toBe(false);
      break;
    case "chromium":
      expect(isBrowser).toBe(true);
      expect(g.navigator?.userAgent).toMatch(/Chrome\//);
      break;
    case "firefox":
      expect(isBrowser).toBe(true);
      expect(g.navigator?.userAgent).toMatch(/Firefox\//);
      break;
    case "workerd":
      // Cloudflare's Workers runtime names itself in navigator.userAgent; it has no DOM and no Worker.
      expect(g.navigator?.userAgent).toBe("Cloudflare-Workers");
      expect(isBrowser).toBe(false);
      expect(typeof (globalThis as { WebSocketPair?: unknown }).WebSocketPair).toBe("function");
      break;
    case "webkit":
      expect(isBrowser).toBe(true);
      expect(g.navigator?.userAgent).toMatch(/AppleWebKit\//);
      expect(g.navigator?.userAgent).not.toMatch(/Chrome\//);
      break;
    default:
      throw new Error(`unknown project ${runtime}`);
  }
});

// The README's runtime table, as the runtime itself answers: what each one lacks is what sluice's
// fallbacks are tested against there, so a runtime that gains or loses one of these shows up here.
test("each runtime has exactly the stream features the README's runtime table gives it", async () => {
  const runtime = inject("runtime").split(" ")[0]!;
  const { supportsRequestStreams } = await import("../lib/fetch.ts");
  const g = globalThis as { Worker?: unknown; navigator?: { storage?: { getDirectory?: unknown } } };
  const seen = {
    asyncIteration: typeof (ReadableStream.prototype as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function",
    from: typeof (ReadableStream as { from?: unknown }).from === "function",
    requestStreams: supportsRequestStreams(),
    opfs: typeof g.navigator?.storage?.getDirectory === "function",
    worker: typeof g.Worker === "function",
    compressionStream: typeof CompressionStream === "function",
  };
  const all = { asyncIteration: true, from: true, requestStreams: true, opfs: false, worker: false, compressionStream: true };
  const expected: Record<string, typeof seen> = {
    node: all,
    polyfill: all,
    deno: { ...all, worker: true },
    bun: { ...all, worker: true },
    workerd: all,
    chromium: { ...all, from: false, opfs: true, worker: true },
    firefox: { ...all, requestStreams: false, opfs: true, worker: true },
    webkit: { ...all, asyncIteration: false, from: false, requestStreams: false, worker: true },
  };
  expect(seen).toEqual(expected[runtime]);
});
