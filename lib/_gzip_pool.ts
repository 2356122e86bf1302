/**
 * The shared pool of compression threads behind `GzipStream`/`DeflateStream`'s `workers`
 * option: one pool per worker factory in a page or process, started lazily, its threads
 * shared by every stream. Streams submit blocks; the pool hands each to the least busy
 * thread and reports the result to the stream that sent it, or that thread's death to every
 * stream that had a block on it. Not part of the public API.
 * @module
 */

import type { BlockJob, BlockResult } from "./_gzip.ts";
import { startThread } from "./_node_threads.ts";

/**
 * A worker that runs sluice's compressor: the part of a Web `Worker` (or of a Node
 * `worker_threads` worker wrapped by `nodeCompressionWorker` from `sluice/node`) that the
 * compression pool uses. It answers every message with exactly one message.
 */
export interface CompressionWorker {
  /** Sends a message to the worker, moving the listed buffers. */
  postMessage(message: unknown, transfer: Transferable[]): void;
  /** Called with each message from the worker. */
  onmessage: ((event: { data: unknown }) => void) | null;
  /** Called when the worker fails; the streams with blocks on it error. */
  onerror: ((event: unknown) => void) | null;
  /** Stops the worker. */
  terminate(): void;
  /** Where present (Node, Bun), called while the worker has nothing to do, so it does not keep the process alive. */
  unref?(): void;
  /** Called when work is sent to an unref'ed worker. */
  ref?(): void;
}

/** Starts one {@linkcode CompressionWorker} of the shared pool. */
export type CompressionWorkerFactory = () => CompressionWorker;

/** One block for the pool, and what to do with its result. */
export interface PoolTask {
  owner: { active: boolean };
  job: Omit<BlockJob, "id" | "type">;
  done(result: Extract<BlockResult, { type: "done" }>): void;
  fail(error: Error): void;
}

/** Blocks sent to one thread at once: one compressing, one waiting, so no thread waits for the caller. */
const DEPTH = 2;
/** Deno's Web Workers keep the process alive and cannot be unref'ed: idle ones end after this long. */
const IDLE_MS = 1000;

interface Slot {
  worker: CompressionWorker;
  tasks: Map<number, PoolTask>;
  idleTimer?: ReturnType<typeof setTimeout>;
}

/** The threads of one worker factory and the blocks waiting for them. */
export class CompressionPool {
  readonly #factory: CompressionWorkerFactory;
  readonly #slots: Slot[] = [];
  readonly #queue: PoolTask[] = [];
  #size: number;
  #nextId = 0;

  constructor(factory: CompressionWorkerFactory, size: number) {
    this.#factory = factory;
    this.#size = size;
  }

  /** How many threads the pool may run; a stream asking for more raises it. */
  get size(): number {
    return this.#size;
  }

  set size(n: number) {
    this.#size = n;
    for (let i = this.#slots.length - 1; i >= 0 && this.#slots.length > n; i--) {
      const slot = this.#slots[i]!;
      if (slot.tasks.size === 0) this.#remove(slot);
    }
  }

  /** Threads running now (for tests and reports). */
  get threads(): number {
    return this.#slots.length;
  }

