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
