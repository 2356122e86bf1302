// One set of the local test servers, started in the calling process: the three
// servers below share one request handler (test/_support/servers/upload_server.ts, so
// an upload to one can be queried on any of them), all listen on 127.0.0.1
// port 0, and `close` stops listening and destroys every open connection and
// HTTP/2 session, so nothing of the set outlives it.
//
//   httpUrl    plain HTTP/1.1
//   http2Url   HTTPS with HTTP/2 (HTTP/1.1 offered too), self-signed certificate
//   https1Url  HTTPS with HTTP/1.1 only (what Chromium refuses to stream to)
//
// Used by the global setup (test/_support/global_setup.ts), by the per-test servers of
// Node and Deno (test/_support/servers/per_test.ts), and by the browser commands that
// start per-test servers for the browser runs (test/_support/servers/commands.ts).
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeCertificate, type Certificate } from "./cert.ts";
import { createUploadHandler } from "./upload_server.ts";

/** Where a set of servers listens, and the certificate its HTTPS servers present. */
export interface ServerUrls {
  /** Base URL (no trailing slash) of the plain HTTP/1.1 server. */
  httpUrl: string;
  /** Base URL of the HTTPS server that speaks HTTP/2 (and HTTP/1.1 to clients without it). */
  http2Url: string;
  /** Base URL of the HTTPS server that speaks only HTTP/1.1. */
  https1Url: string;
  /** PEM of the self-signed certificate, for Node and Deno clients to trust. */
  tlsCert: string;
}

/** A running set of servers. */
export interface ServerSet extends ServerUrls {
  /** Stops the servers and destroys their connections; resolves once all are closed. */
  close(): Promise<void>;
}

let certificate: Certificate | undefined;

/**
 * The certificate of every set started by this process (made once: a key takes a while to make),
 * or the one in SLUICE_TEST_CERT_DIR (key.pem, cert.pem) when a client had to be told it beforehand.
 */
export function testCertificate(): Certificate {
  const dir = process.env.SLUICE_TEST_CERT_DIR;
  return (certificate ??= dir
    ? { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }
    : makeCertificate());
}

function listen(server: Server | Http2SecureServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

function closer(server: Server | Http2SecureServer): () => Promise<void> {
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  return () => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
  });
}

/** Starts an HTTP/1.1, an HTTP/2 and an HTTPS/1.1 server; if one cannot listen, closes the others and rejects. */
export async function startServerSet(): Promise<ServerSet> {
  const { handle } = createUploadHandler();
  const { key, cert } = testCertificate();
  const http1 = createHttpServer(handle);
  const http2 = createSecureServer({ key, cert, allowHTTP1: true }, handle);
  const https1 = createHttpsServer({ key, cert }, handle);
  const servers = [http1, http2, https1] as const;
  const closers = servers.map(closer);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= Promise.all(closers.map((c) => c())).then(() => {}));
  // Settled, not raced: a failure must wait for the others to listen before closing them.
  const listening = await Promise.allSettled(servers.map(listen));
  const failed = listening.find((r) => r.status === "rejected");
  if (failed) {
    await close();
    throw failed.reason;
  }
  const [p1, p2, p3] = listening.map((r) => (r as PromiseFulfilledResult<number>).value);
  return {
    httpUrl: `http://127.0.0.1:${p1}`,
    http2Url: `https://127.0.0.1:${p2}`,
    https1Url: `https://127.0.0.1:${p3}`,
    tlsCert: cert.toString("utf8"),
    close,
  };
}
