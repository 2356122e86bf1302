// Global setup for every test project: starts one set of the local servers
// (see test/_support/servers/server_set.ts) for the tests that share servers across a
// run, and hands their addresses to the tests through `inject`. They listen on
// 127.0.0.1, port 0, and are closed (open connections destroyed) in teardown,
// which Vitest runs however the tests ended. The fetch tests do not use these:
// each of them starts servers of its own (test/_support/servers/per_test.ts).
// Routes: see test/_support/servers/upload_server.ts.
import type { TestProject } from "vitest/node";
import { startServerSet } from "./servers/server_set.ts";
import { startControlServer } from "./servers/control.ts";
import { serverCommands } from "./servers/commands.ts";
import { sharedGateway } from "./s3/shared.ts";
import type { GatewayConfig } from "./s3/gateway.ts";

declare module "vitest" {
  export interface ProvidedContext {
    runtime: string;
    /** Base URL (no trailing slash) of the plain HTTP/1.1 test server. */
    httpUrl: string;
    /** Base URL of the HTTPS server that speaks HTTP/2 (and HTTP/1.1 to clients without it). */
    http2Url: string;
    /** Base URL of the HTTPS server that speaks only HTTP/1.1. */
    https1Url: string;
    /** PEM of the servers' self-signed certificate, for Node and Deno clients to trust. */
    tlsCert: string;
    /** Where the workerd run calls the browser commands over HTTP (test/_support/servers/control.ts); "" elsewhere. */
    serverControlUrl: string;
    /** The S3 gateway of the run (test/_support/s3/gateway.ts): endpoint, region, keys and a bucket with CORS. */
    s3: GatewayConfig;
  }
}

export default async function setup(project: TestProject) {
  project.provide("runtime", project.name);
  const servers = await startServerSet();
  project.provide("httpUrl", servers.httpUrl);
  project.provide("http2Url", servers.http2Url);
  project.provide("https1Url", servers.https1Url);
  project.provide("tlsCert", servers.tlsCert);
  // workerd can neither listen nor call browser commands: it calls the same commands over HTTP.
  const control = project.name === "workerd" ? await startControlServer(serverCommands, project.name) : undefined;
  project.provide("serverControlUrl", control?.url ?? "");
  const s3 = await sharedGateway().catch(async (error) => {
    await control?.close();
    await servers.close();
    throw error;
  });
  project.provide("s3", s3.config);
  return async () => {
    await control?.close();
    await servers.close();
    await s3.release();
  };
}
