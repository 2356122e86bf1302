// Everything the page draws from a run: the phase label, the live tiles, the
// outcome card, the archive card with its download link, the OPFS listing and
// the runs table. Reads state; changes none.
import type { TransferReport } from "../lib/index.ts";
import type { UploadState } from "./api.ts";
import { hasOpfs } from "./capabilities.ts";
import { $, ratio } from "./dom.ts";
import { frames, heap } from "./metrics.ts";
import { formatBytes, formatCount, formatMs, formatRate } from "./meters.ts";
import { serverRecord } from "./server_state.ts";
import type { Result, Run } from "./state.ts";

export function setPhase(text: string, busy: boolean): void {
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

/** The live tiles; with the run's final `report`, its stall time is MeasureStream's own. */
export function showLive(run: Run, report?: TransferReport): void {
  const s = serverRecord(run.token, run.mode);
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
  const rate = run.ended >= 0 ? (seconds > 0 ? run.page / seconds : 0) : run.rate;
  tile("m-rate", formatRate(rate), run.ended >= 0 ? "average" : "now");
  tile("m-ttfb", run.firstByteMs >= 0 ? formatMs(run.firstByteMs) : "–");
  $("m-elapsed").textContent = `elapsed ${formatMs(run.elapsedMs)}`;
  const stalled = report ? report.stalledMs : run.stalledMs;
  tile("m-stalled", run.way === "eager" ? "n/a" : formatMs(stalled),
    run.way === "eager" ? "no stream" : report ? `${seconds > 0 ? Math.round((stalled / run.elapsedMs) * 100) : 0}% of the run` : "so far");
  if (heap.available) tile("m-heap", formatBytes(heap.current), `peak ${formatBytes(heap.peak)} in this run`);
  else tile("m-heap", "n/a", "not exposed by this browser");
  const gap = frames.longest;
  tile("m-gap", formatMs(gap), gap < 50 ? "smooth" : gap < 200 ? "noticeable" : "frozen", gap < 50 ? "good" : gap < 200 ? "warn" : "bad", gap);
}

export function showOutcome(result: Result, busy: boolean): void {
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

export function showArchive(archive: Result["archive"]): void {
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
  link.href = archive.url ?? archiveUrl;
  link.download = archive.name;
  link.id = "archive-link";
  link.textContent = `Download ${archive.name}`;
  el.append(big, sub, link);
}

export async function listOpfs(): Promise<void> {
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

export function addRow(run: Run, result: Result): void {
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
