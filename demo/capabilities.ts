// What this browser can do, detected once at load: request streaming (through
// sluice's own probe), the connection's protocol, OPFS and heap readings; and
// whether upload mode is off, which a refused upload can also decide later.
import { supportsRequestStreams } from "../lib/index.ts";
import { $ } from "./dom.ts";
import { heapBytes } from "./meters.ts";

export const protocol =
  (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined)?.nextHopProtocol ?? "";
export const hasOpfs = typeof navigator.storage?.getDirectory === "function";
export const requestStreams = supportsRequestStreams();
const hasHeap = heapBytes() !== undefined;

let uploadsOffReason: string | undefined = requestStreams
  ? undefined
  : "Uploads need request streaming: this browser cannot send a ReadableStream as a fetch body " +
    "(fetch with duplex: \"half\"), so it would have to hold the whole payload first. " +
    "Upload mode is off; download mode works here. Chromium-based browsers stream uploads over HTTPS with HTTP/2.";

/** Why upload mode is off, or undefined while it is on. */
export function uploadsOff(): string | undefined {
  return uploadsOffReason;
}

/** Turns upload mode off for the rest of the visit, with the reason the page shows. */
export function turnUploadsOff(reason: string): void {
  uploadsOffReason = reason;
}

export function showCapabilities(): void {
  const items: [string, boolean, string][] = [
    [requestStreams ? "request streaming" : "no request streaming", requestStreams, "fetch() with a ReadableStream body (duplex: \"half\")"],
    [protocol === "h2" ? "HTTP/2" : protocol ? `connection: ${protocol}` : "protocol unknown", protocol === "h2", "streamed uploads need HTTP/2"],
    [hasOpfs ? "OPFS" : "no OPFS", hasOpfs, "origin private file system, for archives on disk"],
    [hasHeap ? "JS heap readings" : "no JS heap readings", hasHeap, "performance.memory (Chromium only)"],
  ];
  $("capabilities").replaceChildren(...items.map(([text, yes, title]) => {
    const li = document.createElement("li");
    li.className = yes ? "yes" : "no";
    li.textContent = text;
    li.title = title;
    return li;
  }));
}
