// A real S3 server for the tests, the pipeline and the benchmarks: a throwaway
// single-node Ceph (one monitor, one OSD on memstore, one RADOS Gateway) in a
// temporary directory, every daemon bound to 127.0.0.1 on ports checked free,
// with a test user and a bucket that answers CORS (for the browser runs).
// The daemons are stopped by the pid files they write: by `stop()`, on
// SIGINT/SIGTERM, and, for a run that was killed outright, by the next start,
// which sweeps the directories whose owner process is gone.
//
// If the environment names a gateway (SLUICE_S3_ENDPOINT, SLUICE_S3_ACCESS_KEY_ID,
// SLUICE_S3_SECRET_ACCESS_KEY, SLUICE_S3_BUCKET, optional SLUICE_S3_REGION),
// `gateway()` uses it instead of starting one, so one gateway can serve test
// runs started in parallel. Run as a program, this module starts one, prints
// those lines and stays until it is killed:
//
//   node --import tsx test/_support/s3/gateway.ts            # prints SLUICE_S3_...=... lines
//   node --import tsx test/_support/s3/gateway.ts -- CMD...   # runs CMD with them set, then stops
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { freePort } from "../loopback.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { AwsClient } from "aws4fetch";

const run = promisify(execFile);

/** Where a gateway answers and how to sign for it. */
export interface GatewayConfig {
  /** Base URL, no trailing slash (path-style: `${endpoint}/${bucket}/${key}`). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A bucket that exists, with a CORS rule that lets any origin upload. */
  bucket: string;
}

/** A gateway in use: `stop()` stops it if this process started it, and does nothing otherwise. */
export interface Gateway extends GatewayConfig {
  /** Milliseconds from nothing to an answering S3 port with the user and bucket made (0 when from the environment). */
  startupMs: number;
  stop(): Promise<void>;
}

const ENV = {
  endpoint: "SLUICE_S3_ENDPOINT",
  accessKeyId: "SLUICE_S3_ACCESS_KEY_ID",
  secretAccessKey: "SLUICE_S3_SECRET_ACCESS_KEY",
  bucket: "SLUICE_S3_BUCKET",
  region: "SLUICE_S3_REGION",
} as const;

/** Test-only keys of the user every started gateway has; never used anywhere else. */
export const TEST_KEYS = { accessKeyId: "SLUICETESTKEY0000000", secretAccessKey: "sluice-test-secret-key-not-a-real-secret" };

const DIR_PREFIX = "sluice-s3-";
const DAEMONS = ["client.rgw.a", "osd.0", "mon.a"];

/** The gateway the environment names, or undefined when it names none (or only part of one). */
export function gatewayFromEnv(env: Record<string, string | undefined> = process.env): GatewayConfig | undefined {
  const endpoint = env[ENV.endpoint];
  const accessKeyId = env[ENV.accessKeyId];
  const secretAccessKey = env[ENV.secretAccessKey];
  const bucket = env[ENV.bucket];
  if (!endpoint) return undefined;
  if (!accessKeyId || !secretAccessKey || !bucket) {
    throw new Error(`${ENV.endpoint} is set, so ${ENV.accessKeyId}, ${ENV.secretAccessKey} and ${ENV.bucket} must be too`);
  }
  return { endpoint: endpoint.replace(/\/+$/, ""), region: env[ENV.region] || "us-east-1", accessKeyId, secretAccessKey, bucket };
}

/** The environment lines that make {@linkcode gatewayFromEnv} answer `config`. */
export function gatewayEnvLines(config: GatewayConfig): string[] {
  return (Object.keys(ENV) as (keyof typeof ENV)[]).map((k) => `${ENV[k]}=${config[k]}`);
}

/** The gateway of the environment if it names one, else a local one started now. */
export async function gateway(): Promise<Gateway> {
  const fromEnv = gatewayFromEnv();
  if (fromEnv) return { ...fromEnv, startupMs: 0, stop: async () => {} };
  return startGateway();
}


function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Stops the daemons of a gateway directory by their pid files (TERM, then KILL after
 * `graceMs`) and removes the directory. Synchronous, so that a signal handler can use it.
 */
function stopDir(dir: string, graceMs = 3000): void {
  const pids = DAEMONS.map((name) => readPid(join(dir, `${name}.pid`))).filter((p): p is number => p !== undefined);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  const until = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < until) execFileSync("sleep", ["0.05"]);
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Stops the gateways of earlier runs that were killed before they could stop them. */
function sweepOrphans(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const owner = readPid(join(dir, "owner.pid"));
    if (owner !== undefined && !alive(owner)) stopDir(dir, 500);
  }
}

