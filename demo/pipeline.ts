// The flagship pipeline: one big value streamed as JSON to a server and, at
// the same time, to a gzip archive on disk, without ever holding the JSON
// whole. The upload is best-effort (a dropped connection must not lose the
// archive); the archive is required (if it cannot be written, nothing counts).
//
//   value -> jsonStream -> ChunkStream(64 KiB) -> MeasureStream -> tee
//              ├─ best-effort: MeasureStream -> streaming fetch upload
//              └─ required:    GzipStream -> MeasureStream -> fileSink(path) or s3Sink
//
// Run it: `npm run pipeline -- --mb 100` (flags below); `--s3` archives to S3
// instead: the bucket SLUICE_S3_ENDPOINT, SLUICE_S3_ACCESS_KEY_ID,
// SLUICE_S3_SECRET_ACCESS_KEY, SLUICE_S3_BUCKET (and SLUICE_S3_REGION) name,
// or a local Ceph gateway started for the run (test/_support/s3/gateway.ts). In an application the
// imports are `sluice/...` and `sluice/node`; here they are relative so that the
// demo runs from the repository.
import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ChunkStream } from "../lib/chunk.ts";
import { MeasureStream, type TransferReport } from "../lib/measure.ts";
import { tee, type BranchReport } from "../lib/tee.ts";
import { jsonStream } from "../lib/json.ts";
import { GzipStream, type GzipOptions } from "../lib/gzip.ts";
import { uploadStream } from "../lib/fetch.ts";
import { fileSink, nodeCompressionWorker } from "../lib/node.ts";
import { s3Sink, type S3Sink, type S3UploadResult } from "../lib/s3.ts";
import { gateway, type Gateway } from "../test/_support/s3/gateway.ts";
import { makeAuction, type Auction } from "./auction.ts";
import { startUploadServer } from "./pipeline_server.ts";

/** Where {@linkcode runPipeline} sends the value. */
export interface PipelineOptions {
  /** The upload's URL (a POST with a streamed body). */
  url: string;
  /** The archive: a file path (written through `fileSink`: all or nothing) or any byte sink. */
  archive: string | WritableStream<Uint8Array>;
  /** Stops everything: the upload is aborted and the archive is not written. */
  signal?: AbortSignal;
  /**
   * Options of the archive's `GzipStream`.
   * @default { worker: nodeCompressionWorker }: gzip on a second core while JSON is made on this one.
   */
  gzip?: GzipOptions;
}

/** What {@linkcode runPipeline} reports when the archive was written. */
export interface PipelineReport {
  /** The JSON as it left the serializer: bytes, time to first byte, transfer time, stalls. */
  json: TransferReport;
  upload: {
    branch: BranchReport;
    /** The upload body's own measure: its `stalledMs` is time spent waiting on the server. */
    transfer: TransferReport;
    /** The server's answer, when the upload succeeded. */
    response?: unknown;
    /** Why the upload failed, when it did. */
    error?: unknown;
  };
  archive: { branch: BranchReport; gzip: TransferReport };
}

/**
 * Streams `value` as JSON to `options.url` (best-effort) and gzipped to
 * `options.archive` (required). Resolves with the report once both ended;
 * rejects with the archive's error (the value's, the disk's, or the abort
 * reason) when the archive could not be written, after the upload was aborted.
 */
export async function runPipeline(value: unknown, options: PipelineOptions): Promise<PipelineReport> {
  const json = new MeasureStream();
  const source = jsonStream(value).pipeThrough(new ChunkStream(64 * 1024)).pipeThrough(json);
  const { branches: [toServer, toArchive], done } = tee(source, [
    { bestEffort: true, highWaterMark: 1 << 20 },
    { highWaterMark: 1 << 20 },
  ]);

  // If the upload gives up, this aborts the pipe into its body, so the tee
  // detaches the branch instead of waiting on a reader that has gone.
  const uploadGone = new AbortController();
  const uploadMeasure = new MeasureStream();
  const body = toServer!.pipeThrough(uploadMeasure, { signal: uploadGone.signal });
  // uploadStream sends a streamed body with redirect: "error" (it cannot be sent twice), which
  // also keeps Node's fetch from holding every chunk for a possible 307/308 replay (nodejs/undici#4058).
  const upload = uploadStream(options.url, body, { method: "POST", signal: options.signal })
    .then((response) => {
      if (!response.ok) throw new Error(`upload to ${options.url} failed: HTTP ${response.status}`);
      return response.json() as Promise<unknown>;
    })
    .catch((error: unknown) => {
      uploadGone.abort(error);
      throw error;
    });

  const gzip = new MeasureStream();
  const sink = typeof options.archive === "string" ? fileSink(options.archive) : options.archive;
  const archived = toArchive!
    .pipeThrough(new GzipStream(options.gzip ?? { worker: nodeCompressionWorker }))
    .pipeThrough(gzip)
    .pipeTo(sink, { signal: options.signal });

  const [archive, response] = await Promise.allSettled([archived, upload]);
  const [uploadBranch, archiveBranch] = await done;
  if (archive.status === "rejected") throw archive.reason;
  return {
    json: await json.report,
    upload: {
      branch: uploadBranch!,
      transfer: await uploadMeasure.report,
      ...(response.status === "fulfilled" ? { response: response.value } : { error: response.reason }),
    },
    archive: { branch: archiveBranch!, gzip: await gzip.report },
  };
}

