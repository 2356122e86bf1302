// Global setup for every test project: starts the local servers that network
// tests talk to and hands their addresses to the tests through `inject`.
// All listen on 127.0.0.1, port 0, and are closed (open connections destroyed)
// in teardown, which Vitest runs however the tests ended.
//
//   httpUrl    plain HTTP/1.1
//   http2Url   HTTPS with HTTP/2 (HTTP/1.1 offered too), self-signed certificate
//   https1Url  HTTPS with HTTP/1.1 only (what Chromium refuses to stream to)
// Routes: see test/_servers/upload_server.ts.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { makeCertificate } from "./_servers/cert.ts";
import { createUploadHandler } from "./_servers/upload_server.ts";

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
  }
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
    server.close(() => resolve());
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
  });
}

export default async function setup(project: TestProject) {
  project.provide("runtime", project.name);
  const { handle } = createUploadHandler();
  const { key, cert } = makeCertificate();
  const http1 = createHttpServer(handle);
  const http2 = createSecureServer({ key, cert, allowHTTP1: true }, handle);
  const https1 = createHttpsServer({ key, cert }, handle);
  const servers = [http1, http2, https1] as const;
  const closers = servers.map(closer);
  const teardown = async () => {
    await Promise.all(closers.map((close) => close()));
  };
  try {
    const [p1, p2, p3] = await Promise.all(servers.map(listen));
    project.provide("httpUrl", `http://127.0.0.1:${p1}`);
    project.provide("http2Url", `https://127.0.0.1:${p2}`);
    project.provide("https1Url", `https://127.0.0.1:${p3}`);
    project.provide("tlsCert", cert.toString("utf8"));
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
