import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";
import { firefox } from "./test/firefox_provider.ts";

const runtime = "Deno" in globalThis ? "deno" : "node";
const chromiumPath = process.env.PLAYWRIGHT_CHROMIUM ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const unit = { include: ["test/*.test.ts"], globalSetup: ["test/servers.ts"], testTimeout: 30_000, hookTimeout: 30_000 };

export default defineConfig({
  test: {
    projects: [
      { test: { ...unit, name: runtime, environment: "node" } },
      { test: { ...unit, name: "polyfill", environment: "node", setupFiles: ["test/polyfill_setup.ts"] } },
      {
        test: {
          ...unit,
          name: "chromium",
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({ launchOptions: { executablePath: chromiumPath, args: chromiumArgs } }),
            instances: [{ browser: "chromium" }],
          },
        },
      },
      {
        test: {
          ...unit,
          name: "firefox",
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: firefox(),
            instances: [{ browser: "firefox" }],
          },
        },
      },
    ],
  },
});
