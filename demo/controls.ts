// The run controls: size, mode, sink and speed as the visitor set them, and
// which buttons are enabled for the current mode, capabilities and run.
import { hasOpfs, uploadsOff } from "./capabilities.ts";
import { $, strong } from "./dom.ts";
import { running, type Mode } from "./state.ts";

const sizeInput = $<HTMLInputElement>("size");
const sizeRange = $<HTMLInputElement>("size-range");
sizeInput.addEventListener("input", () => (sizeRange.value = sizeInput.value));
sizeRange.addEventListener("input", () => (sizeInput.value = sizeRange.value));
for (const id of ["fault-drop", "fault-throw"]) $(id).dataset.title = $(id).title;
for (const id of ["mode-upload", "mode-download"]) $(id).addEventListener("change", updateControls);

export function mode(): Mode {
  return $<HTMLInputElement>("mode-download").checked ? "download" : "upload";
}

/** The payload size in MB, clamped to 1..500 (and written back to both inputs). */
export function megabytes(): number {
  const n = Math.round(Number(sizeInput.value));
  const mb = Number.isFinite(n) ? Math.min(500, Math.max(1, n)) : 20;
  sizeInput.value = sizeRange.value = String(mb);
  return mb;
}

/** Whether archives go to an OPFS file (where the browser has one) rather than memory. */
export function archiveToOpfs(): boolean {
  return $<HTMLSelectElement>("sink").value === "opfs" && hasOpfs;
}

/** Whether archives go to the dev server's S3 bucket (offered only when it has one). */
export function archiveToS3(): boolean {
  return $<HTMLSelectElement>("sink").value === "s3";
}

/** Offers "Archive to: S3" if the dev server has a bucket (SLUICE_S3_* or SLUICE_DEMO_S3=local). */
export async function detectS3(): Promise<void> {
  type S3Info = { enabled: boolean; bucket?: string };
  const s3 = await fetch("/api/s3").then((r) => r.json() as Promise<S3Info>, (): S3Info => ({ enabled: false }));
  if (!s3.enabled) return;
  const option = $<HTMLOptionElement>("sink-s3");
  option.disabled = option.hidden = false;
  option.textContent = `S3 bucket ${s3.bucket}`;
}

/** How long the server waits per chunk of an upload, in ms (0: full speed). */
export function serverSlowMs(): number {
  return Number($<HTMLSelectElement>("speed").value);
}

export function updateControls(): void {
  const busy = running() !== undefined;
  const m = mode();
  const off = uploadsOff();
  for (const id of ["run", "eager", "size", "size-range", "sink", "speed"]) $<HTMLInputElement>(id).disabled = busy;
  for (const id of ["mode-upload", "mode-download"]) $<HTMLInputElement>(id).disabled = busy || (id === "mode-upload" && !!off);
  for (const id of ["fault-drop", "fault-throw"]) {
    const button = $<HTMLButtonElement>(id);
    button.disabled = busy || m !== "upload" || !!off;
    button.title = m === "upload" ? button.dataset.title ?? button.title : "Faults apply to upload mode";
  }
  $<HTMLButtonElement>("stop").disabled = !busy;
  $<HTMLSelectElement>("speed").disabled = busy || m !== "upload";
  $("sent-label").textContent = m === "upload" ? "Sent by the page" : "Received by the page";
  $("pipeline").innerHTML = m === "upload"
    ? "<code>makeAuction</code> → <code>jsonStream</code> → <code>ChunkStream(64 KiB)</code> → <code>MeasureStream</code> → <code>tee</code>: " +
      "best-effort <code>uploadStream</code> to <code>POST /api/upload</code>, required <code>GzipStream</code> → archive sink."
    : "<code>fetch(\"/api/auction\")</code> → <code>MeasureStream</code> → <code>tee</code>: " +
      "one branch through <code>JsonItemStream(\"$.orders[*]\")</code>, each order parsed, counted and summed as it arrives, one through <code>GzipStream</code> → archive sink.";
}

/** Shows why upload mode is off (if it is) and disables what this browser cannot do. */
export function applyModeLimits(): void {
  const notice = $("notice");
  const upload = $<HTMLInputElement>("mode-upload");
  const off = uploadsOff();
  if (off) {
    notice.hidden = false;
    notice.replaceChildren(strong("Download mode only. "), off);
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
