// The demo page in WebKit (WebKitGTK's MiniBrowser, driven over classic W3C
// WebDriver: Playwright's WebKit is a build of its own that cannot be installed
// here). WebKit cannot stream request bodies and has no OPFS in automation, so
// the page must say so, offer download mode only, and run it with the archive
// kept in memory. WebDriver gives no console log, so the page's console.error,
// uncaught errors and unhandled rejections are recorded by a hook installed
// once the page has loaded (an error while loading would leave the page
// without its capability list, which is checked first).
import { expect, test } from "@playwright/test";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { makeAuction } from "../../demo/auction.ts";
import type { ServerState } from "../../demo/api.ts";
import { launchWebKit, type WebKitSession } from "../_support/webkit_provider.ts";

let webkit: WebKitSession | undefined;

test.afterAll(async () => {
  await webkit?.close();
});

/** Runs `body` (a function body) in the page and answers its result. */
function run<T>(session: WebKitSession, body: string, ...args: unknown[]): Promise<T> {
  return session.command<T>("POST", "/execute/sync", { script: body, args });
}

/** Runs an async function body in the page (the last argument is WebDriver's callback). */
function runAsync<T>(session: WebKitSession, body: string, ...args: unknown[]): Promise<T> {
  const script = `const done = arguments[arguments.length - 1];
    (async (...args) => { ${body} })(...Array.prototype.slice.call(arguments, 0, -1))
      .then((value) => done({ value }), (error) => done({ error: String(error && error.stack || error) }));`;
  return session.command<{ value?: T; error?: string }>("POST", "/execute/async", { script, args }).then((r) => {
    if (r.error !== undefined) throw new Error(`in the page: ${r.error}`);
    return r.value as T;
  });
}

async function waitFor<T>(what: string, timeoutMs: number, poll: () => Promise<T | undefined | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await poll();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

test("in WebKit the page says uploads need request streaming, and a download run streams and archives in memory", async ({ baseURL }) => {
  test.setTimeout(180_000);
  webkit = await launchWebKit();
  await webkit.command("POST", "/url", { url: `${baseURL}/` });
  await run(webkit, `
    window.__errors = [];
    const original = console.error.bind(console);
    console.error = (...args) => { window.__errors.push(args.map(String).join(" ")); original(...args); };
    addEventListener("error", (e) => window.__errors.push("uncaught: " + e.message));
    addEventListener("unhandledrejection", (e) => window.__errors.push("unhandled: " + String(e.reason)));
  `);

  const capabilities = await waitFor("the capability list", 30_000, () =>
    run<string>(webkit!, `return document.getElementById("capabilities").textContent || null;`));
  expect(capabilities).toContain("no request streaming");
  expect(capabilities).toContain("no OPFS");
  const page = await run<{ notice: string; hidden: boolean; upload: boolean; download: boolean; drop: boolean; opfs: boolean }>(webkit, `
    const $ = (id) => document.getElementById(id);
    return {
      notice: $("notice").textContent, hidden: $("notice").hidden,
      upload: $("mode-upload").disabled, download: $("mode-download").checked,
      drop: $("fault-drop").disabled, opfs: $("sink").querySelector("option[value=opfs]").disabled,
    };`);
  expect(page).toEqual({
    notice: expect.stringContaining("Uploads need request streaming"),
    hidden: false,
    upload: true,
    download: true,
    drop: true,
    opfs: true,
  });
  expect(page.notice).toContain("Upload mode is off; download mode works here.");

  await run(webkit, `
    const size = document.getElementById("size");
    size.value = "5";
    size.dispatchEvent(new Event("input"));
    document.getElementById("run").click();`);
  const kind = await waitFor("the run's outcome", 120_000, () =>
    run<string | null>(webkit!, `const k = document.getElementById("outcome").dataset.kind; return ["ok", "warn", "bad"].includes(k) ? k : null;`));
  const outcome = await run<string>(webkit, `return document.getElementById("outcome").textContent;`);
  expect(kind, outcome).toBe("ok");

  const state = await runAsync<ServerState>(webkit, `return (await fetch("/api/state")).json();`);
  expect(state.download?.status).toBe("complete");
  const expected = Buffer.from(JSON.stringify(makeAuction(5 * 1_000_000)));
  expect(state.download!.bytes).toBe(expected.length);
  expect(state.download!.sha256).toBe(sha256(expected));
  const shown = await run<{ bytes: number; sha256: string; ok: string }>(webkit, `
    const q = (id) => document.querySelector("[data-testid=" + id + "]");
    return { bytes: Number(q("client-bytes").dataset.value), sha256: q("archive-sha256").textContent, ok: q("check").dataset.ok };`);
  expect(shown).toEqual({ bytes: state.download!.bytes, sha256: state.download!.sha256, ok: "true" });

  // The archive the page offers (a blob: URL), fetched as a visitor's download would be, then gunzipped here.
  const archive = await runAsync<{ name: string; base64: string }>(webkit, `
    const link = document.getElementById("archive-link");
    const bytes = new Uint8Array(await (await fetch(link.href)).arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { name: link.download, base64: btoa(text) };`);
  expect(archive.name).toMatch(/\.json\.gz$/);
  const archived = gunzipSync(Buffer.from(archive.base64, "base64"));
  expect(archived.equals(expected)).toBe(true);

  expect(await run<string[]>(webkit, `return window.__errors;`)).toEqual([]);
});