function conf(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
run dir = ${dir}
pid file = ${dir}/$name.pid
log file = ${dir}/$name.log
admin socket = ${dir}/$name.asok
keyring = ${dir}/$name.keyring
mon data = ${dir}/$name
osd data = ${dir}/$name
osd objectstore = memstore
memstore device bytes = ${4 * 2 ** 30}
osd max object name len = 256
osd max object namespace len = 64
debug ms = 0
debug rgw = 0
[client]
ms mon client mode = crc secure
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw dns name = 127.0.0.1
rgw enable usage log = false
# Free the data of deleted and aborted objects within seconds, not the default two hours:
# the OSD keeps everything in memory.
rgw gc obj min wait = 1
rgw gc processor period = 5
rgw gc processor max time = 5
`;
}

async function waitFor<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const result = await attempt().catch(() => undefined);
    if (result !== undefined) return result;
    if (Date.now() > until) throw new Error(`S3 test gateway: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** The CORS rule of the test bucket: any origin may upload and read, and see the ETag. */
const CORS = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>${["GET", "PUT", "POST", "DELETE", "HEAD"]
  .map((m) => `<AllowedMethod>${m}</AllowedMethod>`).join("")}<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

/** Starts a local gateway; rejects (after stopping whatever did start) if it cannot. */
export async function startGateway(options: { bucket?: string; timeoutMs?: number } = {}): Promise<Gateway> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const bucket = options.bucket ?? "sluice-test";
  for (const tool of ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool"]) {
    if (!["/usr/bin", "/usr/sbin", "/usr/local/bin"].some((d) => existsSync(join(d, tool)))) {
      throw new Error(`S3 test gateway: ${tool} is missing; install Debian's radosgw, ceph-mon and ceph-osd (test/_support/ensure_s3.sh does)`);
    }
  }
  sweepOrphans();
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", stopNow);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    stopDir(dir);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stopNow();
    process.kill(process.pid, signal);
  };
  process.on("exit", stopNow);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const [monPort, rgwPort] = await Promise.all([freePort(), freePort()]);
    const confFile = join(dir, "ceph.conf");
    writeFileSync(confFile, conf(dir, randomUUID(), monPort, rgwPort));
    const c = ["-c", confFile];
    mkdirSync(join(dir, "rgw"));
    await run("ceph-authtool", ["--create-keyring", join(dir, "mon.a.keyring"), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"]);
    const fsid = /fsid = (\S+)/.exec(readFileSync(confFile, "utf8"))![1]!;
    await run("monmaptool", ["--create", "--fsid", fsid, "--addv", "a", `[v2:127.0.0.1:${monPort}]`, join(dir, "monmap")]);
    await run("ceph-mon", [...c, "--mkfs", "-i", "a", "--monmap", join(dir, "monmap"), "--keyring", join(dir, "mon.a.keyring")]);
    await run("ceph-mon", [...c, "-i", "a"]);
    const osdId = (await run("ceph", [...c, "--connect-timeout", "20", "osd", "create"])).stdout.trim();
    if (osdId !== "0") throw new Error(`S3 test gateway: expected OSD id 0, got ${JSON.stringify(osdId)}`);
    mkdirSync(join(dir, "osd.0"));
    await run("ceph-osd", [...c, "-i", "0", "--mkfs"]);
    await run("ceph-osd", [...c, "-i", "0"]);
    await run("radosgw", [...c, "-n", "client.rgw.a"]);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor("the gateway's HTTP port answering", timeoutMs, async () => ((await fetch(endpoint)).status > 0 ? true : undefined));
    await waitFor("the test user's creation", timeoutMs, async () => {
      await run("radosgw-admin", [...c, "user", "create", "--uid=sluice-test", "--display-name=sluice test",
        `--access-key=${TEST_KEYS.accessKeyId}`, `--secret-key=${TEST_KEYS.secretAccessKey}`]);
      return true;
    });
    const config: GatewayConfig = { endpoint, region: "us-east-1", ...TEST_KEYS, bucket };
    const client = new AwsClient({ ...TEST_KEYS, service: "s3", region: config.region });
    const made = await client.fetch(`${endpoint}/${bucket}`, { method: "PUT" });
    if (!made.ok) throw new Error(`S3 test gateway: CreateBucket answered ${made.status}: ${await made.text()}`);
    const md5 = createHash("md5").update(CORS).digest("base64");
    const cors = await client.fetch(`${endpoint}/${bucket}?cors`, { method: "PUT", body: CORS, headers: { "content-md5": md5 } });
    if (!cors.ok) throw new Error(`S3 test gateway: PutBucketCors answered ${cors.status}: ${await cors.text()}`);
    return {
      ...config,
      startupMs: performance.now() - started,
      stop: async () => stopNow(),
    };
  } catch (error) {
    const logs = existsSync(dir)
      ? readdirSync(dir).filter((f) => f.endsWith(".log")).map((f) => `${f}: ${readFileSync(join(dir, f), "utf8").split("\n").slice(-5).join("\n")}`)
      : [];
    stopNow();
    const message = String((error as Error).message).split("\n").filter((l) => l.trim()).slice(0, 4).join("\n");
    throw new Error(`${message}${logs.length ? `\n${logs.join("\n")}` : ""}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dash = process.argv.indexOf("--");
  const command = dash === -1 ? [] : process.argv.slice(dash + 1);
  const g = await gateway();
  if (command.length === 0) {
    console.log(gatewayEnvLines(g).join("\n"));
    console.error(`S3 gateway up in ${(g.startupMs / 1000).toFixed(1)} s; stop it with Ctrl-C or SIGTERM (pid ${process.pid})`);
    setInterval(() => {}, 1 << 30);
  } else {
    // `gateway.ts -- npm run test:node`: runs the command with the gateway in its environment, then stops it.
    const env = { ...process.env, ...Object.fromEntries(gatewayEnvLines(g).map((l) => l.split(/=(.*)/s).slice(0, 2))) };
    const { spawn } = await import("node:child_process");
    const child = spawn(command[0]!, command.slice(1), { stdio: "inherit", env });
    const code = await new Promise<number>((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    await g.stop();
    process.exit(code);
  }
}
