// A run's state: what was chosen (way, mode, size, fault), what has been
// counted so far, and its clock; sampled every 100 ms into the charts and the
// live tiles. Also the one run going on, if any.
import type { TransferProgress } from "../lib/index.ts";
import { charts, frames, heap } from "./metrics.ts";
import { showLive } from "./render.ts";
import { serverRecord } from "./server_state.ts";

export type Mode = "upload" | "download";
export type Way = "streaming" | "eager";
export type Fault = "drop" | "throw" | undefined;

/** How a run ended, as the outcome card, the archive card and the runs table show it. */
export interface Result {
  kind: "ok" | "warn" | "bad";
  message: string;
  facts: [string, string | Node][];
  archive?: { name: string; where: string; file: Blob; bytes: number; url?: string };
  table: string;
}

let runs = 0;

export class Run {
  readonly no = ++runs;
  readonly token = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  readonly abort = new AbortController();
  started = performance.now();
  page = 0;
  archivedIn = 0;
  archivedOut = 0;
  firstByteMs = -1;
  /** The page's rate now, from MeasureStream's progress (bytes per second). */
  rate = 0;
  /** How long the source waited for the slower of its consumers so far, from MeasureStream's progress. */
  stalledMs = 0;
  orders = 0;
  ended = -1;
  /** The longest frame gap and the heap's peak, as they were when the run ended. */
  gapMs = 0;
  heapPeak = 0;
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

  /** Counts bytes the page sent or received without a stream (the eager way). */
  counted(n: number): void {
    if (this.firstByteMs < 0) this.firstByteMs = performance.now() - this.started;
    this.page += n;
  }

  /** Takes a MeasureStream progress report of the bytes the page sends or receives. */
  progressed(progress: TransferProgress): void {
    if (this.firstByteMs < 0 && progress.bytes > 0) this.firstByteMs = performance.now() - this.started;
    this.page = progress.bytes;
    this.rate = progress.bytesPerSecond;
  }

  sample(): void {
    const now = performance.now();
    heap.sample();
    const gap = Math.max(frames.longest - this.lastGap, 0) > 0 ? frames.longest : frames.last;
    this.lastGap = frames.longest;
    charts.add({
      t: (now - this.started) / 1000,
      sent: this.page,
      server: serverRecord(this.token, this.mode)?.bytes ?? 0,
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

let current: Run | undefined;

/** The run going on, or undefined when the page is idle. */
export function running(): Run | undefined {
  return current;
}

export function setRunning(run: Run | undefined): void {
  current = run;
}
