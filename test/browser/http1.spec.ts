// Chromium over HTTP/1.1 says it supports request streams but refuses to send
// one: the page must say so plainly, keep the archive, and fall back to
// download mode, which works.
import { expect, test } from "@playwright/test";
import type { ServerState } from "../../demo/api.ts";

test("where Chromium refuses the streamed upload (HTTP/1.1), the page says so, keeps the archive and switches to download mode", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  await page.goto("/");
  await expect(page.locator("#capabilities")).toContainText("connection: http/1.1");
  await page.locator("#size").fill("5");
  const state = async () => (await (await page.request.get("/api/state")).json()) as ServerState;
  const lastUpload = (await state()).upload?.id;
  await page.click("#run");
  const outcome = page.locator("#outcome");
  await expect(outcome).toHaveAttribute("data-kind", "warn");
  await expect(outcome).toContainText("The browser refused to stream the upload, so nothing was sent");
  await expect(page.locator("#notice")).toContainText("Upload mode is off; download mode works here.");
  await expect(page.locator("#mode-upload")).toBeDisabled();
  await expect(page.locator("#mode-download")).toBeChecked();
  await expect(page.locator("#archive-link")).toHaveCount(1);
  await expect(page.locator("[data-testid=check]")).toHaveAttribute("data-ok", "true");
  await expect(page.locator("#facts")).toContainText("saw nothing of this upload");
  expect((await state()).upload?.id).toBe(lastUpload);

  await page.click("#run");
  await expect(outcome).toHaveAttribute("data-kind", "ok");
  const { download } = await state();
  await expect(page.locator("[data-testid=archive-sha256]")).toHaveText(download!.sha256!);
  // The one error is the browser's own report of the refused request.
  expect(errors).toEqual([expect.stringContaining("net::ERR_ALPN_NEGOTIATION_FAILED")]);
});
