// The S3 tests' view of the gateway, the same in every runtime: in Node and
// Deno it works in the test's own process; in a browser page, which cannot
// listen and should hold no secret, it goes through browser commands
// (./commands.ts) to the Vitest process.
import { inject } from "vitest";
import type { S3PresignFunction } from "../../../lib/s3.ts";
import type { StoredObject } from "./client.ts";
import type { FaultRules, ProxyStats } from "./fault_proxy.ts";
import type { GatewayConfig } from "./gateway.ts";

export type { StoredObject, FaultRules, ProxyStats, GatewayConfig };

export interface Proxy {
  endpoint: string;
  stats(): Promise<ProxyStats>;
  close(): Promise<void>;
}

export interface S3Kit {
  /** The gateway (endpoint, region, bucket and the test user's keys). */
  config: GatewayConfig;
  /** True in a browser page. */
  browser: boolean;
  inspect(key: string): Promise<StoredObject>;
  remove(key: string): Promise<void>;
  /** A presign function signing for `endpoint` (a proxy's) or the gateway's, run where the keys are. */
  presign(endpoint?: string): S3PresignFunction;
  startProxy(rules: FaultRules): Promise<Proxy>;
  /** A presign route (s3Presigner().handle behind HTTP) refusing keys outside `keyPrefix`. */
  startPresignRoute(keyPrefix: string, endpoint?: string): Promise<{ url: string; close(): Promise<void> }>;
}

export async function s3Kit(): Promise<S3Kit> {
  const config = inject("s3");
  const runtime = inject("runtime").split(" ")[0]!;
  const browser = !["node", "polyfill", "deno", "bun", "workerd"].includes(runtime);
  // workerd cannot listen either: it calls the same commands over HTTP (test/_support/servers/control.ts).
  if (browser || runtime === "workerd") {
    const { commands } = browser ? await import("vitest/browser") : { commands: (await import("../servers/remote_commands.ts")).remoteCommands() };
    return {
      config,
      browser,
      inspect: (key) => commands.s3Inspect(key),
      remove: (key) => commands.s3Remove(key),
      presign: (endpoint) => (request) => commands.s3Presign(request, endpoint),
      async startProxy(rules) {
        const { id, endpoint } = await commands.s3StartProxy(rules);
        return { endpoint, stats: () => commands.s3ProxyStats(id), close: () => commands.s3StopProxy(id) };
      },
      async startPresignRoute(keyPrefix, endpoint) {
        const { id, url } = await commands.s3StartPresignRoute(keyPrefix, endpoint);
        return { url, close: () => commands.s3StopPresignRoute(id) };
      },
    };
  }
  const { inspectObject, removeObject } = await import("./client.ts");
  const { startFaultProxy } = await import("./fault_proxy.ts");
  const { startPresignRoute } = await import("./presign_route.ts");
  const { s3Presigner } = await import("../../../lib/s3.ts");
  return {
    config,
    browser,
    inspect: (key) => inspectObject(config, key),
    remove: (key) => removeObject(config, key),
    presign: (endpoint) => {
      const presigner = s3Presigner({
        endpoint: endpoint ?? config.endpoint,
        region: config.region,
        bucket: config.bucket,
        credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      });
      return (request) => presigner.presign(request);
    },
    async startProxy(rules) {
      const proxy = await startFaultProxy(config.endpoint, rules);
      return { endpoint: proxy.endpoint, stats: async () => proxy.stats(), close: () => proxy.close() };
    },
    startPresignRoute: (keyPrefix, endpoint) => startPresignRoute(config, { keyPrefix, endpoint }),
  };
}
