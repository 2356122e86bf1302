// The demo page: one generated auction streamed to the server and into a gzip
// archive at once (upload mode), or streamed from the server, counted live and
// archived (download mode); the same done eagerly for comparison; and two
// faults that show what sluice keeps when things break. sluice is imported
// through its public face only, as any user would.
import {
  ChunkStream,
  GunzipStream,
  GzipStream,
  MeasureStream,
  blobSink,
  jsonStream,
  opfsSink,
  supportsRequestStreams,
  tee,
  uploadStream,
  type TransferReport,
} from "../lib/index.ts";
import { gzipSync } from "fflate";
import { makeAuction, type Auction } from "./auction.ts";
import type { DownloadState, ServerState, UploadState } from "./api.ts";
import { Charts } from "./chart.ts";
import { FrameGapMeter, HeapMeter, formatBytes, formatCount, formatMs, formatRate } from "./meters.ts";
import { AuctionScanner } from "./scan.ts";
import { Sha256 } from "./sha256.ts";

type Mode = "upload" | "download";
type Way = "streaming" | "eager";
type Fault = "drop" | "throw" | undefined;

const CHUNK = 64 * 1024;
const BRANCH_HWM = 1024 * 1024;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`The page lacks #${id}`);
  return el as T;
};

// ---------------------------------------------------------------- capabilities

const protocol = (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined)?.nextHopProtocol ?? "";
const hasOpfs = typeof navigator.storage?.getDirectory === "function";
const requestStreams = supportsRequestStreams();
const frames = new FrameGapMeter();
const heap = new HeapMeter();
let uploadsOff: string | undefined = requestStreams
  ? undefined
  : "Uploads need request streaming: this browser cannot send a ReadableStream as a fetch body " +
    "(fetch with duplex: \"half\"), so it would have to hold the whole payload first. " +
    "Upload mode is off; download mode works here. Chromium-based browsers stream uploads over HTTPS with HTTP/2.";

function showCapabilities(): void {
  const items: [string, boolean, string][] = [
    [requestStreams ? "request streaming" : "no request streaming", requestStreams, "fetch() with a ReadableStream body (duplex: \"half\")"],
    [protocol === "h2" ? "HTTP/2" : protocol ? `connection: ${protocol}` : "protocol unknown", protocol === "h2", "streamed uploads need HTTP/2"],
    [hasOpfs ? "OPFS" : "no OPFS", hasOpfs, "origin private file system, for archives on disk"],
    [heap.available ? "JS heap readings" : "no JS heap readings", heap.available, "performance.memory (Chromium only)"],
  ];
  $("capabilities").replaceChildren(...items.map(([text, yes, title]) => {
    const li = document.createElement("li");
    li.className = yes ? "yes" : "no";
    li.textContent = text;
    li.title = title;
    return li;
  }));
}

function applyModeLimits(): void {
  const notice = $("notice");
  const upload = $<HTMLInputElement>("mode-upload");
  if (uploadsOff) {
    notice.hidden = false;
    notice.replaceChildren(strong("Download mode only. "), uploadsOff);
    notice.dataset.testid = "upload-unsupported";
    upload.disabled = true;
    if (upload.checked) $<HTMLInputElement>("mode-download").checked = true;
  }
  if (!hasOpfs) {
    const opfs = $<HTMLSelectElement>("sink").querySelector<HTMLOptionElement>("option[value=opfs]")!;
    opfs.disabled = true;
    opfs.textContent = "OPFS file (not in this browser)";
  }
  updateControls();
}

function strong(text: string): HTMLElement {
  const el = document.createElement("strong");
  el.textContent = text;
  return el;
}

// ---------------------------------------------------------------- controls

const sizeInput = $<HTMLInputElement>("size");
const sizeRange = $<HTMLInputElement>("size-range");
sizeInput.addEventListener("input", () => (sizeRange.value = sizeInput.value));
sizeRange.addEventListener("input", () => (sizeInput.value = sizeRange.value));

function mode(): Mode {
  return $<HTMLInputElement>("mode-download").checked ? "download" : "upload";
}

function megabytes(): number {
  const n = Math.round(Number(sizeInput.value));
  const mb = Number.isFinite(n) ? Math.min(500, Math.max(1, n)) : 20;
  sizeInput.value = sizeRange.value = String(mb);
  return mb;
}

let running: Run | undefined;