/** The S3 object's part of the report: where it is, its ETag and parts, and how it compares to the JSON. */
export function formatS3(result: S3UploadResult, r: PipelineReport): string {
  return [
    `S3 object         s3://${result.bucket}/${result.key}`,
    `  ETag            ${result.etag}`,
    `  parts           ${result.parts}, ${(result.bytes / 1e6).toFixed(1)} MB (${(100 * result.bytes / Math.max(r.json.bytes, 1)).toFixed(1)}% of the JSON) in ${(result.durationMs / 1000).toFixed(2)} s`,
  ].join("\n");
}

/** What an auction holds, as the receiving server counts it: its orders and the sum of their sellAmount. */
export function ordersOf(value: Auction): { orders: number; total: string } {
  let total = 0n;
  for (const order of value.orders) total += BigInt(order.sellAmount);
  return { orders: value.orders.length, total: String(total) };
}

/**
 * The report as a user reads it. With `sent` (what {@linkcode ordersOf} says
 * of the value), it also says whether the server parsed the same orders.
 */
export function formatReport(r: PipelineReport, archiveName: string, sent?: { orders: number; total: string }): string {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const reason = (e: unknown) => (e instanceof Error ? `${e.message}${e.cause ? ` (${String(e.cause)})` : ""}` : String(e));
  const upload = r.upload.error === undefined
    ? `ok, server answered ${JSON.stringify(r.upload.response)}`
    : `failed: ${reason(r.upload.error)}`;
  const received = r.upload.response as { orders?: number; total?: string; jsonError?: string } | undefined;
  const parsed = sent === undefined || r.upload.error !== undefined ? [] : [
    received?.orders === undefined
      ? `server parsed     no orders: ${received?.jsonError ?? "no count in its answer"}`
      : `server parsed     ${received.orders} orders, total sellAmount ${received.total}: ` +
        (received.orders === sent.orders && received.total === sent.total ? "the same as sent" : `NOT what was sent (${sent.orders} orders, total ${sent.total})`),
  ];
  return [
    `JSON              ${mb(r.json.bytes)} in ${r.json.chunks} chunks`,
    `time to 1st byte  ${r.json.firstChunkMs.toFixed(0)} ms`,
    `transfer time     ${s(r.json.durationMs)} (${(r.json.bytes / 1e3 / Math.max(r.json.durationMs, 1)).toFixed(1)} MB/s)`,
    `stalled on server ${s(r.upload.transfer.stalledMs)} (source held back in all: ${s(r.json.stalledMs)})`,
    `archive           ${archiveName}: ${mb(r.archive.gzip.bytes)}, ${(100 * r.archive.gzip.bytes / Math.max(r.json.bytes, 1)).toFixed(1)}% of the JSON`,
    `upload  (best-effort) ${r.upload.branch.status}, ${mb(r.upload.branch.bytes)}: ${upload}`,
    `archive (required)    ${r.archive.branch.status}, ${mb(r.archive.branch.bytes)}`,
    ...parsed,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      mb: { type: "string", default: "20" }, // size of the generated value's JSON
      out: { type: "string", default: join(tmpdir(), "sluice-auction.json.gz") },
      reset: { type: "string" }, // the server resets the connection at this fraction, e.g. 0.4
      "slow-ms": { type: "string" }, // the server sleeps this long after each read
      s3: { type: "boolean", default: false }, // archive to S3 (see the top of this file)
    },
  });
  const bytes = Number(args.mb) * 1e6;
  const server = await startUploadServer({
    resetAfterBytes: args.reset === undefined ? undefined : Number(args.reset) * bytes,
    readDelayMs: args["slow-ms"] === undefined ? undefined : Number(args["slow-ms"]),
  });
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort(new Error("interrupted")));
  let s3: Gateway | undefined;
  try {
    if (args.s3) {
      s3 = await gateway();
      if (s3.startupMs > 0) console.log(`started a local S3 gateway (Ceph RADOS Gateway) at ${s3.endpoint} in ${(s3.startupMs / 1000).toFixed(1)} s`);
    }
    console.log(`generating a ${args.mb} MB auction...`);
    const value = makeAuction(bytes);
    let archive: string | S3Sink = args.out!;
    let archiveName = args.out!;
    if (s3) {
      const key = `sluice-pipeline/auction-${new Date().toISOString().replace(/[:.]/g, "-")}.json.gz`;
      archive = s3Sink({
        endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, key,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        contentType: "application/json", contentEncoding: "gzip", signal: stop.signal,
      });
      archiveName = `s3://${s3.bucket}/${key}`;
    }
    console.log(`streaming it to ${server.url} and ${archiveName}`);
    const report = await runPipeline(value, { url: server.url, archive, signal: stop.signal });
    console.log(formatReport(report, archiveName, ordersOf(value)));
    if (typeof archive !== "string") console.log(formatS3(await archive.uploaded, report));
  } finally {
    await server.close();
    await s3?.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
