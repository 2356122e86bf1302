// One S3 gateway per Vitest process, shared by every project that runs in it
// (each project's global setup asks for it; the last to let go stops it), or
// the one the environment names (test/_support/s3/gateway.ts).
import { gateway, type Gateway, type GatewayConfig } from "./gateway.ts";

interface Shared {
  started: Promise<Gateway>;
  users: number;
}

const KEY = Symbol.for("sluice.test.s3Gateway");

/** The process's gateway, started on first use; `release()` stops it once nobody uses it. */
export async function sharedGateway(): Promise<{ config: GatewayConfig; release: () => Promise<void> }> {
  const holder = globalThis as { [KEY]?: Shared };
  const shared = (holder[KEY] ??= { started: gateway(), users: 0 });
  shared.users++;
  let g: Gateway;
  try {
    g = await shared.started;
  } catch (error) {
    if (--shared.users === 0) delete holder[KEY];
    throw error;
  }
  if (g.startupMs > 0 && shared.users === 1) console.log(`S3 test gateway (Ceph RADOS Gateway) at ${g.endpoint}, up in ${(g.startupMs / 1000).toFixed(1)} s`);
  const { stop: _, startupMs: __, ...config } = g;
  let released = false;
  return {
    config,
    release: async () => {
      if (released) return;
      released = true;
      if (--shared.users > 0) return;
      delete holder[KEY];
      await g.stop();
    },
  };
}

/** The gateway the global setup of this process started or found (for browser commands, which run here). */
export async function currentGateway(): Promise<GatewayConfig> {
  const shared = (globalThis as { [KEY]?: Shared })[KEY];
  if (!shared) throw new Error("no S3 test gateway in this process: the global setup (test/_support/global_setup.ts) starts it");
  const { stop: _, startupMs: __, ...config } = await shared.started;
  return config;
}
