// The demo page in Firefox (driven by puppeteer-core over WebDriver BiDi;
// Playwright cannot drive Debian's Firefox ESR): Firefox cannot stream request
// bodies, so the page must say so plainly, offer download mode only, and run it.
import { expect, test } from "@playwright/test";
import type { Page } from "puppeteer-core";
import { launchFirefox } from "../_support/firefox_provider.ts";
import type { ServerState } from "../../demo/api.ts";

type Launched = Awaited<ReturnType<typeof launchFirefox>>;
let firefox: Launched | undefined;

test.afterAll(async () => {
  await firefox?.close();
});

async function outcome(page: Page): Promise<string> {
  await page.waitForFunction(
    () => ["ok", "warn", "bad"].includes(document.querySelector<HTMLElement>("#outcome")?.dataset.kind ?? ""),
    { timeout: 90_000, polling: 200 },
  );
  return page.$eval("#outcome", (el) => (el as HTMLElement).dataset.kind!);
}

test("in Firefox the page says uploads need request streaming, and a download run works", async ({ baseURL }) => {
  firefox = await launchFirefox();
  const page = await firefox.browser.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${(error as Error).message}`));
  await page.setViewport({ width: 1360, height: 1000 });
  await page.goto(`${baseURL}/`);

  await page.waitForSelector("#notice:not([hidden])");
  const notice = await page.$eval("#notice", (el) => el.textContent ?? "");
  expect(notice).toContain("Uploads need request streaming");
  expect(notice).toContain("Upload mode is off; download mode works here.");
  expect(await page.$eval("#mode-upload", (el) => (el as HTMLInputElement).disabled)).toBe(true);
  expect(await page.$eval("#mode-download", (el) => (el as HTMLInputElement).checked)).toBe(true);
  expect(await page.$eval("#fault-drop", (el) => (el as HTMLButtonElement).disabled)).toBe(true);
  expect(await page.$eval("#capabilities", (el) => el.textContent)).toContain("no request streaming");

  await page.$eval("#size", (el) => ((el as HTMLInputElement).value = "5"));
  await page.click("#run");
  expect(await outcome(page)).toBe("ok");

  const state = (await page.evaluate(async () => (await fetch("/api/state")).json())) as ServerState;
  expect(state.download?.status).toBe("complete");
  const pageBytes = await page.$eval("[data-testid=client-bytes]", (el) => Number((el as HTMLElement).dataset.value));
  expect(pageBytes).toBe(state.download!.bytes);
  expect(await page.$eval("[data-testid=archive-sha256]", (el) => el.textContent)).toBe(state.download!.sha256);
  expect(await page.$eval("[data-testid=check]", (el) => (el as HTMLElement).dataset.ok)).toBe("true");

  await page.screenshot({ path: "test-results/demo-firefox.png", fullPage: true });
  expect(errors).toEqual([]);
});
