// Upload mode, streamed: the generated value serialised by jsonStream, cut into
// 64 KiB chunks, measured, and teed to a best-effort upload and a required gzip
// archive; the outcome is checked against the server's record and the archive.
import { ChunkStream, MeasureStream, jsonStream, tee, uploadStream } from "../../lib/index.ts";
import type { UploadState } from "../api.ts";
import { protocol, turnUploadsOff } from "../capabilities.ts";
import { applyModeLimits, serverSlowMs } from "../controls.ts";
import { checkMark, errorText, mono } from "../dom.ts";
import { charts } from "../metrics.ts";
import { formatBytes, formatCount, formatMs } from "../meters.ts";
import { setPhase, showLive } from "../render.ts";
import { settledServerState } from "../server_state.ts";
import type { Result, Run } from "../state.ts";
import { auction, withThrowingOrder } from "../value.ts";
import { BRANCH_HWM, CHUNK, archiveBranch, makeArchive, verifyArchive } from "./archive.ts";

export async function streamUpload(run: Run): Promise<Result> {
  let value = await auction(run.mb);
  let throwIndex = -1;
  if (run.fault === "throw") ({ value, index: throwIndex } = withThrowingOrder(value, 0.6));
  const archive = await makeArchive(run);
  run.begin();
  setPhase("streaming…", true);

  // The source's stall time is how long the slower of the upload and the archive held it back.
  const measure = new MeasureStream({ onProgress: (p) => (run.stalledMs = p.stalledMs) });
  const source = jsonStream(value).pipeThrough(new ChunkStream(CHUNK)).pipeThrough(measure);
  const { branches: [toServer, toArchive], done } = tee(source, [
    { bestEffort: true, highWaterMark: BRANCH_HWM },
    { highWaterMark: BRANCH_HWM },
  ]);
  const archiving = archiveBranch(toArchive, archive, run);
  const params = new URLSearchParams({ run: run.token, total: String(run.mb * 1_000_000) });
  if (run.fault === "drop") params.set("failAt", "0.4");
  const slowMs = serverSlowMs();
  if (slowMs > 0) params.set("slowMs", String(slowMs));
  // The upload's own progress: the bytes handed to fetch so far.
  const body = toServer.pipeThrough(new MeasureStream({ onProgress: (p) => run.progressed(p) }));
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
  const archiveInfo = { name: archive.name, where: archive.where, file, bytes: verified.bytes, url: archive.url };

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
    turnUploadsOff(`This browser refused to stream the upload${protocol ? ` over this ${protocol.toUpperCase()} connection` : ""}: ` +
      "Chromium-based browsers stream request bodies only over HTTP/2 (so HTTPS), and it would not send this one. " +
      "Upload mode is off; download mode works here.");
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
