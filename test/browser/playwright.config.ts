// End-to-end tests of the demo page: Chromium through Playwright (Debian's
// /usr/bin/chromium), Firefox through puppeteer-core (Playwright cannot drive
// Debian's Firefox ESR), WebKit through WebDriver (WebKitGTK's MiniBrowser). One Vite dev server, over HTTPS with HTTP/2, on a free
// port chosen here; the port is kept in the environment so that the workers,
// which load this file again, agree with the main process.
import { defineConfig } from "@playwright/test";
import { fileURLToPath } from "node:url";
import { freePort } from "../_support/loopback.ts";


process.env.SLUICE_DEMO_PORT ??= String(await freePort());
const port = Number(process.env.SLUICE_DEMO_PORT);
const root = fileURLToPath(new URL("../..", import.meta.url));
const baseURL = `https://localhost:${port}`;
const chromiumPath = process.env.PLAYWRIGHT_CHROMIUM ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export default defineConfig({
  testDir: ".",
  outputDir: "../../test-results/e2e",
  timeout: 120_000,
  expect: { timeout: 60_000 },
  workers: 1,
  fullyParallel: false,
  reporter: [["list"]],
  use: {
    baseURL,
    ignoreHTTPSErrors: true,
    viewport: { width: 1360, height: 1000 },
    launchOptions: { executablePath: chromiumPath, args: chromiumArgs },
  },
  projects: [
    { name: "chromium", testMatch: /(demo|s3)\.spec\.ts$/, use: { browserName: "chromium" } },
    {
      // The same Chromium held to HTTP/1.1, where it refuses to stream request bodies.
      name: "chromium-http1",
      testMatch: "http1.spec.ts",
      use: { browserName: "chromium", launchOptions: { executablePath: chromiumPath, args: [...chromiumArgs, "--disable-http2"] } },
    },
    { name: "firefox", testMatch: "firefox.spec.ts" },
    // WebKitGTK's MiniBrowser over W3C WebDriver (test/_support/webkit_provider.ts).
    { name: "webkit", testMatch: "webkit.spec.ts" },
  ],
  webServer: {
    command: `node node_modules/vite/bin/vite.js --port ${port} --strictPort`,
    cwd: root,
    url: `${baseURL}/`,
    ignoreHTTPSErrors: true,
    reuseExistingServer: false,
    // S3: the gateway the environment names, else a local one the dev server starts (test/browser/s3.spec.ts).
    env: { SLUICE_DEMO_NO_RELOAD: "1", ...(process.env.SLUICE_S3_ENDPOINT ? {} : { SLUICE_DEMO_S3: "local" }) },
    timeout: 60_000,
    // SIGTERM, not the default SIGKILL, so the dev server stops the S3 gateway it may have started.
    gracefulShutdown: { signal: "SIGTERM", timeout: 10_000 },
    stdout: "ignore",
    stderr: "pipe",
  },
});
