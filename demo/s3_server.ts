// The demo server's S3 side: when the environment names a bucket
// (SLUICE_S3_ENDPOINT, SLUICE_S3_ACCESS_KEY_ID, SLUICE_S3_SECRET_ACCESS_KEY,
// SLUICE_S3_BUCKET, SLUICE_S3_REGION), or SLUICE_DEMO_S3=local asks for a
// local Ceph gateway (started here, stopped with the server), the page can
// archive to S3: it uploads the parts itself, with URLs this server presigns
// (s3Presigner), so the keys never reach the page. Loaded through Vite.
import { AwsV4Signer } from "aws4fetch";
import { s3Presigner, type S3Presigner } from "../lib/s3.ts";
import { gatewayFromEnv, startGateway, type GatewayConfig } from "../test/_support/s3/gateway.ts";

/** Keys the page may write: everything else is refused by the presigner. */
export const DEMO_PREFIX = "sluice-demo/";

export interface DemoS3 {
  bucket: string;
  endpoint: string;
  presigner: S3Presigner;
  /** A presigned GET of an archive, served as the gzip file it is (not decoded by the browser). */
  objectUrl(key: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startDemoS3(log: (line: string) => void): Promise<DemoS3 | undefined> {
  let config: GatewayConfig | undefined = gatewayFromEnv();
  let stop = async () => {};
  if (!config && process.env.SLUICE_DEMO_S3 === "local") {
    log("[demo s3] starting a local S3 gateway (Ceph RADOS Gateway)…");
    const g = await startGateway();
    log(`[demo s3] gateway at ${g.endpoint}, up in ${(g.startupMs / 1000).toFixed(1)} s`);
    config = g;
    stop = () => g.stop();
  }
  if (!config) return undefined;
  const c = config;
  const credentials = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  const presigner = s3Presigner({
    endpoint: c.endpoint, region: c.region, bucket: c.bucket, credentials, expiresIn: 900,
    authorize: (request) => request.key!.startsWith(DEMO_PREFIX) && !request.key!.includes(".."),
  });
  return {
    bucket: c.bucket,
    endpoint: c.endpoint,
    presigner,
    async objectUrl(key) {
      const url = new URL(`${c.endpoint}/${c.bucket}/${key.split("/").map(encodeURIComponent).join("/")}`);
      url.searchParams.set("response-content-encoding", "identity");
      url.searchParams.set("response-content-disposition", `attachment; filename="${key.split("/").pop()}"`);
      url.searchParams.set("X-Amz-Expires", "900");
      const signed = await new AwsV4Signer({ method: "GET", url: url.href, ...credentials, service: "s3", region: c.region, signQuery: true }).sign();
      return signed.url.href;
    },
    stop,
  };
}
