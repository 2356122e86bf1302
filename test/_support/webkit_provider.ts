// A Vitest browser provider for WebKit (the engine of Safari) through
// WebKitGTK: MiniBrowser has no headless mode, so it runs on a virtual X
// display (Xvfb), driven by WebKitWebDriver over classic W3C WebDriver on
// 127.0.0.1. Both processes, and a temporary HOME for the browser's data,
// belong to one launch and are ended on close, however the run ended.
import { defineBrowserProvider } from "@vitest/browser";
import type { BrowserProvider } from "vitest/node";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./loopback.ts";

export const MINIBROWSER_PATH = process.env.MINIBROWSER_PATH ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
export const WEBKIT_DRIVER_PATH = process.env.WEBKIT_DRIVER_PATH ?? "/usr/bin/WebKitWebDriver";

/** A WebDriver session in MiniBrowser and the processes behind it. */
export interface WebKitSession {
  /** WebKitWebDriver's base URL (http://127.0.0.1:PORT). */
  driverUrl: string;
  sessionId: string;
  /** Sends a WebDriver command of this session (`path` after /session/ID) and answers its `value`. */
  command<T = unknown>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T>;
  /** Deletes the session and ends the driver and the display; safe to call twice. */
  close(): Promise<void>;
}


/** The processes below `pid` (Linux: /proc/PID/task/TID/children), deepest last. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children = "";
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
    } catch {
      continue;
    }
    for (const child of children.split(" ").filter(Boolean).map(Number)) out.push(child, ...descendants(child));
  }
  return out;
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Ends a process we started (and waits for it), with SIGKILL if it outlives SIGTERM by 3 s. */
function end(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Starts Xvfb on a display it picks itself (-displayfd) and answers the display name. */
function startXvfb(): Promise<{ display: string; process: ChildProcess }> {
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let stderr = "";
    let out = "";
    xvfb.stderr!.on("data", (d: Buffer) => (stderr += d));
    xvfb.once("error", reject);
    xvfb.once("exit", (code) => reject(new Error(`Xvfb exited (${code}) before it gave a display: ${stderr.trim()}`)));
    (xvfb.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => {
      out += d;
      if (out.includes("\n")) resolve({ display: `:${out.trim()}`, process: xvfb });
    });
  });
}

async function waitForDriver(url: string, driver: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited (${driver.exitCode})`);
    try {
      const response = await fetch(`${url}/status`);
      const { value } = await response.json() as { value?: { ready?: boolean } };
      if (value?.ready) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`WebKitWebDriver did not answer at ${url} within 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function webdriver<T>(url: string, method: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json() as { value: T & { error?: string; message?: string } };
  if (!response.ok) {
    throw new Error(`WebDriver ${method} ${new URL(url).pathname}: ${answer.value?.error}: ${answer.value?.message}`);
  }
  return answer.value;
}

/**
 * Starts Xvfb and WebKitWebDriver (on a free loopback port) and opens a
 * session in MiniBrowser. If any step fails, whatever was started is ended
 * before the error is thrown.
 */
export async function launchWebKit(): Promise<WebKitSession> {
  const home = mkdtempSync(join(tmpdir(), "sluice-webkit-"));
  let xvfb: ChildProcess | undefined;
  let driver: ChildProcess | undefined;
  let driverUrl = "";
  let sessionId: string | undefined;
  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const close = () => (closing ??= (async () => {
    if (sessionId) await webdriver(`${driverUrl}/session/${sessionId}`, "DELETE").catch(() => {});
    await end(driver);
    await end(xvfb);
    rmSync(home, { recursive: true, force: true });
    markClosed();
  })());
  // Should this process exit without close (a failed run's process.exit), take the browser and
  // its helper processes along: they are the driver's descendants.
  const onExit = () => {
    for (const pid of driver?.pid ? [...descendants(driver.pid), driver.pid] : []) kill(pid);
    if (xvfb?.pid) kill(xvfb.pid);
  };
  process.once("exit", onExit);
  void closed.then(() => process.off("exit", onExit));
  try {
    const x = await startXvfb();
    xvfb = x.process;
    const port = await freePort();
    driverUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      DISPLAY: x.display,
      HOME: home,
      XDG_CONFIG_HOME: join(home, ".config"),
      XDG_CACHE_HOME: join(home, ".cache"),
      XDG_DATA_HOME: join(home, ".local", "share"),
      // No accessibility bus on a virtual display.
      NO_AT_BRIDGE: "1",
      // WebKitGTK takes navigator.language from the locale (LC_CTYPE), and
      // makes "C" of C.UTF-8, which Intl rejects as a language tag; for plain
      // "C" it says "en-US".
      ...(/^C\.|^$/i.test(process.env.LC_ALL || process.env.LC_CTYPE || process.env.LANG || "") ? { LC_ALL: "C" } : {}),
    };
    // The driver's output goes to a file, not a pipe: MiniBrowser and its web
    // processes inherit it and may outlive the driver by a moment, and an open
    // pipe would keep this process from exiting.
    const logFd = openSync(join(home, "driver.log"), "w");
    driver = spawn(WEBKIT_DRIVER_PATH, [`--port=${port}`, "--host=127.0.0.1"], { env, stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    await waitForDriver(driverUrl, driver).catch((error: Error) => {
      throw new Error(`${error.message}: ${readFileSync(join(home, "driver.log"), "utf8").trim()}`);
    });
    const session = await webdriver<{ sessionId: string }>(`${driverUrl}/session`, "POST", {
      capabilities: {
        alwaysMatch: {
          browserName: "MiniBrowser",
          acceptInsecureCerts: true,
          "webkitgtk:browserOptions": { binary: MINIBROWSER_PATH, args: ["--automation"] },
        },
      },
    });
    sessionId = session.sessionId;
  } catch (error) {
    await close();
    throw error;
  }
  const id = sessionId;
  return {
    driverUrl,
    sessionId: id,
    command: (method, path, body) => webdriver(`${driverUrl}/session/${id}${path}`, method, body),
    close,
  };
}

class WebKitProvider implements BrowserProvider {
  name = "webkit-webdriver";
  supportsParallelism = false;
  private launched: Promise<WebKitSession> | undefined;

  getCommandsContext() {
    return {};
  }

  async openPage(_sessionId: string, url: string) {
    this.launched ??= launchWebKit();
    const session = await this.launched;
    await session.command("POST", "/url", { url });
  }

  async close() {
    const launched = this.launched;
    this.launched = undefined;
    if (launched) await (await launched.catch(() => undefined))?.close();
  }
}

/** The provider, for `browser.instances[].provider` in the Vite config. */
export function webkit() {
  return defineBrowserProvider({
    name: "webkit-webdriver",
    supportedBrowser: ["webkit"],
    providerFactory: () => new WebKitProvider(),
  });
}
