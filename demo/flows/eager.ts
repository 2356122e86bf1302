// Both modes done eagerly, for comparison: the whole value stringified,
// encoded and gzipped in memory and sent in one fetch, or the whole response
// read, parsed and gzipped at once. Nothing of sluice is used here.
import { gzipSync } from "fflate";
import type { Auction } from "../auction.ts";
import { mono, nextFrame } from "../dom.ts";
import { frames, heap } from "../metrics.ts";
import { formatBytes, formatCount, formatMs } from "../meters.ts";
import { setPhase } from "../render.ts";
import { settledServerState } from "../server_state.ts";
import type { Result, Run } from "../state.ts";
import { auction } from "../value.ts";

export async function eager(run: Run): Promise<Result> {
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