function updateControls(): void {
  const busy = running !== undefined;
  const m = mode();
  for (const id of ["run", "eager", "size", "size-range", "sink", "speed"]) $<HTMLInputElement>(id).disabled = busy;
  for (const id of ["mode-upload", "mode-download"]) $<HTMLInputElement>(id).disabled = busy || (id === "mode-upload" && !!uploadsOff);
  for (const id of ["fault-drop", "fault-throw"]) {
    const button = $<HTMLButtonElement>(id);
    button.disabled = busy || m !== "upload" || !!uploadsOff;
    button.title = m === "upload" ? button.dataset.title ?? button.title : "Faults apply to upload mode";
  }
  $<HTMLButtonElement>("stop").disabled = !busy;
  $<HTMLSelectElement>("speed").disabled = busy || m !== "upload";
  $("sent-label").textContent = m === "upload" ? "Sent by the page" : "Received by the page";
  $("pipeline").innerHTML = m === "upload"
    ? "<code>makeAuction</code> → <code>jsonStream</code> → <code>ChunkStream(64 KiB)</code> → <code>MeasureStream</code> → <code>tee</code>: " +
      "best-effort <code>uploadStream</code> to <code>POST /api/upload</code>, required <code>GzipStream</code> → archive sink."
    : "<code>fetch(\"/api/auction\")</code> → <code>MeasureStream</code> → <code>tee</code>: " +
      "one branch counted live as it arrives, one through <code>GzipStream</code> → archive sink.";
}

for (const id of ["fault-drop", "fault-throw"]) $(id).dataset.title = $(id).title;
for (const id of ["mode-upload", "mode-download"]) $(id).addEventListener("change", updateControls);

// ---------------------------------------------------------------- server events

let server: ServerState = { upload: null, download: null };
const events = new EventSource("/api/events");
events.addEventListener("state", (event) => {
  server = JSON.parse((event as MessageEvent<string>).data) as ServerState;
});

function serverUpload(token: string): UploadState | undefined {
  return server.upload?.run === token ? server.upload : undefined;
}

function serverDownload(token: string): DownloadState | undefined {
  return server.download?.run === token ? server.download : undefined;
}

