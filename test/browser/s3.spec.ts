// The demo page archiving to S3 (Chromium): the dev server has a bucket (the
// one SLUICE_S3_* names, or a local Ceph gateway it starts, SLUICE_DEMO_S3=local
// in playwright.config.ts), the page offers "Archive to: S3", uploads the parts
// itself with URLs the dev server presigns, and links to the stored object.
import { expect, test } from "@playwright/test";
import { gunzipSync } from "node:zlib";
import { makeAuction } from "../../demo/auction.ts";

test("archives a streamed upload to S3 with presigned parts, and the linked object gunzips to the JSON", async ({ page }) => {
  test.setTimeout(180_000);
  const errors: string[] = [];
  page.on("console", (m) => void (m.type() === "error" && errors.push(m.text())));
  page.on("pageerror", (e) => void errors.push(`uncaught: ${e.message}`));
  const presigned: string[] = [];
  page.on("request", (r) => void (r.url().endsWith("/api/s3/presign") && presigned.push(JSON.parse(r.postData() ?? "{}").operation)));
  await page.goto("/");
  // The option appears once the dev server's gateway answers (a local one takes some seconds to start).
  await expect(page.locator("#sink-s3")).toBeEnabled({ timeout: 90_000 });
  await page.selectOption("#sink", "s3");
  await page.locator("#size").fill("30");
  await page.click("#run");
  const outcome = page.locator("#outcome");
  await expect(outcome).toHaveAttribute("data-kind", /^(ok|warn|bad)$/, { timeout: 120_000 });
  expect(await outcome.getAttribute("data-kind")).toBe("ok");
  await expect(page.locator("#archive")).toContainText(/kept in S3 \(\d+ parts?, ETag "[0-9a-f]{32}(-\d+)?"\)/);
  // About 12 MB of gzip: three parts of the default 8 MiB... or fewer; more than one either way.
  expect(presigned.filter((op) => op === "UploadPart").length).toBeGreaterThan(1);
  expect(presigned).toContain("CompleteMultipartUpload");
  const href = await page.locator("#archive-link").getAttribute("href");
  expect(href).toMatch(/^\/api\/s3\/object\?key=sluice-demo%2F/);
  const object = await page.request.get(href!);
  expect(object.status()).toBe(200);
  expect(gunzipSync(await object.body()).equals(Buffer.from(JSON.stringify(makeAuction(30_000_000))))).toBe(true);
  expect(errors).toEqual([]);
});
