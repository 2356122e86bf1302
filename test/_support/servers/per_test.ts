// Servers of a test's own: `startServers()` starts a set of the local test
// servers (HTTP/1.1, HTTP/2 and HTTPS/1.1 on 127.0.0.1, port 0; see
// ./server_set.ts) for one test, and the caller closes it when the test ends,
// however it ends, e.g. from a beforeEach that returns the cleanup:
//
//   beforeEach(async () => {
//     servers = await startServers();
//     return () => servers.close();
//   });
//
// In Node, Deno and Bun the servers run in the test's own process. A browser
// cannot listen, so there the test asks the Vitest process to start and stop
// them through browser commands (./commands.ts); workerd calls the same
// commands over HTTP on loopback (./control.ts).
import { inject } from "vitest";
import type { ServerSet } from "./server_set.ts";

export type { ServerSet, ServerUrls } from "./server_set.ts";

export async function startServers(): Promise<ServerSet> {
  // Browser projects are named "chromium (chromium)": the project, then the instance.
  const runtime = inject("runtime").split(" ")[0];
  if (runtime === "chromium" || runtime === "firefox" || runtime === "webkit" || runtime === "workerd") {
    const { commands } = runtime === "workerd" ? { commands: (await import("./remote_commands.ts")).remoteCommands() } : await import("vitest/browser");
    const { id, ...urls } = await commands.startServers();
    return { ...urls, close: () => commands.stopServers(id) };
  }
  const { startServerSet } = await import("./server_set.ts");
  return startServerSet();
}
