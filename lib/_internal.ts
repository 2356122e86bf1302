/**
 * Small helpers shared by sluice's modules. Not part of the public API: names
 * and shapes here may change in any release.
 * @module
 */

/** A short, human description of a value for error messages: `number 0`, `string "abc"`, `ArrayBuffer`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "number":
    case "bigint":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "string":
      return `string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "…" : value)}`;
    case "object": {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === "string" && name !== "" ? name : "object";
    }
    default:
      return typeof value;
  }
}

/**
 * Unread items past which a transform that emits many items from one input
 * chunk waits for its reader. Node's stream queue dequeues with `Array#shift`,
 * which turns quadratic past ~16k queued entries; this keeps it well below.
 */
export const MAX_QUEUED = 4096;

/**
 * Enqueues every item of `items`; whenever more than {@linkcode MAX_QUEUED}
 * are unread (checked every 256 items), waits for the reader to take most of
 * them first. Returns nothing when done without waiting, else a promise. An
 * error thrown while producing or enqueueing an item closes the iterator
 * (`return()`) and is rethrown.
 */
export function enqueueAll<T>(controller: TransformStreamDefaultController<T>, items: Iterator<T>): void | Promise<void> {
  try {
    for (let r = items.next(), n = 1; !r.done; r = items.next(), n++) {
      controller.enqueue(r.value);
      if ((n & 255) === 0 && controller.desiredSize !== null && controller.desiredSize < -MAX_QUEUED) {
        return readerCaughtUp(controller, MAX_QUEUED / 2).then(() => enqueueAll(controller, items));
      }
    }
  } catch (error) {
    items.return?.();
    throw error;
  }
}

/**
 * Resolves once at most `unread` chunks wait unread in `controller`'s queue,
 * or the stream has ended. A transformer is told of no read, so this polls
 * `desiredSize`, with backoff (1 ms doubling to 32 ms).
 */
export async function readerCaughtUp(controller: TransformStreamDefaultController<unknown>, unread: number): Promise<void> {
  for (let wait = 0; controller.desiredSize !== null && controller.desiredSize < -unread; wait = Math.min(2 * wait || 1, 32)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * Checks an options argument: returns it, or `{}` for `undefined`; throws a
 * `TypeError` that names the caller and the argument for anything that is not
 * an object (`null`, a number, a string, a function):
 * `Cannot construct MeasureStream: options must be an object, got null`.
 * @param owner What failed, as the message starts: `"Cannot construct MeasureStream"`.
 * @param what The argument's name in the message.
 * @param expected What it must be, in the message.
 */
export function optionsObject<T extends object>(
  options: T | undefined,
  owner: string,
  what = "options",
  expected = "an object",
): T {
  if (options === undefined) return {} as T;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${owner}: ${what} must be ${expected}, got ${describeValue(options)}`);
  }
  return options;
}

/**
 * Checks a reporting interval in milliseconds: a non-negative number, where 0
 * reports at every change and `Infinity` only at the end.
 */
export function checkInterval(owner: string, interval: unknown): number {
  if (typeof interval !== "number") {
    throw new TypeError(`${owner}: interval must be a number of milliseconds, got ${describeValue(interval)}`);
  }
  if (!(interval >= 0)) {
    throw new RangeError(`${owner}: interval must be a non-negative number of milliseconds, got ${describeValue(interval)}`);
  }
  return interval;
}

/** Lets the runtime exit while `timer` is pending (Node and Bun timer objects, Deno timer ids). */
export function unrefTimer(timer: unknown): void {
  if (typeof (timer as { unref?: unknown } | undefined)?.unref === "function") {
    (timer as { unref(): void }).unref();
  } else if (typeof timer === "number") {
    const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
    try {
      deno?.unrefTimer?.(timer);
    } catch {
      // Not a timer Deno knows (a test runner's fake clock): nothing to unref.
    }
  }
}

/** Calls a user's callback so that its error cannot disturb a stream: the error is rethrown in a microtask. */
export function callSafely<A>(callback: (arg: A) => void, arg: A): void {
  try {
    callback(arg);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** Joins byte chunks into one new array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
