// Browser commands for the S3 tests: a browser page cannot listen or hold the
// test user's secret, so it asks the Vitest process (where these run) to
// presign its requests, to inspect and remove what it stored, and to start and
// stop fault proxies and presign routes. See ./kit.ts for the page's side.
import type { BrowserCommand } from "vitest/node";
import type { S3PresignedRequest, S3PresignRequest } from "../../../lib/s3.ts";
import { s3Presigner } from "../../../lib/s3.ts";
import { inspectObject, removeObject, type StoredObject } from "./client.ts";
import { startFaultProxy, type FaultProxy, type FaultRules, type ProxyStats } from "./fault_proxy.ts";
import { startPresignRoute, type PresignRoute } from "./presign_route.ts";
import { currentGateway } from "./shared.ts";

declare module "vitest/browser" {
  interface BrowserCommands {
    s3Inspect: (key: string) => Promise<StoredObject>;
    s3Remove: (key: string) => Promise<void>;
    /** Presigns with the test user's keys, for `endpoint` (a proxy's) or the gateway's. */
    s3Presign: (request: S3PresignRequest, endpoint?: string) => Promise<S3PresignedRequest>;
    s3StartProxy: (rules: FaultRules) => Promise<{ id: string; endpoint: string }>;
    s3ProxyStats: (id: string) => Promise<ProxyStats>;
    s3StopProxy: (id: string) => Promise<void>;
    s3StartPresignRoute: (keyPrefix: string, endpoint?: string) => Promise<{ id: string; url: string }>;
    s3StopPresignRoute: (id: string) => Promise<void>;
  }
}

const proxies = new Map<string, FaultProxy>();
const routes = new Map<string, PresignRoute>();
let counter = 0;

const s3Inspect: BrowserCommand<[string], StoredObject> = async (_c, key) => inspectObject(await currentGateway(), key);
const s3Remove: BrowserCommand<[string], void> = async (_c, key) => removeObject(await currentGateway(), key);
const s3Presign: BrowserCommand<[S3PresignRequest, string?], S3PresignedRequest> = async (_c, request, endpoint) => {
  const g = await currentGateway();
  const presigner = s3Presigner({
    endpoint: endpoint ?? g.endpoint,
    region: g.region,
    bucket: g.bucket,
    credentials: { accessKeyId: g.accessKeyId, secretAccessKey: g.secretAccessKey },
  });
  return presigner.presign(request);
};
const s3StartProxy: BrowserCommand<[FaultRules], { id: string; endpoint: string }> = async ({ sessionId }, rules) => {
  const proxy = await startFaultProxy((await currentGateway()).endpoint, rules);
  const id = `${sessionId}-proxy-${++counter}`;
  proxies.set(id, proxy);
  return { id, endpoint: proxy.endpoint };
};
const s3ProxyStats: BrowserCommand<[string], ProxyStats> = async (_c, id) => proxies.get(id)!.stats();
const s3StopProxy: BrowserCommand<[string], void> = async (_c, id) => {
  const proxy = proxies.get(id);
  proxies.delete(id);
  await proxy?.close();
};
const s3StartPresignRoute: BrowserCommand<[string, string?], { id: string; url: string }> = async ({ sessionId }, keyPrefix, endpoint) => {
  const route = await startPresignRoute(await currentGateway(), { keyPrefix, endpoint });
  const id = `${sessionId}-route-${++counter}`;
  routes.set(id, route);
  return { id, url: route.url };
};
const s3StopPresignRoute: BrowserCommand<[string], void> = async (_c, id) => {
  const route = routes.get(id);
  routes.delete(id);
  await route?.close();
};

/** The commands, merged into `browser.commands` of the browser projects (test/_support/servers/commands.ts). */
export const s3Commands = { s3Inspect, s3Remove, s3Presign, s3StartProxy, s3ProxyStats, s3StopProxy, s3StartPresignRoute, s3StopPresignRoute };
