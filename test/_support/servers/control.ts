// For the runs whose tests cannot listen and have no browser commands
// (workerd): the browser commands (./commands.ts: test servers, the S3 kit's
// presigning, proxies and routes) served over HTTP by the Vitest process, on
// 127.0.0.1 port 0. The global setup starts it for those runs and closes it
// when the run ends; ./remote_commands.ts is the tests' side.
//
//   POST /command/NAME   body: the JSON array of arguments
//                        answer: { value } or, when the command threw, { error }
import { createServer } from "node:http";
import { listenOnLoopback } from "../loopback.ts";

// A browser command's shape: (context, ...args) => result. Of the context, only `sessionId` is given.
type Command = (context: never, ...args: never[]) => unknown;

export interface ControlServer {
  /** Base URL of the control server. */
  url: string;
  /** Stops it (the commands' own resources are stopped by their stop commands or the global teardown). */
  close(): Promise<void>;
}

export async function startControlServer(commands: Record<string, Command>, sessionId: string): Promise<ControlServer> {
  const server = createServer((request, response) => {
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    const name = /^\/command\/([A-Za-z0-9]+)$/.exec(request.url ?? "")?.[1];
    const command = name !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (request.method !== "POST" || command === undefined) return answer(404, { error: `no command ${request.method} ${request.url}` });
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      Promise.resolve()
        .then(() => command({ sessionId } as never, ...(JSON.parse(Buffer.concat(chunks).toString("utf8") || "[]") as never[])))
        .then((value) => answer(200, { value }), (error: Error) => answer(200, { error: error?.message ?? String(error) }));
    });
  });
  const { port, close } = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}`, close };
}
