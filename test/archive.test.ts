import { describe, expect, test } from "vitest";
import { blobSink, captureArchive, opfsSink, type ArchiveProgress } from "../lib/archive.ts";
import { GunzipStream } from "../lib/gzip.ts";
import { collectBytes, concat, deferred, sequence, streamOf } from "./_support/util.ts";

const hasOpfs = typeof (globalThis as { navigator?: { storage?: { getDirectory?: unknown } } }).navigator?.storage?.getDirectory === "function";

/** 16 chunks of 10 000 bytes. */
const CHUNKS = Array.from({ length: 16 }, (_, i) => sequence(10_000, i));
const ALL = concat(CHUNKS);

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function gunzip(blob: Blob): Promise<Uint8Array> {
  // Through arrayBuffer, not blob.stream(): with a streams polyfill that stream is the platform's.
  return collectBytes(streamOf([new Uint8Array(await blob.arrayBuffer())]).pipeThrough(new GunzipStream()));
}

/** A source that gives `count` chunks of CHUNKS and then errors with `reason`; records cancellation. */
function failingSource(count: number, reason: unknown) {
  let i = 0;
  const cancelled = deferred<unknown>();
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < count) c.enqueue(CHUNKS[i++]!);
      else c.error(reason);
    },
    cancel: (r) => cancelled.resolve(r),
  }, { highWaterMark: 0 });
  return { stream, cancelled: cancelled.promise };
}

