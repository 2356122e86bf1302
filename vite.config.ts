import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";
import { firefox } from "./test/_support/firefox_provider.ts";
import { webkit } from "./test/_support/webkit_provider.ts";
import basicSsl from "@vitejs/plugin-basic-ssl";
import { demoApi } from "./demo/api.ts";
import { serverCommands } from "./test/_support/servers/commands.ts";
import { workerdProject } from "./test/workerd/project.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const chromiumPath = process.env.PLAYWRIGHT_CHROMIUM ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
// Every file in test/ runs in every runtime; test/node/ holds the tests of the
// Node-only adapters (sluice/node), which run in Node, the polyfill run and Deno.
const unit = { include: ["test/*.test.ts"], globalSetup: ["test/_support/global_setup.ts"], testTimeout: 30_000, hookTimeout: 30_000 };
const serverSide = { ...unit, include: ["test/*.test.ts", "test/node/*.test.ts"] };
// workerd runs the same files as the browsers, plus test/workerd/ (a Worker's fetch handler).
// Its pool is loaded only when a Vitest run may include it (in Node, no --project naming only others).
const projectArgs = process.argv.flatMap((arg, i, all) =>
  arg === "--project" ? [all[i + 1]] : arg.startsWith("--project=") ? [arg.slice("--project=".length)] : []);
const withWorkerd = !!process.env.VITEST && runtime === "node" && (projectArgs.length === 0 || projectArgs.includes("workerd"));
const workerd = withWorkerd ? [await workerdProject({ ...unit, include: ["test/*.test.ts", "test/workerd/*.test.ts"] })] : [];

const testConfig = defineConfig({
  test: {
    projects: [
      { test: { ...serverSide, name: runtime, environment: "node" } },
      { test: { ...serverSide, name: "polyfill", environment: "node", setupFiles: ["test/_support/polyfill_setup.ts"] } },
      {
        test: {
          ...unit,
          name: "chromium",
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            // Per-test servers for the fetch tests, started in this process (test/_support/servers/per_test.ts).
            commands: serverCommands,
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
            // Per-test servers for the fetch tests, started in this process (test/_support/servers/per_test.ts).
            commands: serverCommands,
            provider: firefox(),
            instances: [{ browser: "firefox" }],
          },
        },
      },
      {
        test: {
          ...unit,
          name: "webkit",
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            // Per-test servers for the fetch tests, started in this process (test/_support/servers/per_test.ts).
            commands: serverCommands,
            provider: webkit(),
            instances: [{ browser: "webkit" }],
          },
        },
      },
      ...workerd,
    ],
  },
});

// Outside Vitest (`npm run demo`, the e2e tests' web server): Vite's dev server
// with the demo page and its endpoints, over HTTPS with a certificate made at
// start-up, so HTTP/2 is on and Chromium can stream request bodies.
const demoConfig = defineConfig({
  root: "demo",
  clearScreen: false,
  plugins: [basicSsl({ name: "sluice-demo", domains: ["localhost", "127.0.0.1"] }), demoApi()],
  // Bundled at start-up, so a first visit never waits for (or reloads after) their discovery.
  optimizeDeps: { include: ["fflate", "uplot", "@msgpack/msgpack"] },
  server: {
    host: "localhost",
    port: 5173,
    // The e2e tests turn reloads off: peers editing lib/ must not reload a page mid-run.
    ...(process.env.SLUICE_DEMO_NO_RELOAD ? { hmr: false, watch: null } : {}),
  },
});

export default process.env.VITEST ? testConfig : demoConfig;
