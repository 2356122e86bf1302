// A Vitest browser provider that drives Firefox through puppeteer-core over
// WebDriver BiDi: Playwright cannot drive Debian's Firefox ESR. The profile,
// HOME and caches live in a temporary folder that is removed on close.
import { defineBrowserProvider } from "@vitest/browser";
import type { BrowserProvider } from "vitest/node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr";

/** Launches headless Firefox with its profile and HOME in a fresh temporary folder. */
export async function launchFirefox(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const home = mkdtempSync(join(tmpdir(), "sluice-firefox-"));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") };
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX_PATH,
    protocol: "webDriverBiDi",
    headless: true,
    userDataDir: join(home, "profile"),
    env: env as Record<string, string>,
    acceptInsecureCerts: true,
    extraPrefsFirefox: { "dom.security.https_first": false },
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => {});
      rmSync(home, { recursive: true, force: true });
    },
  };
}

class FirefoxProvider implements BrowserProvider {
  name = "firefox-bidi";
  supportsParallelism = false;
  private launched: Promise<{ browser: Browser; close: () => Promise<void> }> | undefined;
  private pages = new Map<string, Page>();

  getCommandsContext() {
    return {};
  }

  async openPage(sessionId: string, url: string) {
    this.launched ??= launchFirefox();
    const { browser } = await this.launched;
    let page = this.pages.get(sessionId);
    if (!page) {
      page = await browser.newPage();
      page.on("pageerror", (error) => console.error("[firefox]", error));
      this.pages.set(sessionId, page);
    }
    await page.goto(url);
  }

  async close() {
    const launched = this.launched;
    this.launched = undefined;
    this.pages.clear();
    if (launched) await (await launched).close();
  }
}

/** The provider, for `browser.instances[].provider` in the Vite config. */
export function firefox() {
  return defineBrowserProvider({
    name: "firefox-bidi",
    supportedBrowser: ["firefox"],
    providerFactory: () => new FirefoxProvider(),
  });
}