  /** Makes room for at least `n` threads. */
  reserve(n: number): void {
    if (n > this.#size) this.#size = n;
  }

  /** Starts the first thread now, so that a factory that throws is reported where the stream is made. */
  warm(): void {
    if (this.#slots.length === 0) this.#idle(this.#start());
  }

  submit(task: PoolTask): void {
    this.#queue.push(task);
    this.#dispatch();
  }

  /** Forgets the queued blocks of an owner that has gone (cancelled or errored). */
  drop(owner: { active: boolean }): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) if (this.#queue[i]!.owner === owner) this.#queue.splice(i, 1);
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.tasks.size === 0);
      if (!slot && this.#slots.length < this.#size) {
        try {
          slot = this.#start();
        } catch (error) {
          // No thread can be started: every block waiting fails rather than hanging.
          const failure = new TypeError(`could not start the compression worker: ${String(error)}`, { cause: error });
          for (const task of this.#queue.splice(0)) task.fail(failure);
          return;
        }
      }
      if (!slot) {
        let best: Slot | undefined;
        for (const s of this.#slots) if (s.tasks.size < DEPTH && (!best || s.tasks.size < best.tasks.size)) best = s;
        if (!best) return;
        slot = best;
      }
      const task = this.#queue.shift()!;
      if (!task.owner.active) continue;
      const id = this.#nextId++;
      if (slot.tasks.size === 0) {
        if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
        slot.idleTimer = undefined;
        slot.worker.ref?.();
      }
      slot.tasks.set(id, task);
      const message: BlockJob = { type: "block", id, ...task.job };
      try {
        slot.worker.postMessage(message, [message.buffer]);
      } catch (error) {
        slot.tasks.delete(id);
        task.fail(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  #start(): Slot {
    const worker = this.#factory();
    const slot: Slot = { worker, tasks: new Map() };
    worker.unref?.();
    worker.onmessage = (event) => {
      const result = event.data as BlockResult;
      const task = slot.tasks.get(result?.id);
      if (!task) return this.#died(slot, `it answered a block it was not given (${String(result?.id)})`);
      slot.tasks.delete(result.id);
      if (slot.tasks.size === 0) this.#idle(slot);
      if (result.type === "error") task.fail(new Error(`the compression worker failed: ${result.message}`));
      else if (task.owner.active) task.done(result);
      this.#dispatch();
    };
    worker.onerror = (event) => {
      const message = (event as { message?: unknown } | null)?.message;
      // A Web Worker's error event may be cancelled to keep it from reaching the page's console.
      (event as { preventDefault?: () => void } | null)?.preventDefault?.();
      this.#died(slot, typeof message === "string" ? message : String(event));
    };
    this.#slots.push(slot);
    return slot;
  }

  #idle(slot: Slot): void {
    if (slot.worker.unref) return slot.worker.unref();
    if ("Deno" in globalThis) slot.idleTimer = setTimeout(() => this.#remove(slot), IDLE_MS);
  }

  #remove(slot: Slot): void {
    const at = this.#slots.indexOf(slot);
    if (at >= 0) this.#slots.splice(at, 1);
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.worker.onmessage = slot.worker.onerror = null;
    slot.worker.terminate();
  }

  /** A thread failed: every block it held fails (the streams that sent them error); the rest go on. */
  #died(slot: Slot, why: string): void {
    if (!this.#slots.includes(slot)) return;
    this.#remove(slot);
    const error = new Error(`the compression worker failed: ${why}`);
    for (const task of slot.tasks.values()) task.fail(error);
    slot.tasks.clear();
    this.#dispatch();
  }
}

// ---------------------------------------------------------------------------
// The pools of this page or process

const pools = new Map<CompressionWorkerFactory, CompressionPool>();
let defaultSize: number | undefined;

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

/** Node itself: not Deno, Bun or Cloudflare's workerd, which answer to `process` too (workerd's `Worker` is a stub). */
function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  // Not Cloudflare Workers either: with nodejs_compat it has process.versions.node and a worker_threads whose Worker throws.
  const workerd = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent === "Cloudflare-Workers";
  return typeof p?.versions?.node === "string" && !("Deno" in globalThis) && !("Bun" in globalThis) && !workerd ? p : undefined;
}

/** Cores of this machine minus one for the thread that produces the data, at least 1. */
function machineThreads(): number {
  const node = nodeProcess()?.getBuiltinModule?.("node:os") as { availableParallelism?: () => number; cpus(): unknown[] } | undefined;
  const cores = node
    ? (node.availableParallelism?.() ?? node.cpus().length)
    : (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return Math.max(1, (typeof cores === "number" && cores > 0 ? Math.floor(cores) : 2) - 1);
}

/** The size of every pool from now on (and of those running). */
export function setPoolSize(size: number): void {
  defaultSize = size;
  for (const pool of pools.values()) pool.size = size;
}

/** The default pool size: {@linkcode setPoolSize}'s, else the machine's cores minus one. */
export function poolSize(): number {
  return (defaultSize ??= machineThreads());
}

/** The pool of `factory`, started on first use. */
export function poolFor(factory: CompressionWorkerFactory): CompressionPool {
  let pool = pools.get(factory);
  if (!pool) pools.set(factory, (pool = new CompressionPool(factory, poolSize())));
  return pool;
}

// Not literals inside `new URL(...)`/`new Worker(...)` where a bundler should not look.
const SOURCE_WORKER = "./gzip_worker.ts";

function webWorker(): CompressionWorker {
  // From the sources (.ts, run by Deno, tsx or Vite's dev server) the worker is the .ts file
  // beside this one; from the build (dist/*.js) and in bundles it is the .js file, written as
  // the literal `new Worker(new URL("...", import.meta.url))` that Vite and others bundle.
  const w = new URL(import.meta.url).pathname.endsWith(".ts")
    ? new Worker(new URL(SOURCE_WORKER, import.meta.url), { type: "module" })
    : new Worker(new URL("./gzip_worker.js", import.meta.url), { type: "module" });
  return w as unknown as CompressionWorker;
}

function nodeWorker(): CompressionWorker {
  const p = nodeProcess()!;
  return startThread({
    Worker: (p.getBuiltinModule!("node:worker_threads") as { Worker: never }).Worker,
    fileURLToPath: (p.getBuiltinModule!("node:url") as { fileURLToPath: (u: URL) => string }).fileURLToPath,
  });
}

/**
 * The platform's own threads: module Web Workers where there is a global `Worker` (browsers,
 * Deno, Bun), `worker_threads` in Node (reached through `process.getBuiltinModule`, so no
 * Node module is imported elsewhere); undefined where there are none (Cloudflare Workers,
 * Node before 20.16), where streams compress on the calling thread instead.
 */
export function platformWorkerFactory(): CompressionWorkerFactory | undefined {
  if (typeof (globalThis as { Worker?: unknown }).Worker === "function") return webWorker;
  if (typeof nodeProcess()?.getBuiltinModule === "function") return nodeWorker;
  return undefined;
}
