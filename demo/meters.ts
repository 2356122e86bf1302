// What the page measures about itself while a run goes on: the longest gap
// between animation frames (is the page still responsive?) and the JS heap
// (where the browser exposes it), plus the number formats the page shows.

/** Watches requestAnimationFrame and keeps the longest gap between two frames since the last reset. */
export class FrameGapMeter {
  /** Longest gap in milliseconds since `reset()`. */
  longest = 0;
  /** The gap between the two most recent frames. */
  last = 0;
  private previous = 0;

  constructor() {
    const tick = (now: number) => {
      if (this.previous > 0) {
        this.last = now - this.previous;
        if (this.last > this.longest) this.longest = this.last;
      }
      this.previous = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  reset(): void {
    this.longest = 0;
    this.previous = 0;
  }
}

interface MemoryInfo {
  usedJSHeapSize: number;
}

/** The JS heap in use, in bytes, where the browser exposes it (Chromium's `performance.memory`); otherwise undefined. */
export function heapBytes(): number | undefined {
  const memory = (performance as Performance & { memory?: MemoryInfo }).memory;
  return memory ? memory.usedJSHeapSize : undefined;
}

/** Keeps the peak of `heapBytes()` over a run; sample it as often as you can. */
export class HeapMeter {
  readonly available = heapBytes() !== undefined;
  start = 0;
  peak = 0;
  current = 0;

  reset(): void {
    this.start = this.current = this.peak = heapBytes() ?? 0;
  }

  sample(): number {
    const now = heapBytes() ?? 0;
    this.current = now;
    if (now > this.peak) this.peak = now;
    return now;
  }
}

const UNITS = ["B", "kB", "MB", "GB"];

/** `1234567` -> `"1.23 MB"` (decimal units, as disks and networks count). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "–";
  let unit = 0;
  let value = bytes;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${UNITS[unit]}`;
}

/** Bytes per second -> `"12.3 MB/s"`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Milliseconds -> `"850 ms"` or `"2.35 s"`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Bytes with thousands separators, for exact counts. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
