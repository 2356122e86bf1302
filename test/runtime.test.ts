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
