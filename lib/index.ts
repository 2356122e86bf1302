/**
 * sluice: WHATWG streams for moving payloads too big to hold twice, in
 * browsers, Node and Deno. This module only re-exports; each capability also
 * has its own entry point (`sluice/chunk`, `sluice/tee`, ...).
 * @module
 */
export * from "./chunk.ts";
export * from "./sse.ts";
export * from "./gzip.ts";
export * from "./tee.ts";
export * from "./broadcast.ts";
export * from "./measure.ts";
export * from "./fold.ts";
export * from "./dedupe.ts";
export * from "./fetch.ts";
export * from "./archive.ts";
export * from "./msgpack.ts";
export * from "./json.ts";
export * from "./json_lines.ts";
export * from "./json_items.ts";
export * from "./s3.ts";
