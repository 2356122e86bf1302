// The server's own records of the page's runs: pushed by server-sent events
// while a run goes on, and asked for directly once it ends (events may lag).
import type { DownloadState, ServerState, UploadState } from "./api.ts";
import type { Mode } from "./state.ts";

let server: ServerState = { upload: null, download: null };
const events = new EventSource("/api/events");
events.addEventListener("state", (event) => {
  server = JSON.parse((event as MessageEvent<string>).data) as ServerState;
});

/** The server's latest record of this run's upload, if it has one. */
export function serverUpload(token: string): UploadState | undefined {
  return server.upload?.run === token ? server.upload : undefined;
}

/** The server's latest record of this run's download, if it has one. */
export function serverDownload(token: string): DownloadState | undefined {
  return server.download?.run === token ? server.download : undefined;
}

export function serverRecord(token: string, kind: Mode): UploadState | DownloadState | undefined {
  return kind === "upload" ? serverUpload(token) : serverDownload(token);
}

/** Asks the server directly (events may lag) until the run's record has settled. */
export async function settledServerState(token: string, kind: Mode): Promise<UploadState | DownloadState | undefined> {
  for (let i = 0; i < 40; i++) {
    const state = (await (await fetch("/api/state", { cache: "no-store" })).json()) as ServerState;
    const record = kind === "upload" ? state.upload : state.download;
    if (record?.run === token && record.status !== "receiving" && record.status !== "sending") {
      server = state;
      return record;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return serverRecord(token, kind);
}
