// fileSink from sluice/node, alone and as captureArchive's sink: a file appears at its path
// only once complete, and a failure half-way leaves neither the file nor a temporary.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { captureArchive } from "../../lib/archive.ts";
import { fileSink } from "../../lib/node.ts";
import { collectBytes, concat, deferred, sequence, streamOf } from "../_support/util.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-filesink-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const CHUNKS = Array.from({ length: 20 }, (_, i) => sequence(50_000, i));
const ALL = concat(CHUNKS);

/** Gives `count` chunks, then waits for `kill` and errors with its reason. */
function killableSource(count: number) {
  const kill = deferred<unknown>();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (i < count) return c.enqueue(CHUNKS[i++]!);
      c.error(await kill.promise.catch((e) => e));
    },
  }, { highWaterMark: 0 });
  return { stream, kill: (reason: unknown) => kill.resolve(reason), reached: () => i >= count };
}

describe("fileSink", () => {
  test("fileSink writes the whole file and leaves no temporary", async () => {
    const path = join(dir, "out.bin");
    const sink = fileSink(path);
    expect(sink.path).toBe(path);
    await streamOf(CHUNKS).pipeTo(sink);
    expect(Buffer.compare(readFileSync(path), ALL)).toBe(0);
    expect(readdirSync(dir)).toEqual(["out.bin"]);
  });

  test("fileSink shows nothing at its path until close, then replaces the old file", async () => {
    const path = join(dir, "report.json");
    writeFileSync(path, "old");
    const writer = fileSink(pathToFileURL(path)).getWriter();
    await writer.write(new TextEncoder().encode("new "));
    await writer.write(new TextEncoder().encode("content"));
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(dir)).toHaveLength(2);
    await writer.close();
    expect(readFileSync(path, "utf8")).toBe("new content");
    expect(readdirSync(dir)).toEqual(["report.json"]);
  });

  test("an aborted fileSink deletes its temporary and leaves an existing file alone", async () => {
    const path = join(dir, "keep.txt");
    writeFileSync(path, "previous");
    const writer = fileSink(path).getWriter();
    await writer.write(sequence(1000));
    await writer.abort(new Error("stop"));
    expect(readdirSync(dir)).toEqual(["keep.txt"]);
    expect(readFileSync(path, "utf8")).toBe("previous");
  });

  test("captureArchive into a fileSink writes a gzip file zlib can read", async () => {
    const path = join(dir, "archive.json.gz");
    const { stream, archived } = captureArchive(streamOf(CHUNKS), fileSink(path));
    expect(Buffer.compare(Buffer.from(await collectBytes(stream)), ALL)).toBe(0);
    const report = await archived;
    const file = readFileSync(path);
    expect(report).toMatchObject({ bytes: ALL.length, storedBytes: file.length });
    expect(Buffer.compare(gunzipSync(file), ALL)).toBe(0);
    expect(readdirSync(dir)).toEqual(["archive.json.gz"]);
  });

  test("a source killed half-way leaves no archive file and no temporary", async () => {
    const path = join(dir, "archive.gz");
    const source = killableSource(10);
    const { stream, archived } = captureArchive(source.stream, fileSink(path));
    const reader = stream.getReader();
    for (let i = 0; i < 10; i++) await reader.read();
    // Half-way: the temporary file is open (the archive branch may lag the stream by up to its
    // high-water mark, so wait for it rather than assume it).
    await expect.poll(() => readdirSync(dir)).toHaveLength(1);
    expect(readdirSync(dir)[0]).toMatch(/^\.archive\.gz\.[0-9a-f]+\.tmp$/);
    const reason = new Error("producer crashed");
    source.kill(reason);
    await expect(reader.read()).rejects.toBe(reason);
    await expect(archived).rejects.toBe(reason);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("captureArchive into a fileSink completes the file when the consumer of stream cancels half-way", async () => {
    const path = join(dir, "archive.gz");
    const { stream, archived } = captureArchive(streamOf(CHUNKS), fileSink(path));
    const reader = stream.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    await reader.cancel(new Error("upload dropped"));
    expect((await archived).bytes).toBe(ALL.length);
    expect(Buffer.compare(gunzipSync(readFileSync(path)), ALL)).toBe(0);
    expect(readdirSync(dir)).toEqual(["archive.gz"]);
  });

  test("a fileSink whose rename fails rejects archived and leaves no temporary", async () => {
    // A non-empty directory at the path: every byte is written, then the rename is refused.
    const path = join(dir, "taken");
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "x");
    const { stream, archived } = captureArchive(streamOf(CHUNKS), fileSink(path));
    await collectBytes(stream);
    await expect(archived).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir)).toEqual(["taken"]);
    expect(readdirSync(path)).toEqual(["inside"]);
  });

  test("fileSink writes a file whose name is near the 255-byte limit", async () => {
    for (const name of ["n".repeat(250), "日".repeat(84)]) {
      await streamOf(CHUNKS.slice(0, 2)).pipeTo(fileSink(join(dir, name)));
      expect(readFileSync(join(dir, name)).length).toBe(100_000);
    }
    expect(readdirSync(dir)).toHaveLength(2);
  });

  test("a fileSink that cannot write errors and leaves nothing", async () => {
    const path = join(dir, "missing-dir", "x.gz");
    await expect(streamOf(CHUNKS).pipeTo(fileSink(path))).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a captureArchive call that throws leaves no temporary of its fileSink behind", async () => {
    const source = streamOf(CHUNKS);
    const sinks = [fileSink(join(dir, "a.gz")), fileSink(join(dir, "b.gz"))];
    expect(() => captureArchive(source, sinks[0]!, { gzip: { level: 12 } })).toThrow(RangeError);
    source.getReader(); // a locked source
    expect(() => captureArchive(source, sinks[1]!)).toThrow(TypeError);
    // The failing call aborted each sink: once that settles, nothing is left.
    for (const sink of sinks) await expect(sink.getWriter().closed).rejects.toBeDefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a fileSink that is never written to leaves nothing, and one closed unwritten makes an empty file", async () => {
    const unused = fileSink(join(dir, "unused"));
    const writer = fileSink(join(dir, "empty")).getWriter();
    await writer.ready;
    expect(readdirSync(dir)).toEqual([]);
    await writer.close();
    expect(readdirSync(dir)).toEqual(["empty"]);
    expect(readFileSync(join(dir, "empty")).length).toBe(0);
    expect(unused.locked).toBe(false);
  });

  test("fileSink rejects a path that is not a string or a file: URL", () => {
    expect(() => fileSink("")).toThrow("Cannot create fileSink: path must be a non-empty string or a file: URL, got string \"\"");
    expect(() => fileSink(new URL("https://example.com/x"))).toThrow(/must be a file: URL, got https: URL/);
    expect(() => fileSink(42 as unknown as string)).toThrow(TypeError);
  });
});
