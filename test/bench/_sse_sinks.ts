// Background clients for the SSE latency benchmark, in a process of their own so that their
// reading costs the server's process nothing: N raw HTTP/1.1 connections to the URL given as
// argv[2] that read every byte and discard it. Says { type: "connected" } over IPC once every
// response's headers have arrived; ends when the parent's IPC channel closes.
import { connect, type Socket } from "node:net";

const url = new URL(process.argv[2]!);
const count = Number(process.argv[3]);
const sockets: Socket[] = [];
let headers = 0;
for (let i = 0; i < count; i++) {
  const socket = connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  sockets.push(socket);
  let seen = false;
  socket.on("data", () => {
    if (!seen && (seen = true) && ++headers === count) process.send!({ type: "connected" });
  });
  socket.on("error", () => {});
  socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
}
process.on("disconnect", () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
