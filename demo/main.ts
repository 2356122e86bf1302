// The demo page: one generated auction streamed to the server and into a gzip
// archive at once (upload mode), or streamed from the server, counted live and
// archived (download mode); the same done eagerly for comparison; and two
// faults that show what sluice keeps when things break. sluice is imported
// through its public face only, as any user would.
//
// This file wires the buttons to the flows. The parts: capabilities.ts (what
// the browser can do), controls.ts (the visitor's choices), state.ts (a run and
// its counters), server_state.ts (the server's records), metrics.ts (frame
// gaps, heap, charts), flows/ (upload, download, eager, archive) and render.ts.
import { showCapabilities } from "./capabilities.ts";
import { applyModeLimits, detectS3, megabytes, mode, updateControls } from "./controls.ts";
import { $, errorText } from "./dom.ts";
import { streamDownload } from "./flows/download.ts";
import { eager } from "./flows/eager.ts";
import { streamUpload } from "./flows/upload.ts";
import { addRow, listOpfs, setPhase, showArchive, showOutcome } from "./render.ts";
import { Run, running, setRunning, type Fault, type Result, type Way } from "./state.ts";

async function start(way: Way, fault: Fault): Promise<void> {
  if (running()) return;
  const m = fault ? "upload" : mode();
  const mb = megabytes();
  const run = new Run(way, m, mb, fault);
  setRunning(run);
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
  setRunning(undefined);
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
$("stop").addEventListener("click", () => running()?.abort.abort(new DOMException("Stopped by the user", "AbortError")));

showCapabilities();
applyModeLimits();
void listOpfs();
void detectS3();
