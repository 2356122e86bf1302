// Download mode, streamed: the server's auction measured as it arrives and
// teed to a live parse of its orders (counted and summed as each completes)
// and a gzip archive; the outcome is checked against the server's record and
// digest.
import { JsonItemStream, MeasureStream, tee } from "../../lib/index.ts";
import type { DownloadState } from "../api.ts";
import { checkMark, errorText, mono } from "../dom.ts";
import { charts } from "../metrics.ts";
import { formatBytes, formatCount, formatMs } from "../meters.ts";
import { setPhase, showLive } from "../render.ts";
import { settledServerState } from "../server_state.ts";
import type { Result, Run } from "../state.ts";
import { BRANCH_HWM, archiveBranch, makeArchive, verifyArchive } from "./archive.ts";

export async function streamDownload(run: Run): Promise<Result> {
  const archive = await makeArchive(run);
  run.begin();
  setPhase("streaming…", true);
  const response = await fetch(`/api/auction?mb=${run.mb}&run=${run.token}`, { signal: run.abort.signal, cache: "no-store" });
  if (!response.ok || !response.body) throw new Error(`GET /api/auction answered ${response.status}`);
  const expectedOrders = Number(response.headers.get("x-auction-orders"));
  // Bytes received so far, and how long the slower of the counter and the archive held them back.
  const measure = new MeasureStream({
    onProgress: (p) => {
      run.progressed(p);
      run.stalledMs = p.stalledMs;
    },
  });
  const source = response.body.pipeThrough(measure);
  const { branches: [toCount, toArchive], done } = tee(source, [{ highWaterMark: BRANCH_HWM }, { highWaterMark: BRANCH_HWM }]);
  const archiving = archiveBranch(toArchive, archive, run);
  // Each order is parsed as soon as its bytes are in; a cut-off or malformed body errors this branch.
  const parsed = { orders: 0, total: 0n, complete: false };
  const counting = (async () => {
    const items = new JsonItemStream("$.orders[*]");
    const reader = toCount.pipeThrough(items).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      parsed.orders++;
      parsed.total += BigInt((r.value.value as { sellAmount: string }).sellAmount);
      run.orders = parsed.orders;
    }
    parsed.complete = (await items.summary)["$.orders[*]"] === parsed.orders;
  })();
  const [count, arch] = await Promise.allSettled([counting, archiving]);
  const report = await measure.report;
  await done;
  run.finish();
  const seen = (await settledServerState(run.token, "download")) as DownloadState | undefined;
  if (seen) charts.settleServer(seen.bytes);
  showLive(run, report);
  const facts: Result["facts"] = [
    ["Server", seen ? `${formatCount(seen.bytes)} bytes sent, ${seen.status}, ${formatCount(seen.orders)} orders` : "no record"],
    ["Page", `${formatCount(report.bytes)} bytes received, ${formatCount(parsed.orders)} orders parsed live${parsed.complete ? ", document complete" : ""}`],
    ["Orders total", `sellAmount ${parsed.total.toLocaleString("en-US")}`],
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
  const same = seen?.sha256 === verified.sha256 && seen.bytes === report.bytes && parsed.orders === expectedOrders && parsed.complete;
  facts.push(["Check", checkMark(same, same ? "the archive is exactly what the server sent" : "the archive differs from what the server sent")]);
  return {
    kind: same ? "ok" : "bad",
    message: `Downloaded ${formatBytes(report.bytes)} (${formatCount(parsed.orders)} orders, parsed and summed while they arrived) and archived it ` +
      `as ${formatBytes(file.size)} of gzip at the same time, in ${formatMs(run.elapsedMs)}.` +
      (same ? " The archive is byte for byte what the server sent." : " But the archive does not match what the server sent."),
    facts,
    archive: { name: archive.name, where: archive.where, file, bytes: verified.bytes, url: archive.url },
    table: same ? "downloaded + archived, digests match" : "digest mismatch",
  };
}
