// A presign route as an application would mount it: `s3Presigner(...).handle`
// behind a plain Node HTTP server on 127.0.0.1 (port 0), answering CORS so the
// browser test pages (another origin) can call it. Keys outside the given
// prefix are refused, as `authorize` should do in a real application.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { s3Presigner } from "../../../lib/s3.ts";
import { listenOnLoopback } from "../loopback.ts";
import type { GatewayConfig } from "./gateway.ts";

export interface PresignRoute {
  url: string;
  close(): Promise<void>;
}

const CORS = { "access-control-allow-origin": "*", "access-control-allow-methods": "POST", "access-control-allow-headers": "content-type" };

export async function startPresignRoute(config: GatewayConfig, options: { endpoint?: string; keyPrefix: string }): Promise<PresignRoute> {
  const presigner = s3Presigner({
    endpoint: options.endpoint ?? config.endpoint,
    region: config.region,
    bucket: config.bucket,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    expiresIn: 300,
    authorize: (request) => request.key!.startsWith(options.keyPrefix),
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "OPTIONS") return void res.writeHead(204, CORS).end();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      ...(req.method === "GET" || req.method === "HEAD" ? {} : { body: Buffer.concat(chunks) }),
    });
    const answer = await presigner.handle(request);
    res.writeHead(answer.status, { ...Object.fromEntries(answer.headers), ...CORS });
    res.end(Buffer.from(await answer.arrayBuffer()));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      res.writeHead(500, CORS).end(String(error));
    });
  });
  const { port, close } = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}/api/s3/presign`, close };
}
