// Servers on loopback for the tests and their tooling: a free port, and a
// server listening on 127.0.0.1 port 0 whose close also ends its open
// connections, so no test leaves a socket (or a keep-alive client) behind.
import type { Server } from "node:http";
import { type AddressInfo, createServer, type Socket } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (for programs that must be told their port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A listening server's port, and a `close` that also destroys the connections still open. */
export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, port 0, keeping track of the connections so that `close` can end them. */
export async function listenOnLoopback(server: Server): Promise<Listening> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}
