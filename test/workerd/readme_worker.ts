// The README's "In a Worker" example, exactly (the test beside it checks that
// the README shows this code), with sluice imported from the source.
import { GzipStream, jsonStream } from "../../lib/index.ts";

export default {
  async fetch(request: Request): Promise<Response> {
    const rows = Number(new URL(request.url).searchParams.get("rows") ?? "1000");
    const report = { rows: Array.from({ length: rows }, (_, i) => ({ id: i, name: `row ${i}` })) };
    // Pulled as the client reads: a Worker never holds the whole JSON or its gzip.
    const body = jsonStream(report).pipeThrough(new GzipStream());
    return new Response(body, {
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      // Already gzipped: the runtime must not compress it again.
      encodeBody: "manual",
    } as ResponseInit);
  },
};
