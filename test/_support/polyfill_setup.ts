// Replaces the runtime's own stream classes with web-streams-polyfill's, so
// that the suite proves sluice relies on the WHATWG standard and not on one
// engine's behaviour.
import * as polyfill from "web-streams-polyfill";

const names = [
  "ReadableStream", "WritableStream", "TransformStream",
  "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "WritableStreamDefaultWriter",
  "ByteLengthQueuingStrategy", "CountQueuingStrategy",
] as const;
for (const name of names) {
  Object.defineProperty(globalThis, name, { value: polyfill[name], writable: true, configurable: true });
}
(globalThis as { __sluicePolyfilled?: boolean }).__sluicePolyfilled = true;
