/// <reference types="@cloudflare/vitest-pool-workers/types" />
// Runs the README's Worker example inside workerd: its fetch handler called
// as the runtime calls it, and the same worker reached through workerd's
// HTTP stack (SELF), whose gzip body must gunzip to the value's JSON.
import { expect, test } from "vitest";
import { SELF } from "cloudflare:test";
import readme from "../../README.md?raw";
import source from "./readme_worker.ts?raw";
import worker from "./readme_worker.ts";
import { GunzipStream } from "../../lib/index.ts";
import { collectBytes } from "../_support/util.ts";

function expectedJson(rows: number): string {
  return JSON.stringify({ rows: Array.from({ length: rows }, (_, i) => ({ id: i, name: `row ${i}` })) });
}

test("the README shows the Worker example that these tests run", () => {
  const code = source.replace(/^(\/\/.*\n)+/, "").replace('from "../../lib/index.ts"', 'from "sluice"').trim();
  const block = /## In a Worker[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]?.trim();
  expect(block).toBe(code);
});

test("the Worker's fetch handler answers the value's JSON gzipped, streamed", async () => {
  const response = await worker.fetch(new Request("https://example.com/report?rows=5000"));
  expect(response.headers.get("content-encoding")).toBe("gzip");
  const gz = await collectBytes(response.body!);
  expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
  const json = new TextDecoder().decode(await collectBytes(new Blob([gz as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new GunzipStream())));
  expect(json).toBe(expectedJson(5000));
});

test("through workerd's HTTP stack the Worker's body is gzipped once, not twice", async () => {
  // workerd's fetch decodes Content-Encoding as a browser does: one gunzip must give the JSON
  // (had the runtime compressed the gzip again, this would still be gzip).
  const response = await SELF.fetch("https://example.com/report?rows=20000", { headers: { "accept-encoding": "gzip" } });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-encoding")).toBe("gzip");
  expect(await response.text()).toBe(expectedJson(20000));
});