/** Asks the server directly (events may lag) until the run's record has settled. */
async function settledServerState(token: string, kind: Mode): Promise<UploadState | DownloadState | undefined> {
  for (let i = 0; i < 40; i++) {
    const state = (await (await fetch("/api/state", { cache: "no-store" })).json()) as ServerState;
    const record = kind === "upload" ? state.upload : state.download;
    if (record?.run === token && record.status !== "receiving" && record.status !== "sending") {
      server = state;
      return record;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return kind === "upload" ? serverUpload(token) : serverDownload(token);
}

// ---------------------------------------------------------------- one run

let runs = 0;

class Run {
  readonly no = ++runs;
  readonly token = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  readonly abort = new AbortController();
  started = performance.now();
  page = 0;
  archivedIn = 0;
  archivedOut = 0;
  firstByteMs = -1;
  stalledMs = 0;
  finalStall = false;
  orders = 0;
  ended = -1;
  /** The longest frame gap and the heap's peak, as they were when the run ended. */
  gapMs = 0;
  heapPeak = 0;
  private window: [number, number][] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastGap = 0;

  constructor(readonly way: Way, readonly mode: Mode, readonly mb: number, readonly fault: Fault) {}

  /** Starts the clock and the meters: after the value exists, so its making is not counted. */
  begin(): void {
    frames.reset();
    heap.reset();
    charts.reset();
    this.started = performance.now();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.sample(), 100);
    this.sample();
  }

  get elapsedMs(): number {
    return (this.ended >= 0 ? this.ended : performance.now()) - this.started;
  }

  counted(n: number): void {
    if (this.firstByteMs < 0) this.firstByteMs = performance.now() - this.started;
    this.page += n;
  }

  throughput(): number {
    const w = this.window;
    if (w.length < 2) return 0;
    const [t0, b0] = w[0]!;
    const [t1, b1] = w[w.length - 1]!;
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  sample(): void {
    const now = performance.now();
    this.window.push([now, this.page]);
    while (this.window.length > 2 && now - this.window[0]![0] > 1000) this.window.shift();
    heap.sample();
    const gap = Math.max(frames.longest - this.lastGap, 0) > 0 ? frames.longest : frames.last;
    this.lastGap = frames.longest;
    const s = this.mode === "upload" ? serverUpload(this.token) : serverDownload(this.token);
    charts.add({
      t: (now - this.started) / 1000,
      sent: this.page,
      server: s?.bytes ?? 0,
      archivedIn: this.archivedIn,
      archivedOut: this.archivedOut,
      heap: heap.available ? heap.current : null,
      frameGap: gap,
    });
    showLive(this);
  }

  finish(): void {
    this.ended = performance.now();
    clearInterval(this.timer);
    this.sample();
    this.gapMs = frames.longest;
    this.heapPeak = heap.peak;
    charts.draw();
  }
}

/** A pass-through that counts bytes as they go by. */
function counter(onBytes: (n: number) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      onBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Wraps a stream so that the time it holds a chunk its consumer has not yet
 * asked for is known while it runs (MeasureStream reports the same at the end).
 */
function stallProbe(source: ReadableStream<Uint8Array>, run: Run): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let heldSince = -1;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (heldSince >= 0 && !run.finalStall) run.stalledMs += performance.now() - heldSince;
      heldSince = -1;
      const r = await reader.read();
      if (r.done) return controller.close();
      controller.enqueue(r.value);
      heldSince = performance.now();
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

// ---------------------------------------------------------------- archive sinks

interface Archive {
  name: string;
  sink: WritableStream<Uint8Array>;
  /** The stored archive, once the sink has closed. */
  file(): Promise<Blob>;
  where: string;
}

async function makeArchive(run: Run): Promise<Archive> {
  const name = `auction-${run.mb}MB-${run.mode}-${run.no}.json.gz`;
  if ($<HTMLSelectElement>("sink").value === "opfs" && hasOpfs) {
    const sink = opfsSink(name);
    return {
      name, sink, where: "OPFS",
      file: async () => (await (await navigator.storage.getDirectory()).getFileHandle(name)).getFile(),
    };
  }
  const sink = blobSink();
  return { name, sink, where: "memory", file: () => sink.blob };
}

// ---------------------------------------------------------------- the value

let cached: { mb: number; value: Auction } | undefined;

async function auction(mb: number): Promise<Auction> {
  if (cached?.mb === mb) return cached.value;
  cached = undefined;
  setPhase(`generating a ${mb} MB value (not measured)…`, true);
  await nextFrame();
  const value = makeAuction(mb * 1_000_000);
  cached = { mb, value };
  await nextFrame();
  return value;
}

/** A copy of the auction (sharing its orders) in which the order at `fraction` throws from toJSON. */
function withThrowingOrder(value: Auction, fraction: number): { value: Auction; index: number } {
  const orders = value.orders.slice();
  const index = Math.floor(orders.length * fraction);
  const order = orders[index]!;
  orders[index] = {
    ...order,
    toJSON() {
      throw new Error(`toJSON failed on order ${order.id.slice(0, 12)}… (a fault injected at 60% of the value)`);
    },
  } as typeof order;
  return { value: { ...value, orders }, index };
}

function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

// ---------------------------------------------------------------- streaming runs

interface Result {
  kind: "ok" | "warn" | "bad";
  message: string;
  facts: [string, string | Node][];
  archive?: { name: string; where: string; file: Blob; bytes: number };
  table: string;
}

async function streamUpload(run: Run): Promise<Result> {
  let value = await auction(run.mb);
  let throwIndex = -1;
  if (run.fault === "throw") ({ value, index: throwIndex } = withThrowingOrder(value, 0.6));
  const archive = await makeArchive(run);
  run.begin();
  setPhase("streaming…", true);

  const measure = new MeasureStream();
  const source = stallProbe(jsonStream(value).pipeThrough(new ChunkStream(CHUNK)).pipeThrough(measure), run);
  const { branches: [toServer, toArchive], done } = tee(source, [
    { bestEffort: true, highWaterMark: BRANCH_HWM },
    { highWaterMark: BRANCH_HWM },
  ]);
  const archiving = toArchive
    .pipeThrough(counter((n) => (run.archivedIn += n)))
    .pipeThrough(new GzipStream({ worker: true }))
    .pipeThrough(counter((n) => (run.archivedOut += n)))
    .pipeTo(archive.sink, { signal: run.abort.signal });
  const params = new URLSearchParams({ run: run.token, total: String(run.mb * 1_000_000) });
  if (run.fault === "drop") params.set("failAt", "0.4");
  const slowMs = Number($<HTMLSelectElement>("speed").value);
  if (slowMs > 0) params.set("slowMs", String(slowMs));
  const body = toServer.pipeThrough(counter((n) => run.counted(n)));
  const uploading = uploadStream(`/api/upload?${params}`, body, {
    method: "POST",
    headers: { "content-type": "application/json" },
    signal: run.abort.signal,
  }).then(async (response) => {
    if (!response.ok) throw new Error(`the server answered ${response.status} ${await response.text()}`);
    return (await response.json()) as { bytes: number; sha256: string };
  });
  // A refused upload leaves its body unread: let the best-effort branch go so the archive goes on.
  uploading.catch((reason) => body.cancel(reason).catch(() => {}));
  const [up, arch] = await Promise.allSettled([uploading, archiving]);
  const report = await measure.report;
  await done;
  run.finish();
  run.stalledMs = report.stalledMs;
  run.finalStall = true;
  const seen = (await settledServerState(run.token, "upload")) as UploadState | undefined;
  if (seen) charts.settleServer(seen.bytes);
  showLive(run, report);

  const facts: Result["facts"] = [
    ["Page", `${formatCount(report.bytes)} bytes of JSON in ${formatCount(report.chunks)} chunks (MeasureStream: ${report.status})`],
    ["Server", seen ? `${formatCount(seen.bytes)} bytes, ${seen.status}${seen.sha256 ? "" : seen.reason ? ` — ${seen.reason}` : ""}` : "saw nothing of this upload"],
  ];
  if (seen?.sha256) facts.push(["Server sha256", mono(seen.sha256, "server-sha256")]);

  if (arch.status === "rejected") {
    // The value broke (or the run was stopped): nothing is kept, whatever the upload did.
    // jsonStream names where the value broke in the error's `jsonPath` property.
    const error = arch.reason as Error & { jsonPath?: string };
    const upError = up.status === "rejected" ? up.reason : undefined;
    const where = error?.jsonPath ? ` at ${error.jsonPath}` : "";
    const serverSide = seen?.status === "aborted"
      ? `the server saw an aborted request after ${formatBytes(seen.bytes)}, not a short body it would accept`
      : seen ? `the server's record says ${seen.status} after ${formatBytes(seen.bytes)}` : "the server saw nothing";
    facts.push(["Error", `${errorText(error)}${where}`]);
    if (upError && upError !== error) facts.push(["Upload", errorText(upError)]);
    const stopped = run.abort.signal.aborted;
    return {
      kind: stopped ? "warn" : "bad",
      message: stopped
        ? `Stopped. The upload was aborted (${serverSide}) and no archive was kept.`
        : `${throwIndex >= 0 ? `toJSON threw at order #${formatCount(throwIndex)} (60% of the value)` : "The stream failed"}${where}. ` +
          `The upload was aborted — ${serverSide} — and no archive was kept.`,
      facts,
      table: stopped ? "stopped, nothing kept" : "value threw: upload aborted, no archive",
    };
  }

  const file = await archive.file();
  const verified = await verifyArchive(file);
  facts.push(["Archive", `${formatCount(file.size)} bytes gzip, gunzips to ${formatCount(verified.bytes)} bytes`]);
  facts.push(["Archive sha256", mono(verified.sha256, "archive-sha256")]);
  const archiveInfo = { name: archive.name, where: archive.where, file, bytes: verified.bytes };

  if (up.status === "fulfilled") {
    const same = up.value.sha256 === verified.sha256 && up.value.bytes === verified.bytes && verified.bytes === report.bytes;
    facts.push(["Check", checkMark(same, same ? "the server received exactly the archived bytes" : "the server's bytes differ from the archive")]);
    return {
      kind: same ? "ok" : "bad",
      message: `Streamed ${formatBytes(report.bytes)} of JSON to the server and into a ${formatBytes(file.size)} gzip archive at once, ` +
        `in ${formatMs(run.elapsedMs)}. ${same ? "The server received every byte: its sha256 matches the archive's." : "But the server's digest does not match the archive's."}`,
      facts,
      archive: archiveInfo,
      table: same ? "uploaded + archived, digests match" : "digest mismatch",
    };
  }

  const reason = up.reason;
  const dropped = seen?.status === "reset";
  const refused = !seen && !dropped;
  facts.push(["Upload", errorText(reason)]);
  const whole = verified.bytes === report.bytes;
  facts.push(["Check", checkMark(whole, whole ? "the archive holds the whole value" : "the archive is short")]);
  if (refused) {
    uploadsOff = `This browser refused to stream the upload${protocol ? ` over this ${protocol.toUpperCase()} connection` : ""}: ` +
      "Chromium-based browsers stream request bodies only over HTTP/2 (so HTTPS), and it would not send this one. " +
      "Upload mode is off; download mode works here.";
    applyModeLimits();
  }
  return {
    kind: "warn",
    message: dropped
      ? `The server dropped the connection at 40% (after ${formatBytes(seen!.bytes)}), so the upload failed — ` +
        `but the archive is complete: all ${formatBytes(verified.bytes)} in a ${formatBytes(file.size)} gzip file. ` +
        "The upload was a best-effort branch; the archive was the required one."
      : refused
        ? `The browser refused to stream the upload, so nothing was sent; the archive is complete anyway (${formatBytes(file.size)}). Switched to download mode.`
        : `The upload failed (${errorText(reason)}), but the archive is complete: ${formatBytes(verified.bytes)} in ${formatBytes(file.size)}.`,
    facts,
    archive: archiveInfo,
    table: dropped ? "connection dropped at 40%: archive complete" : refused ? "upload refused: archive complete" : "upload failed: archive complete",
  };
}

async function streamDownload(run: Run): Promise<Result> {
  const archive = await makeArchive(run);
  run.begin();
  setPhase("streaming…", true);
  const response = await fetch(`/api/auction?mb=${run.mb}&run=${run.token}`, { signal: run.abort.signal, cache: "no-store" });
  if (!response.ok || !response.body) throw new Error(`GET /api/auction answered ${response.status}`);
  const expectedOrders = Number(response.headers.get("x-auction-orders"));
  const measure = new MeasureStream();
  const source = stallProbe(response.body.pipeThrough(measure), run);
  const { branches: [toCount, toArchive], done } = tee(source, [{ highWaterMark: BRANCH_HWM }, { highWaterMark: BRANCH_HWM }]);
  const archiving = toArchive
    .pipeThrough(counter((n) => (run.archivedIn += n)))
    .pipeThrough(new GzipStream({ worker: true }))
    .pipeThrough(counter((n) => (run.archivedOut += n)))
    .pipeTo(archive.sink, { signal: run.abort.signal });
  const scanner = new AuctionScanner();
  const counting = (async () => {
    const reader = toCount.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      scanner.update(r.value);
      run.orders = scanner.orders;
      run.counted(r.value.length);
    }
  })();
  const [count, arch] = await Promise.allSettled([counting, archiving]);
  const report = await measure.report;
  await done;
  run.finish();
  run.stalledMs = report.stalledMs;
  run.finalStall = true;
  const seen = (await settledServerState(run.token, "download")) as DownloadState | undefined;
  if (seen) charts.settleServer(seen.bytes);
  showLive(run, report);
  const facts: Result["facts"] = [
    ["Server", seen ? `${formatCount(seen.bytes)} bytes sent, ${seen.status}, ${formatCount(seen.orders)} orders` : "no record"],
    ["Page", `${formatCount(report.bytes)} bytes received, ${formatCount(scanner.orders)} orders counted live${scanner.complete ? ", document complete" : ""}`],
  ];
  if (seen?.sha256) facts.push(["Server sha256", mono(seen.sha256, "server-sha256")]);
  if (count.status === "rejected" || arch.status === "rejected") {
    const error = count.status === "rejected" ? count.reason : (arch as PromiseRejectedResult).reason;
    facts.push(["Error", errorText(error)]);
    return {
      kind: run.abort.signal.aborted ? "warn" : "bad",
      message: run.abort.signal.aborted
        ? `Stopped. The download was cancelled${seen?.status === "aborted" ? ` (the server saw the page go away after ${formatBytes(seen.bytes)})` : ""} and no archive was kept.`
        : `The download failed (${errorText(error)}); no archive was kept.`,
      facts,
      table: run.abort.signal.aborted ? "stopped, nothing kept" : "download failed",
    };
  }
  const file = await archive.file();
  const verified = await verifyArchive(file);
  facts.push(["Archive", `${formatCount(file.size)} bytes gzip, gunzips to ${formatCount(verified.bytes)} bytes`]);
  facts.push(["Archive sha256", mono(verified.sha256, "archive-sha256")]);
  const same = seen?.sha256 === verified.sha256 && seen.bytes === report.bytes && scanner.orders === expectedOrders && scanner.complete;
  facts.push(["Check", checkMark(same, same ? "the archive is exactly what the server sent" : "the archive differs from what the server sent")]);
  return {
    kind: same ? "ok" : "bad",
    message: `Downloaded ${formatBytes(report.bytes)} (${formatCount(scanner.orders)} orders, counted while they arrived) and archived it ` +
      `as ${formatBytes(file.size)} of gzip at the same time, in ${formatMs(run.elapsedMs)}.` +
      (same ? " The archive is byte for byte what the server sent." : " But the archive does not match what the server sent."),
    facts,
    archive: { name: archive.name, where: archive.where, file, bytes: verified.bytes },
    table: same ? "downloaded + archived, digests match" : "digest mismatch",
  };
}

/** Gunzips the archive as a stream and hashes it on the way: the archive is never held unzipped. */
async function verifyArchive(file: Blob): Promise<{ bytes: number; sha256: string }> {
  setPhase("verifying the archive…", true);
  const hash = new Sha256();
  let bytes = 0;
  const reader = file.stream().pipeThrough(new GunzipStream()).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    hash.update(r.value);
    bytes += r.value.length;
  }
  return { bytes, sha256: hash.hex() };
}

// ---------------------------------------------------------------- eager runs

async function eager(run: Run): Promise<Result> {
  // Shows what is about to block the page, and lets it paint first.
  const step = async (label: string) => {
    heap.sample();
    setPhase(label, true);
    await nextFrame();
  };
  if (run.mode === "upload") {
    const value = await auction(run.mb);
    run.begin();
    await step("JSON.stringify + TextEncoder + gzipSync…");
    const text = JSON.stringify(value);
    run.sample();
    const bytes = new TextEncoder().encode(text);
    run.sample();
    const gz = gzipSync(bytes, { level: 6 });
    run.archivedIn = bytes.length;
    run.archivedOut = gz.length;
    run.sample();
    await step("one fetch with the whole body…");
    const response = await fetch(`/api/upload?run=${run.token}&total=${bytes.length}`, {
      method: "POST", body: bytes, headers: { "content-type": "application/json" }, signal: run.abort.signal,
    });
    const answer = (await response.json()) as { bytes: number; sha256: string };
    run.counted(bytes.length);
    await settledServerState(run.token, "upload");
    run.finish();
    const file = new Blob([gz as Uint8Array<ArrayBuffer>]);
    return {
      kind: "ok",
      message: `Eagerly: JSON.stringify, TextEncoder, gzipSync and one fetch of ${formatBytes(bytes.length)}, in ${formatMs(run.elapsedMs)}. ` +
        `The page was frozen for up to ${formatMs(frames.longest)} and held the value, its string, its bytes and the gzip at once.`,
      facts: [
        ["Server", `${formatCount(answer.bytes)} bytes`],
        ["Server sha256", mono(answer.sha256, "server-sha256")],
        ["Archive", `${formatCount(gz.length)} bytes gzip`],
      ],
      archive: { name: `auction-${run.mb}MB-eager-${run.no}.json.gz`, where: "memory", file, bytes: bytes.length },
      table: "uploaded + archived (eager)",
    };
  }
  run.begin();
  await step("one fetch, whole body…");
  const response = await fetch(`/api/auction?mb=${run.mb}&run=${run.token}`, { signal: run.abort.signal, cache: "no-store" });
  const buffer = new Uint8Array(await response.arrayBuffer());
  run.counted(buffer.length);
  run.sample();
  await step("JSON.parse + gzipSync…");
  const value = JSON.parse(new TextDecoder().decode(buffer)) as Auction;
  run.orders = value.orders.length;
  run.sample();
  const gz = gzipSync(buffer, { level: 6 });
  run.archivedIn = buffer.length;
  run.archivedOut = gz.length;
  await settledServerState(run.token, "download");
  run.finish();
  return {
    kind: "ok",
    message: `Eagerly: one fetch of ${formatBytes(buffer.length)}, JSON.parse (${formatCount(value.orders.length)} orders) and gzipSync, in ${formatMs(run.elapsedMs)}. ` +
      `Nothing could be counted before the whole body had arrived, and the page was frozen for up to ${formatMs(frames.longest)}.`,
    facts: [["Archive", `${formatCount(gz.length)} bytes gzip`]],
    archive: { name: `auction-${run.mb}MB-eager-download-${run.no}.json.gz`, where: "memory", file: new Blob([gz as Uint8Array<ArrayBuffer>]), bytes: buffer.length },
    table: "downloaded + archived (eager)",
  };
}

// ---------------------------------------------------------------- running

async function start(way: Way, fault: Fault): Promise<void> {
  if (running) return;
  const m = fault ? "upload" : mode();
  const mb = megabytes();
  const run = new Run(way, m, mb, fault);
  running = run;
  updateControls();
  showOutcome({ kind: "ok", message: "Running…", facts: [], table: "" }, true);
  let result: Result;
  try {
    result = way === "eager" ? await eager(run) : m === "upload" ? await streamUpload(run) : await streamDownload(run);
  } catch (error) {
    run.finish();
    result = {
      kind: run.abort.signal.aborted ? "warn" : "bad",
      message: run.abort.signal.aborted ? "Stopped." : `The run failed: ${errorText(error)}`,
      facts: [],
      table: run.abort.signal.aborted ? "stopped" : "failed",
    };
  }
  running = undefined;
  setPhase(result.kind === "ok" ? "done" : result.kind === "warn" ? "done, with a fault" : "failed", false);
  showOutcome(result, false);
  showArchive(result.archive);
  addRow(run, result);
  updateControls();
  await listOpfs();
}

$("run").addEventListener("click", () => void start("streaming", undefined));
$("eager").addEventListener("click", () => void start("eager", undefined));
$("fault-drop").addEventListener("click", () => void start("streaming", "drop"));
$("fault-throw").addEventListener("click", () => void start("streaming", "throw"));
$("stop").addEventListener("click", () => running?.abort.abort(new DOMException("Stopped by the user", "AbortError")));

// ---------------------------------------------------------------- showing

const charts = new Charts($("chart-bytes"), $("chart-health"), () => "page");

function setPhase(text: string, busy: boolean): void {
  const el = $("phase");
  el.textContent = text;
  el.classList.toggle("running", busy);
}

function tile(id: string, value: string, sub?: string, level?: "good" | "warn" | "bad", raw?: number): void {
  const el = $(id);
  el.textContent = value;
  if (raw !== undefined) el.dataset.value = String(raw);
  if (sub !== undefined) $(`${id}-sub`).textContent = sub;
  const card = el.parentElement!;
  card.classList.remove("good", "warn", "bad");
  if (level) card.classList.add(level);
}

function showLive(run: Run, report?: TransferReport): void {
  const s = run.mode === "upload" ? serverUpload(run.token) : serverDownload(run.token);
  tile("m-sent", formatBytes(run.page), run.mode === "download" ? `${formatCount(run.orders)} orders counted` : `${formatCount(run.page)} bytes`, undefined, run.page);
  if (s) {
    const up = run.mode === "upload" ? (s as UploadState) : undefined;
    const rate = up ? up.throughput : 0;
    tile("m-server", formatBytes(s.bytes), `${s.status}${up ? ` · ${formatRate(rate)}` : ""}`, s.status === "complete" ? "good" : s.status === "reset" || s.status === "aborted" ? "warn" : undefined, s.bytes);
  } else if (run.way === "eager" || run.page > 0) {
    tile("m-server", "–", "no report yet");
  }
  tile("m-archived", formatBytes(run.archivedIn), run.archivedOut ? `→ ${formatBytes(run.archivedOut)} gzip (${ratio(run.archivedIn, run.archivedOut)})` : "");
  const seconds = run.elapsedMs / 1000;
  const rate = run.ended >= 0 ? (seconds > 0 ? run.page / seconds : 0) : run.throughput();
  tile("m-rate", formatRate(rate), run.ended >= 0 ? "average" : "last second");
  tile("m-ttfb", run.firstByteMs >= 0 ? formatMs(run.firstByteMs) : "–");
  $("m-elapsed").textContent = `elapsed ${formatMs(run.elapsedMs)}`;
  const stalled = report ? report.stalledMs : run.stalledMs;
  tile("m-stalled", run.way === "eager" ? "n/a" : formatMs(stalled),
    run.way === "eager" ? "no stream" : report ? `${seconds > 0 ? Math.round((stalled / run.elapsedMs) * 100) : 0}% of the run` : "live estimate");
  if (heap.available) tile("m-heap", formatBytes(heap.current), `peak ${formatBytes(heap.peak)} in this run`);
  else tile("m-heap", "n/a", "not exposed by this browser");
  const gap = frames.longest;
  tile("m-gap", formatMs(gap), gap < 50 ? "smooth" : gap < 200 ? "noticeable" : "frozen", gap < 50 ? "good" : gap < 200 ? "warn" : "bad", gap);
}

function ratio(raw: number, packed: number): string {
  return packed > 0 ? `${(raw / packed).toFixed(1)}:1` : "–";
}

function showOutcome(result: Result, busy: boolean): void {
  const el = $("outcome");
  el.className = `message ${busy ? "" : result.kind}`;
  el.textContent = result.message;
  el.dataset.kind = busy ? "running" : result.kind;
  const facts = $("facts");
  facts.replaceChildren();
  for (const [key, value] of result.facts) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.append(value);
    facts.append(dt, dd);
  }
}

