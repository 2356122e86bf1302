// What the S3 tests ask the gateway directly, with the test user's keys, to
// check what a sink left behind: the object (its bytes' length and SHA-256,
// its headers) and the multipart uploads still open under a key. Runs in any
// runtime (aws4fetch and fetch); the browser tests reach it through a browser
// command (./commands.ts), so that their pages hold no secret.
import { AwsClient } from "aws4fetch";
import type { GatewayConfig } from "./gateway.ts";

/** What is stored under a key. */
export interface StoredObject {
  /** HEAD's status: 200 when the object exists, 404 when it does not. */
  status: number;
  etag?: string;
  length?: number;
  sha256?: string;
  contentType?: string;
  contentEncoding?: string;
  /** x-amz-meta-* headers, without the prefix. */
  metadata?: Record<string, string>;
  /** Multipart uploads still open under this key (ListMultipartUploads with the key as prefix). */
  uploads: number;
}

/**
 * Signs with aws4fetch and sends with node:http, buffering the answer: the polyfill run
 * replaces the global stream classes, under which reading a fetch response's body stalled
 * in the Vitest worker. These helpers run in Node and Deno only (browsers use commands).
 */
function client(config: GatewayConfig): { fetch(url: string, init?: { method?: string }): Promise<Response> } {
  const signer = new AwsClient({ accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, service: "s3", region: config.region });
  return {
    async fetch(url, init = {}) {
      const signed = await signer.sign(url, { method: init.method ?? "GET" });
      const { request } = await import("node:http");
      const headers: Record<string, string> = {};
      signed.headers.forEach((v, k) => void (headers[k] = v));
      return new Promise<Response>((resolve, reject) => {
        const req = request(signed.url, { method: signed.method, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
            const status = res.statusCode!;
            resolve(new Response(signed.method === "HEAD" || status === 204 ? null : Buffer.concat(chunks), { status, headers: h }));
          });
        });
        req.on("error", reject);
        req.end();
      });
    },
  };
}

function objectUrl(config: GatewayConfig, key: string): string {
  return `${config.endpoint}/${config.bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

async function hex(bytes: ArrayBuffer): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Looks at what is stored under `key`. */
export async function inspectObject(config: GatewayConfig, key: string): Promise<StoredObject> {
  const c = client(config);
  const list = await c.fetch(`${config.endpoint}/${config.bucket}?uploads&prefix=${encodeURIComponent(key)}`);
  const listed = await list.text();
  if (!list.ok) throw new Error(`ListMultipartUploads answered ${list.status}: ${listed}`);
  const uploads = (listed.match(/<Upload>/g) ?? []).length;
  const head = await c.fetch(objectUrl(config, key), { method: "HEAD" });
  if (head.status !== 200) return { status: head.status, uploads };
  // The stored bytes as they are: fetch would undo a gzip Content-Encoding itself otherwise.
  const get = await c.fetch(`${objectUrl(config, key)}?response-content-encoding=identity`);
  const body = await get.arrayBuffer();
  const metadata: Record<string, string> = {};
  head.headers.forEach((value, name) => {
    if (name.startsWith("x-amz-meta-")) metadata[name.slice(11)] = value;
  });
  return {
    status: head.status,
    etag: head.headers.get("etag") ?? undefined,
    length: body.byteLength,
    sha256: await hex(body),
    contentType: head.headers.get("content-type") ?? undefined,
    contentEncoding: head.headers.get("content-encoding") ?? undefined,
    metadata,
    uploads,
  };
}

/**
 * The object's bytes, or undefined when there is none. `raw` asks the server not to apply
 * the object's Content-Encoding (fetch would undo a gzip one itself otherwise).
 */
export async function readObject(config: GatewayConfig, key: string, options: { raw?: boolean } = {}): Promise<Uint8Array | undefined> {
  const url = `${objectUrl(config, key)}${options.raw ? "?response-content-encoding=identity" : ""}`;
  const r = await client(config).fetch(url);
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`GetObject answered ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Deletes the object and aborts any upload left under `key` (the store keeps objects in memory). */
export async function removeObject(config: GatewayConfig, key: string): Promise<void> {
  const c = client(config);
  const listed = await (await c.fetch(`${config.endpoint}/${config.bucket}?uploads&prefix=${encodeURIComponent(key)}`)).text();
  for (const m of listed.matchAll(/<UploadId>(.*?)<\/UploadId>/g)) {
    await c.fetch(`${objectUrl(config, key)}?uploadId=${encodeURIComponent(m[1]!)}`, { method: "DELETE" });
  }
  await c.fetch(objectUrl(config, key), { method: "DELETE" });
}
