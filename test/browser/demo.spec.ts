// The demo page in Chromium, over HTTPS with HTTP/2: a streamed upload and a
// download checked against the server's own records and against the archive
// the page offers for download, both faults, and no console errors.
import { expect, test, type Page } from "@playwright/test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { makeAuction } from "../../demo/auction.ts";
import type { ServerState } from "../../demo/api.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The exact bytes the page serialises for a payload of `mb` MB. */
function expectedJson(mb: number): Buffer {
  return Buffer.from(JSON.stringify(makeAuction(mb * 1_000_000)));
}

/** Collects console errors and uncaught exceptions of the page. */
function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  return errors;
}

async function open(page: Page, mb: number): Promise<void> {
  await page.goto("/");
  await expect(page.locator("#capabilities")).toContainText("request streaming");
  await page.locator("#size").fill(String(mb));
}

/** Clicks a button that starts a run and waits for the run's outcome. */
async function run(page: Page, button: string): Promise<string> {
  await page.click(button);
  const outcome = page.locator("#outcome");
  await expect(outcome).toHaveAttribute("data-kind", /^(ok|warn|bad)$/, { timeout: 90_000 });
  return (await outcome.getAttribute("data-kind"))!;
}

async function serverState(page: Page): Promise<ServerState> {
  const response = await page.request.get("/api/state");
  return (await response.json()) as ServerState;
}

/** Downloads the archive through the page's link, as a visitor would, and gunzips it. */
async function downloadArchive(page: Page): Promise<Buffer> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#archive-link")]);
  expect(download.suggestedFilename()).toMatch(/\.json\.gz$/);
  return gunzipSync(readFileSync((await download.path())!));
}

test("a streamed 20 MB upload reaches the server whole, and the archive gunzips to exactly what it received", async ({ page }) => {
  const errors = consoleErrors(page);
  await open(page, 20);
  expect(await run(page, "#run")).toBe("ok");

  const { upload } = await serverState(page);
  expect(upload?.status).toBe("complete");
  const expected = expectedJson(20);
  expect(upload?.bytes).toBe(expected.length);
  expect(upload?.sha256).toBe(sha256(expected));
  // The page's numbers are the server's.
  expect(Number(await page.locator("[data-testid=client-bytes]").getAttribute("data-value"))).toBe(upload!.bytes);
  expect(Number(await page.locator("[data-testid=server-bytes]").getAttribute("data-value"))).toBe(upload!.bytes);
  await expect(page.locator("[data-testid=server-sha256]")).toHaveText(upload!.sha256!);
  await expect(page.locator("[data-testid=archive-sha256]")).toHaveText(upload!.sha256!);
  await expect(page.locator("[data-testid=check]")).toHaveAttribute("data-ok", "true");

  const archived = await downloadArchive(page);
  expect(archived.length).toBe(upload!.bytes);
  expect(sha256(archived)).toBe(upload!.sha256);
  expect(errors).toEqual([]);
});

test("a download is counted live and archived: the archive is exactly what the server sent", async ({ page }) => {
  const errors = consoleErrors(page);
  await open(page, 10);
  await page.check("#mode-download");
  await page.selectOption("#sink", "opfs");
  expect(await run(page, "#run")).toBe("ok");

  const { download } = await serverState(page);
  expect(download?.status).toBe("complete");
  expect(Number(await page.locator("[data-testid=client-bytes]").getAttribute("data-value"))).toBe(download!.bytes);
  await expect(page.locator("#m-sent-sub")).toHaveText(`${download!.orders.toLocaleString("en-US")} orders counted`);
  await expect(page.locator("[data-testid=archive-sha256]")).toHaveText(download!.sha256!);
  // Kept in OPFS, and listed there.
  await expect(page.locator("#opfs")).toContainText(/auction-10MB-download-\d+\.json\.gz/);

  const archived = await downloadArchive(page);
  expect(archived.length).toBe(download!.bytes);
  expect(sha256(archived)).toBe(download!.sha256);
  expect(archived.equals(expectedJson(10))).toBe(true);

  await page.screenshot({ path: "test-results/demo-chromium-download.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("dropping the connection at 40% fails the upload, and the archive still completes", async ({ page }) => {
  const errors = consoleErrors(page);
  await open(page, 20);
  expect(await run(page, "#fault-drop")).toBe("warn");
  await expect(page.locator("#outcome")).toContainText("The server dropped the connection at 40%");
  await expect(page.locator("#outcome")).toContainText("the archive is complete");

  const { upload } = await serverState(page);
  expect(upload?.status).toBe("reset");
  expect(upload?.bytes).toBe(8_000_000);
  expect(upload?.sha256).toBeUndefined();

  const archived = await downloadArchive(page);
  expect(archived.equals(expectedJson(20))).toBe(true);
  // The one error is the browser's own report of the reset request.
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(/net::ERR_HTTP2_PROTOCOL_ERROR/);
});

test("a toJSON that throws at 60% aborts the upload and keeps no archive", async ({ page }) => {
  const errors = consoleErrors(page);
  await open(page, 20);
  expect(await run(page, "#fault-throw")).toBe("bad");
  await expect(page.locator("#outcome")).toContainText("toJSON threw at order #12,499 (60% of the value) at $.orders[12499]");
  await expect(page.locator("#outcome")).toContainText("no archive was kept");
  await expect(page.locator("#outcome")).toContainText("the server saw an aborted request");

  const { upload } = await serverState(page);
  expect(upload?.status).toBe("aborted");
  expect(upload?.bytes).toBeLessThan(expectedJson(20).length * 0.6);
  expect(upload?.sha256).toBeUndefined();
  await expect(page.locator("#archive")).toHaveAttribute("data-state", "none");
  await expect(page.locator("#archive-link")).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("the eager way and the streaming way end up side by side in the runs table", async ({ page }) => {
  const errors = consoleErrors(page);
  await open(page, 20);
  expect(await run(page, "#run")).toBe("ok");
  expect(await run(page, "#eager")).toBe("ok");
  const { upload } = await serverState(page);
  expect(upload?.status).toBe("complete");
  expect(upload?.sha256).toBe(sha256(expectedJson(20)));
  const rows = page.locator("#runs tr");
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText("eager");
  await expect(rows.nth(1)).toContainText("streaming");
  await page.screenshot({ path: "test-results/demo-chromium.png", fullPage: true });
  expect(errors).toEqual([]);
});
