// A small HTTP proxy on 127.0.0.1 between an S3 sink and the gateway, that
// injects the faults a real network and a real S3 have: a connection reset on
// a part's first attempt, a first attempt that is never answered, a part that
// always fails with a 5xx, a gateway that reads part bodies slowly. It forwards
// every request as it came (Host header included, so signatures made for the
// proxy's address stay valid) and counts what went through, so a test can check
// retries, concurrency and memory.
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listenOnLoopback } from "../loopback.ts";

/** Which faults to inject; part numbers are those of UploadPart requests. */
export interface FaultRules {
  /** Destroy the connection of the first attempt of this part, after part of its body arrived. */
  resetFirstAttemptOfPart?: number;
  /** Answer every attempt of this part with this status and an S3 error document. */
  failPart?: { partNumber: number; status: number; code: string };
  /** Read the whole body of this part's first attempt and never answer it (a stalled connection). */
  stallFirstAttemptOfPart?: number;
  /** Wait this long after every 64 KiB of a part's body before reading on (a slow gateway). */
  partReadDelayMs?: number;
}

/** What went through the proxy. */
export interface ProxyStats {
  /** Attempts per part number. */
  attempts: Record<number, number>;
  /** Body bytes of UploadPart requests answered with a 2xx, as they were answered. */
  acknowledgedPartBytes: number;
  /** The most UploadPart requests in progress at once. */
  maxConcurrentParts: number;
  /** Operations seen, in order (method and query, e.g. "PUT partNumber=1"). */
  requests: string[];
}

export interface FaultProxy {
  /** The endpoint to give the sink (or the presigner) instead of the gateway's. */
  endpoint: string;
  stats(): ProxyStats;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string, rules: FaultRules = {}): Promise<FaultProxy> {
  const target = new URL(upstream);
  const stats: ProxyStats = { attempts: {}, acknowledgedPartBytes: 0, maxConcurrentParts: 0, requests: [] };
  let partsNow = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, "http://proxy");
    // CORS preflights (from the browser runs) go through untouched and uncounted.
    const partNumber = req.method !== "OPTIONS" && url.searchParams.has("uploadId") && url.searchParams.has("partNumber") ? Number(url.searchParams.get("partNumber")) : undefined;
    const op = [...url.searchParams.keys()].filter((k) => !k.startsWith("X-Amz-")).join("&");
    if (req.method !== "OPTIONS") stats.requests.push(`${req.method} ${partNumber === undefined ? op : `partNumber=${partNumber}`}`);
    if (partNumber !== undefined) {
      const attempt = (stats.attempts[partNumber] = (stats.attempts[partNumber] ?? 0) + 1);
      if (rules.failPart?.partNumber === partNumber) {
        req.resume();
        req.on("end", () => {
          res.writeHead(rules.failPart!.status, { "content-type": "application/xml", "access-control-allow-origin": "*" });
          res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${rules.failPart!.code}</Code><Message>injected by the test proxy</Message></Error>`);
        });
        return;
      }
      if (rules.stallFirstAttemptOfPart === partNumber && attempt === 1) {
        req.resume(); // the connection ends when the client gives up, or when the proxy closes
        return;
      }
      if (rules.resetFirstAttemptOfPart === partNumber && attempt === 1) {
        let seen = 0;
        req.on("data", (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > 256 * 1024) req.socket.destroy();
        });
        return;
      }
    }
    let bodyBytes = 0;
    if (partNumber !== undefined) stats.maxConcurrentParts = Math.max(stats.maxConcurrentParts, ++partsNow);
    const done = () => {
      if (partNumber !== undefined) partsNow--;
    };
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (partNumber !== undefined && answer.statusCode! < 300) stats.acknowledgedPartBytes += bodyBytes;
      done();
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    up.on("error", () => {
      done();
      res.destroy();
    });
    req.on("error", () => up.destroy());
    if (partNumber !== undefined && rules.partReadDelayMs) {
      let sinceDelay = 0;
      let holds = 0; // reasons to stay paused: a full upstream, a delay
      const hold = () => {
        if (holds++ === 0) req.pause();
      };
      const release = () => {
        if (--holds === 0) req.resume();
      };
      req.on("data", (chunk: Buffer) => {
        bodyBytes += chunk.length;
        sinceDelay += chunk.length;
        if (!up.write(chunk)) {
          hold();
          up.once("drain", release);
        }
        if (sinceDelay >= 64 * 1024) {
          sinceDelay = 0;
          hold();
          setTimeout(release, rules.partReadDelayMs);
        }
      });
      req.on("end", () => up.end());
    } else {
      req.on("data", (chunk: Buffer) => void (bodyBytes += chunk.length));
      req.pipe(up);
    }
  };

  const { port, close } = await listenOnLoopback(createServer(handle));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => structuredClone(stats),
    close,
  };
}
