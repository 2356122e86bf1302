// The two live charts: bytes over time (the client's view beside the
// server's), and the page's own health (heap and frame gaps).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatBytes, formatMs } from "./meters.ts";

/** One sample of a run, taken every 100 ms or so. */
export interface Sample {
  /** Seconds since the run started. */
  t: number;
  sent: number;
  server: number;
  archivedIn: number;
  archivedOut: number;
  /** JS heap in bytes, or null where unknown. */
  heap: number | null;
  /** Longest frame gap since the previous sample, in ms. */
  frameGap: number;
}

const COLORS = { sent: "#2563eb", server: "#16a34a", archivedIn: "#d97706", archivedOut: "#9333ea", heap: "#0891b2", frameGap: "#dc2626" };

function width(el: HTMLElement): number {
  return Math.max(280, el.clientWidth);
}

/** Keeps the samples of the current run and redraws both charts from them. */
export class Charts {
  private samples: Sample[] = [];
  private bytes: uPlot;
  private health: uPlot;
  private pending = false;

  constructor(private bytesEl: HTMLElement, private healthEl: HTMLElement, sentLabel: () => string) {
    const axisBytes = (_: uPlot, values: number[]) => values.map((v) => formatBytes(v));
    const stroke = "#64748b";
    const grid = { stroke: "#e2e8f0", width: 1 };
    // As many decimals as the tick spacing needs, so ticks never read alike.
    const xAxis: uPlot.Axis = {
      stroke, grid,
      values: (_, v, __, ___, incr) => v.map((s) => `${s.toFixed(incr < 0.1 ? 2 : incr < 1 ? 1 : 0)} s`),
    };
    this.bytes = new uPlot({
      width: width(bytesEl), height: 260,
      scales: { x: { time: false } },
      axes: [xAxis, { stroke, grid, size: 70, values: axisBytes }],
      series: [
        { label: "time", value: (_, v) => (v == null ? "–" : `${v.toFixed(1)} s`) },
        { label: sentLabel(), stroke: COLORS.sent, width: 2, value: (_, v) => (v == null ? "–" : formatBytes(v)) },
        { label: "server", stroke: COLORS.server, width: 2, dash: [6, 3], value: (_, v) => (v == null ? "–" : formatBytes(v)) },
        { label: "archived (in)", stroke: COLORS.archivedIn, width: 2, value: (_, v) => (v == null ? "–" : formatBytes(v)) },
        { label: "archive (gzip)", stroke: COLORS.archivedOut, width: 2, value: (_, v) => (v == null ? "–" : formatBytes(v)) },
      ],
    }, [[], [], [], [], []], bytesEl);
    this.health = new uPlot({
      width: width(healthEl), height: 180,
      scales: { x: { time: false }, ms: { range: (_, __, max) => [0, Math.max(100, max)] } },
      axes: [
        xAxis,
        { stroke, grid, size: 70, values: axisBytes },
        { scale: "ms", side: 1, stroke, grid: { show: false }, size: 60, values: (_, v) => v.map((x) => `${x} ms`) },
      ],
      series: [
        { label: "time", value: (_, v) => (v == null ? "–" : `${v.toFixed(1)} s`) },
        { label: "JS heap", stroke: COLORS.heap, width: 2, value: (_, v) => (v == null ? "n/a" : formatBytes(v)) },
        { label: "frame gap", scale: "ms", stroke: COLORS.frameGap, width: 1, fill: "rgba(220,38,38,0.08)", paths: uPlot.paths.stepped?.({ align: 1 }), value: (_, v) => (v == null ? "–" : formatMs(v)) },
      ],
    }, [[], [], []], healthEl);
    const resize = new ResizeObserver(() => {
      this.bytes.setSize({ width: width(bytesEl), height: 260 });
      this.health.setSize({ width: width(healthEl), height: 180 });
    });
    resize.observe(bytesEl);
    resize.observe(healthEl);
    this.draw();
  }

  setSentLabel(label: string): void {
    const el = this.bytesEl.querySelector(".u-legend .u-series:nth-child(2) .u-label");
    if (el) el.textContent = label;
  }

  reset(): void {
    this.samples = [];
    this.draw();
  }

  add(sample: Sample): void {
    this.samples.push(sample);
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  /** Sets the server's count in the last sample: its final word may arrive just after the run's end. */
  settleServer(bytes: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last) last.server = bytes;
    this.draw();
  }

  /** Draws now, for the end of a run (a busy page may not give a frame). */
  draw(): void {
    const s = this.samples;
    this.bytesEl.classList.toggle("blank", s.length === 0);
    this.healthEl.classList.toggle("blank", s.length === 0);
    this.bytes.setData([s.map((x) => x.t), s.map((x) => x.sent), s.map((x) => x.server), s.map((x) => x.archivedIn), s.map((x) => x.archivedOut)]);
    this.health.setData([s.map((x) => x.t), s.map((x) => x.heap), s.map((x) => x.frameGap)]);
  }
}