let archiveUrl: string | undefined;

function showArchive(archive: Result["archive"]): void {
  const el = $("archive");
  if (archiveUrl) URL.revokeObjectURL(archiveUrl);
  archiveUrl = undefined;
  if (!archive) {
    el.innerHTML = `<p class="muted">No archive kept from the last run.</p>`;
    el.dataset.state = "none";
    return;
  }
  archiveUrl = URL.createObjectURL(archive.file);
  el.dataset.state = "kept";
  el.innerHTML = "";
  const big = document.createElement("div");
  big.className = "big";
  big.textContent = `${formatBytes(archive.file.size)} gzip`;
  big.dataset.value = String(archive.file.size);
  const sub = document.createElement("div");
  sub.className = "muted";
  sub.textContent = `${formatBytes(archive.bytes)} of JSON, ${ratio(archive.bytes, archive.file.size)} · kept in ${archive.where}`;
  const link = document.createElement("a");
  link.className = "download";
  link.href = archiveUrl;
  link.download = archive.name;
  link.id = "archive-link";
  link.textContent = `Download ${archive.name}`;
  el.append(big, sub, link);
}

async function listOpfs(): Promise<void> {
  const list = $("opfs");
  if (!hasOpfs) {
    list.innerHTML = `<li class="muted">This browser has no OPFS.</li>`;
    return;
  }
  const dir = await navigator.storage.getDirectory();
  const rows: HTMLLIElement[] = [];
  const entries = (dir as FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();
  for await (const [name, handle] of entries) {
    if (handle.kind !== "file") continue;
    const file = await (handle as FileSystemFileHandle).getFile();
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = `${name} · ${formatBytes(file.size)}`;
    const remove = document.createElement("button");
    remove.textContent = "Delete";
    remove.addEventListener("click", async () => {
      await dir.removeEntry(name);
      await listOpfs();
    });
    li.append(label, remove);
    rows.push(li);
  }
  if (rows.length === 0) list.innerHTML = `<li class="muted">Empty. Choose “Archive to: OPFS file” to write archives there.</li>`;
  else list.replaceChildren(...rows);
}

function addRow(run: Run, result: Result): void {
  const body = $("runs");
  body.querySelector("tr.empty")?.remove();
  const tr = document.createElement("tr");
  const cells = [
    String(run.no),
    run.way,
    run.mode,
    `${run.mb} MB`,
    formatMs(run.elapsedMs),
    formatMs(run.gapMs),
    heap.available ? formatBytes(run.heapPeak) : "n/a",
    result.table,
  ];
  for (const [i, text] of cells.entries()) {
    const td = document.createElement("td");
    td.textContent = text;
    if (i === cells.length - 1) td.className = result.kind;
    tr.append(td);
  }
  body.prepend(tr);
}

function mono(text: string, testid: string): HTMLElement {
  const el = document.createElement("code");
  el.textContent = text;
  el.dataset.testid = testid;
  return el;
}

function checkMark(ok: boolean, text: string): HTMLElement {
  const el = document.createElement("span");
  el.className = ok ? "match" : "mismatch";
  el.textContent = `${ok ? "✓" : "✗"} ${text}`;
  el.dataset.testid = "check";
  el.dataset.ok = String(ok);
  return el;
}

function errorText(error: unknown): string {
  if (error instanceof Error || error instanceof DOMException) return `${error.name}: ${error.message}`;
  return String(error);
}

showCapabilities();
applyModeLimits();
void listOpfs();
