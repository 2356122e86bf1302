// The page's own meters (frame gaps, JS heap) and the two live charts: one of
// each for the whole visit, reset at the start of every run.
import { Charts } from "./chart.ts";
import { $ } from "./dom.ts";
import { FrameGapMeter, HeapMeter } from "./meters.ts";

export const frames = new FrameGapMeter();
export const heap = new HeapMeter();
export const charts = new Charts($("chart-bytes"), $("chart-health"), () => "page");
