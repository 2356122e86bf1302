// Browser commands (`browser.commands` in vite.config.ts) that let a test in
// the browser runs start and stop a set of local servers of its own. Commands
// run in the Vitest process, where Node's servers can listen; the test page
// calls them through `commands` from "vitest/browser" (see ./per_test.ts).
// The browsers reach these servers as they reach the global ones: the routes
// answer CORS, and both browsers are launched to accept the self-signed
// certificate on any origin (Playwright's ignoreHTTPSErrors for Chromium,
// acceptInsecureCerts in test/_support/firefox_provider.ts for Firefox).
import type { BrowserCommand } from "vitest/node";
import { startServerSet, type ServerSet, type ServerUrls } from "./server_set.ts";
import { s3Commands } from "../s3/commands.ts";
import { createGunzip, createInflateRaw } from "node:zlib";

/** What `startServers` answers: the set's addresses and the id to stop it with. */
export interface StartedServers extends ServerUrls {
  id: string;
}

declare module "vitest/browser" {
  interface BrowserCommands {
    /** Starts a set of test servers in the Vitest process. */
    startServers: () => Promise<StartedServers>;
    /** Closes the set `startServers` answered with this id (nothing if it is already closed). */
    stopServers: (id: string) => Promise<void>;
    /** Decompresses base64 bytes with node:zlib (the fuzz tests' reference): whether zlib read it all, and what it gave. */
    zlibDecompress: (format: "gzip" | "deflate-raw", base64: string) => Promise<{ ok: boolean; out: string; message?: string }>;
  }
}

const running = new Map<string, ServerSet>();
let counter = 0;

const startServers: BrowserCommand<[], StartedServers> = async ({ sessionId }) => {
  const servers = await startServerSet();
  const id = `${sessionId}-${++counter}`;
  running.set(id, servers);
  const { close: _, ...urls } = servers;
  return { id, ...urls };
};

const stopServers: BrowserCommand<[id: string], void> = async (_context, id) => {
  const servers = running.get(id);
  running.delete(id);
  await servers?.close();
};

const zlibDecompress: BrowserCommand<[format: "gzip" | "deflate-raw", base64: string], { ok: boolean; out: string; message?: string }> = (
  _context,
  format,
  base64,
) => {
  const z = format === "gzip" ? createGunzip() : createInflateRaw();
  const parts: Buffer[] = [];
  return new Promise((resolve) => {
    const answer = (ok: boolean, message?: string) => resolve({ ok, out: Buffer.concat(parts).toString("base64"), ...(message === undefined ? {} : { message }) });
    z.on("data", (chunk: Buffer) => void parts.push(chunk));
    z.on("end", () => answer(true));
    z.on("error", (error: Error) => answer(false, error.message));
    z.end(Buffer.from(base64, "base64"));
  });
};

/** The commands, for `browser.commands` of the browser projects. */
export const serverCommands = { startServers, stopServers, zlibDecompress, ...s3Commands };
