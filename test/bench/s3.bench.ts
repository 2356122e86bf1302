// sluice's s3Sink against @aws-sdk/lib-storage's Upload, on the same bytes to
// the same local S3 server (Ceph's RADOS Gateway; the one SLUICE_S3_* names,
// else one started here for the run and shared with the memory children
// through the environment). Both upload 256 MiB as a stream of 64 KiB chunks
// with 8 MiB parts and 4 parts in flight; the object is deleted after each run.
// Goals: throughput at least 1.0x lib-storage's, extra peak memory within
// (concurrency + 1) × partSize + 16 MiB = 56 MiB and below lib-storage's.
//   node --expose-gc --import tsx test/bench/s3.bench.ts [--no-memory]
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { AwsClient } from "aws4fetch";
import { s3Sink } from "../../lib/s3.ts";
import { gatewayEnvLines, gatewayFromEnv, startGateway, type GatewayConfig } from "../_support/s3/gateway.ts";
import { main, suite } from "./_harness.ts";

const MiB = 1024 * 1024;
const BYTES = 256 * MiB;
const CHUNK = 64 * 1024;
const PART = 8 * MiB;
const CONCURRENCY = 4;

let config = gatewayFromEnv();
if (!config) {
  const g = await startGateway();
  console.error(`(started a local S3 gateway in ${(g.startupMs / 1000).toFixed(1)} s)`);
  for (const line of gatewayEnvLines(g)) {
    const [k, v] = line.split(/=(.*)/s);
    process.env[k!] = v;
  }
  config = g;
  process.on("exit", () => void g.stop());
}
const s3: GatewayConfig = config;
const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
const admin = new AwsClient({ ...credentials, service: "s3", region: s3.region });
let counter = 0;

function chunks(input: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= input.length) return controller.close();
      controller.enqueue(input.subarray(offset, offset + CHUNK));
      offset += CHUNK;
    },
  }, { highWaterMark: 0 });
}

async function remove(key: string): Promise<void> {
  const r = await admin.fetch(`${s3.endpoint}/${s3.bucket}/${key}`, { method: "DELETE" });
  if (!r.ok) throw new Error(`DeleteObject answered ${r.status}`);
}

const key = (name: string) => `sluice-bench/${name}-${process.pid}-${++counter}`;

suite<Uint8Array>({
  title: "s3: 256 MiB, 8 MiB parts, 4 in flight",
  input: () => {
    const out = new Uint8Array(BYTES);
    for (let i = 0; i < BYTES; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
    return out;
  },
  bytes: BYTES,
  runs: 3,
  warmup: 1,
  cases: {
    "sluice s3Sink": async (input) => {
      const k = key("sluice");
      const sink = s3Sink({ endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, key: k, credentials, partSize: PART, concurrency: CONCURRENCY });
      await chunks(input).pipeTo(sink);
      if ((await sink.uploaded).bytes !== BYTES) throw new Error("short upload");
      await remove(k);
    },
    "@aws-sdk/lib-storage Upload": async (input) => {
      const k = key("lib-storage");
      const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, credentials, forcePathStyle: true });
      const upload = new Upload({ client, params: { Bucket: s3.bucket, Key: k, Body: chunks(input) }, partSize: PART, queueSize: CONCURRENCY });
      await upload.done();
      client.destroy();
      await remove(k);
    },
  },
});

await main(import.meta.url);