describe("captureArchive", () => {
  test("captureArchive passes every byte on and stores a gzip of them in a blobSink", async () => {
    const sink = blobSink();
    const { stream, archived } = captureArchive(streamOf(CHUNKS), sink);
    expect(same(await collectBytes(stream), ALL)).toBe(true);
    const report = await archived;
    const blob = await sink.blob;
    expect(report.bytes).toBe(ALL.length);
    expect(report.storedBytes).toBe(blob.size);
    expect(report.durationMs).toBeGreaterThanOrEqual(0);
    expect(same(await gunzip(blob), ALL)).toBe(true);
  });

  test("captureArchive with gzip: false stores the bytes as they are", async () => {
    const sink = blobSink();
    const { stream, archived } = captureArchive(streamOf(CHUNKS), sink, { gzip: false });
    await collectBytes(stream);
    expect((await archived).storedBytes).toBe(ALL.length);
    expect(same(new Uint8Array(await (await sink.blob).arrayBuffer()), ALL)).toBe(true);
  });

  test("captureArchive passes gzip options on (level 0 stores, mtime and name in the header)", async () => {
    const sink = blobSink();
    const { stream, archived } = captureArchive(streamOf(CHUNKS), sink, { gzip: { level: 0, filename: "x.bin" } });
    await stream.cancel();
    const report = await archived;
    expect(report.storedBytes).toBeGreaterThan(ALL.length);
    const head = new Uint8Array(await (await sink.blob).slice(0, 16).arrayBuffer());
    expect([...head.subarray(10, 16)]).toEqual([0x78, 0x2e, 0x62, 0x69, 0x6e, 0]);
  });

  test("the archive gets every byte when the consumer of stream cancels half-way", async () => {
    const sink = blobSink();
    const { stream, archived } = captureArchive(streamOf(CHUNKS), sink);
    const reader = stream.getReader();
    for (let i = 0; i < 5; i++) await reader.read();
    await reader.cancel(new Error("upload dropped"));
    expect((await archived).bytes).toBe(ALL.length);
    expect(same(await gunzip(await sink.blob), ALL)).toBe(true);
  });

  test("the archive gets every byte when a pipe from stream fails", async () => {
    const sink = blobSink();
    const { stream, archived } = captureArchive(streamOf(CHUNKS), sink);
    let writes = 0;
    const failingUpload = new WritableStream<Uint8Array>({
      write() {
        if (++writes === 3) throw new Error("connection reset");
      },
    });
    await expect(stream.pipeTo(failingUpload)).rejects.toThrow("connection reset");
    expect(same(await gunzip(await sink.blob), ALL)).toBe(true);
    expect((await archived).bytes).toBe(ALL.length);
  });

  test("a source error aborts the sink, errors stream and rejects archived", async () => {
    const reason = new Error("source died");
    const { stream } = failingSource(6, reason);
    let aborted: unknown = "not aborted";
    let closed = false;
    const sink = new WritableStream<Uint8Array>({
      close: () => void (closed = true),
      abort: (r) => void (aborted = r),
    });
    const captured = captureArchive(stream, sink);
    await expect(collectBytes(captured.stream)).rejects.toBe(reason);
    await expect(captured.archived).rejects.toBe(reason);
    expect(aborted).toBe(reason);
    expect(closed).toBe(false);
  });

  test("a source error rejects blobSink's blob: no truncated Blob is ever handed out", async () => {
    const reason = new Error("half-way");
    const sink = blobSink();
    const { stream, archived } = captureArchive(failingSource(8, reason).stream, sink);
    void stream.cancel();
    await expect(archived).rejects.toBe(reason);
    await expect(sink.blob).rejects.toBe(reason);
  });

  test("a sink error cancels the source, errors stream and rejects archived", async () => {
    const { stream: source, cancelled } = failingSource(16, new Error("never reached"));
    const diskFull = new Error("disk full");
    let writes = 0;
    const sink = new WritableStream<Uint8Array>({
      write() {
        if (++writes === 2) throw diskFull;
      },
    });
    const { stream, archived } = captureArchive(source, sink, { gzip: false, highWaterMark: 0 });
    const streamed = collectBytes(stream);
    await expect(archived).rejects.toBe(diskFull);
    await expect(streamed).rejects.toBe(diskFull);
    expect(await cancelled).toBe(diskFull);
  });

  test("with bestEffortStream: false, cancelling stream cancels the source and fails the archive", async () => {
    const { stream: source, cancelled } = failingSource(16, new Error("never reached"));
    const sink = blobSink();
    const { stream, archived } = captureArchive(source, sink, { bestEffortStream: false });
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel("user gave up");
    expect(await cancelled).toBe("user gave up");
    await expect(archived).rejects.toBe("user gave up");
    await expect(sink.blob).rejects.toBe("user gave up");
  });

  test("captureArchive checks its arguments before locking anything", () => {
    const source = streamOf(CHUNKS);
    expect(() => captureArchive("x" as unknown as ReadableStream<Uint8Array>, blobSink())).toThrow(
      "Cannot capture archive: source must be a ReadableStream, got string \"x\"",
    );
    expect(() => captureArchive(source, {} as WritableStream<Uint8Array>)).toThrow(/sink must be a WritableStream/);
    expect(() => captureArchive(source, blobSink(), { gzip: { level: 12 } })).toThrow(RangeError);
    expect(() => captureArchive(source, blobSink(), { bestEffortStream: "yes" as unknown as boolean })).toThrow(/bestEffortStream must be a boolean/);
    expect(() => captureArchive(source, blobSink(), { highWaterMark: -1 })).toThrow(/highWaterMark/);
    expect(source.locked).toBe(false);
  });

  test("a captureArchive call that throws aborts its sink with the error, unless the sink is locked", async () => {
    const source = streamOf(CHUNKS);
    const sink = blobSink();
    let thrown: unknown;
    try {
      captureArchive(source, sink, { gzip: { level: 12 } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RangeError);
    await expect(sink.blob).rejects.toBe(thrown);
    source.getReader();
    const second = blobSink();
    expect(() => captureArchive(source, second)).toThrow(TypeError);
    await expect(second.blob).rejects.toBeInstanceOf(TypeError);
    // A locked sink belongs to its writer: it is left alone.
    const locked = blobSink();
    const writer = locked.getWriter();
    expect(() => captureArchive(streamOf(CHUNKS), locked)).toThrow(/sink is locked/);
    await writer.write(new Uint8Array([1]));
    await writer.close();
    expect((await locked.blob).size).toBe(1);
  });
});

describe("blobSink", () => {
  test("blobSink copies chunks, so writers may reuse them", async () => {
    const sink = blobSink({ type: "application/octet-stream" });
    const writer = sink.getWriter();
    const buffer = new Uint8Array([1, 2, 3]);
    await writer.write(buffer);
    buffer.fill(9);
    await writer.write(buffer);
    await writer.close();
    const blob = await sink.blob;
    expect(blob.type).toBe("application/octet-stream");
    expect([...new Uint8Array(await blob.arrayBuffer())]).toEqual([1, 2, 3, 9, 9, 9]);
  });

  test("blobSink folds large inputs into one Blob with every byte in order", async () => {
    const big = Array.from({ length: 12 }, (_, i) => sequence(1 << 20, i));
    const sink = blobSink();
    await streamOf(big).pipeTo(sink);
    const blob = await sink.blob;
    expect(blob.size).toBe(12 << 20);
    expect(same(new Uint8Array(await blob.slice(5 << 20, (5 << 20) + 1000).arrayBuffer()), big[5]!.subarray(0, 1000))).toBe(true);
  });

  test("blobSink errors on a chunk that is not a Uint8Array", async () => {
    const sink = blobSink();
    await expect(streamOf(["text" as unknown as Uint8Array]).pipeTo(sink)).rejects.toThrow(/blobSink expects Uint8Array chunks, got string/);
    await expect(sink.blob).rejects.toThrow(TypeError);
  });
});

describe("opfsSink", () => {
  if (!hasOpfs) {
    test("opfsSink throws a TypeError pointing to fileSink where OPFS is missing", () => {
      expect(() => opfsSink("archive.gz")).toThrow(
        'Cannot create opfsSink: this runtime has no Origin Private File System (navigator.storage.getDirectory); in Node or Deno use fileSink from "sluice/node"',
      );
    });
    return;
  }

  type Dir = FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
  async function entries(): Promise<string[]> {
    const root = (await navigator.storage.getDirectory()) as Dir;
    const out: string[] = [];
    for await (const k of root.keys()) out.push(k);
    return out.sort();
  }
  async function read(name: string): Promise<Uint8Array> {
    const root = await navigator.storage.getDirectory();
    return new Uint8Array(await (await (await root.getFileHandle(name)).getFile()).arrayBuffer());
  }
  async function remove(name: string): Promise<void> {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(name).catch(() => {});
  }

  test("opfsSink round-trips an archive and leaves no temporary file", async () => {
    const name = `roundtrip-${Date.now()}.gz`;
    const { stream, archived } = captureArchive(streamOf(CHUNKS), opfsSink(name));
    await collectBytes(stream);
    const report = await archived;
    const stored = await read(name);
    expect(stored.length).toBe(report.storedBytes);
    expect(same(await gunzip(new Blob([stored as Uint8Array<ArrayBuffer>])), ALL)).toBe(true);
    expect((await entries()).filter((e) => e.includes(name))).toEqual([name]);
    await remove(name);
  });

  test("opfsSink leaves nothing behind when the source fails half-way", async () => {
    const name = `aborted-${Date.now()}.gz`;
    const reason = new Error("half-way");
    const { stream, archived } = captureArchive(failingSource(8, reason).stream, opfsSink(name));
    void stream.cancel();
    await expect(archived).rejects.toBe(reason);
    expect((await entries()).filter((e) => e.includes(name))).toEqual([]);
  });

  test("opfsSink completes the archive when the consumer of stream cancels half-way", async () => {
    const name = `cancelled-${Date.now()}.gz`;
    const { stream, archived } = captureArchive(streamOf(CHUNKS), opfsSink(name));
    const reader = stream.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    await reader.cancel(new Error("upload dropped"));
    expect((await archived).bytes).toBe(ALL.length);
    expect(same(await gunzip(new Blob([(await read(name)) as Uint8Array<ArrayBuffer>])), ALL)).toBe(true);
    expect((await entries()).filter((e) => e.includes(name))).toEqual([name]);
    await remove(name);
  });

  test("opfsSink that fails to write errors and leaves nothing behind", async () => {
    const name = `failing-${Date.now()}.bin`;
    const writer = opfsSink(name).getWriter();
    await writer.write(new Uint8Array([1, 2, 3]));
    await expect(writer.write("text" as unknown as Uint8Array)).rejects.toThrow("opfsSink expects Uint8Array chunks, got string \"text\"");
    await expect(writer.closed).rejects.toThrow(TypeError);
    await expect.poll(async () => (await entries()).filter((e) => e.includes(name))).toEqual([]);
  });

  test("opfsSink says so where OPFS files cannot be written from this thread, and leaves nothing", async () => {
    const name = `nowrite-${Date.now()}.bin`;
    const proto = FileSystemFileHandle.prototype as { createWritable?: unknown };
    const saved = Object.getOwnPropertyDescriptor(proto, "createWritable")!;
    Object.defineProperty(proto, "createWritable", { value: undefined, configurable: true, writable: true });
    try {
      const sink = opfsSink(name);
      await expect(streamOf([new Uint8Array([1])]).pipeTo(sink)).rejects.toThrow(/cannot write OPFS files from this thread/);
    } finally {
      Object.defineProperty(proto, "createWritable", saved);
    }
    expect((await entries()).filter((e) => e.includes(name))).toEqual([]);
  });

  test("opfsSink replaces an existing file only on close", async () => {
    const name = `replace-${Date.now()}.bin`;
    await streamOf([new Uint8Array([1, 2, 3])]).pipeTo(opfsSink(name));
    const sink = opfsSink(name);
    const writer = sink.getWriter();
    await writer.write(new Uint8Array([7, 7, 7, 7]));
    expect([...(await read(name))]).toEqual([1, 2, 3]);
    await writer.close();
    expect([...(await read(name))]).toEqual([7, 7, 7, 7]);
    expect((await entries()).filter((e) => e.includes(name))).toEqual([name]);
    await remove(name);
  });

  test("opfsSink rejects a name with a slash", () => {
    expect(() => opfsSink("a/b")).toThrow(/name must be a file name without slashes/);
  });
});

describe("captureArchive progress", () => {
  test("captureArchive reports the source's progress with the bytes stored, and a final report before archived resolves", async () => {
    const seen: ArchiveProgress[] = [];
    const sink = blobSink();
    const { stream, archived } = captureArchive(streamOf(CHUNKS), sink, { interval: 0, onProgress: (p) => seen.push(p) });
    expect(same(await collectBytes(stream), ALL)).toBe(true);
    const report = await archived;
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ bytes: ALL.length, chunks: CHUNKS.length, storedBytes: report.storedBytes, done: true });
    expect(report.storedBytes).toBe((await sink.blob).size);
    const running = seen.slice(0, -1);
    expect(running.every((p) => !p.done)).toBe(true);
    // With interval 0, every chunk the source gave shows in a report, in order (a chunk that
    // waits for the tee is reported when it starts to wait as well, with the same count).
    expect([...new Set(running.map((p) => p.bytes))].filter((b) => b > 0)).toEqual(CHUNKS.map((_, i) => (i + 1) * 10_000));
  });

  test("captureArchive makes only the final report with interval Infinity, also when the source fails", async () => {
    const seen: ArchiveProgress[] = [];
    const reason = new Error("half-way");
    const { stream, archived } = captureArchive(failingSource(8, reason).stream, blobSink(), {
      interval: Infinity,
      onProgress: (p) => seen.push(p),
    });
    void stream.cancel();
    await expect(archived).rejects.toBe(reason);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ bytes: 80_000, chunks: 8, done: true });
  });

  test("captureArchive rejects a bad onProgress or interval before locking the source", () => {
    const source = streamOf(CHUNKS);
    expect(() => captureArchive(source, blobSink(), { onProgress: 1 as unknown as () => void })).toThrow(
      new TypeError("Cannot capture archive: onProgress must be a function, got number 1"),
    );
    expect(() => captureArchive(source, blobSink(), { interval: -5 })).toThrow(RangeError);
    expect(source.locked).toBe(false);
  });
});
