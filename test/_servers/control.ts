// For the runs whose tests cannot listen and have no browser commands
// (workerd): a small HTTP server in the Vitest process, on 127.0.0.1 port 0,
// that starts and stops sets of the test servers on request, as the browser
// commands do (./commands.ts). The global setup starts it for those runs and
// closes it, with every set still running, when the run ends.
//
//   POST /start        starts a set; answers its ServerUrls and an id
//   POST /stop?id=ID   closes that set (nothing if it is already closed)
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { startServerSet, type ServerSet } from "./server_set.ts";

export interface ControlServer {
  /** Base URL of the control server. */
  url: string;
  /** Closes every set it started, then itself. */
  close(): Promise<void>;
}

export async function startControlServer(): Promise<ControlServer> {
  const running = new Map<string, ServerSet>();
  const sockets = new Set<Socket>();
  let counter = 0;
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    if (request.method === "POST" && url.pathname === "/start") {
      startServerSet().then((set) => {
        const id = String(++counter);
        running.set(id, set);
        const { close: _, ...urls } = set;
        answer(200, { id, ...urls });
      }, (error: Error) => answer(500, { error: error.message }));
    } else if (request.method === "POST" && url.pathname === "/stop") {
      const id = url.searchParams.get("id") ?? "";
      const set = running.get(id);
      running.delete(id);
      (set?.close() ?? Promise.resolve()).then(() => answer(200, { id }), (error: Error) => answer(500, { error: error.message }));
    } else {
      answer(404, { error: `no route ${request.method} ${url.pathname}` });
    }
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await Promise.all([...running.values()].map((set) => set.close()));
      running.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
