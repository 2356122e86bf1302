// The tests' side of ./control.ts: the same `commands` object that
// "vitest/browser" gives a browser page, for a runtime that has none
// (workerd), each call a POST to the control server in the Vitest process.
import { inject } from "vitest";
import type { BrowserCommands } from "vitest/browser";

export function remoteCommands(): BrowserCommands {
  const base = inject("serverControlUrl");
  if (!base) throw new Error("no control server in this run (test/_support/global_setup.ts starts it for workerd)");
  return new Proxy({} as BrowserCommands, {
    get: (_target, name) => async (...args: unknown[]) => {
      const response = await fetch(`${base}/command/${String(name)}`, { method: "POST", body: JSON.stringify(args) });
      const answer = await response.json() as { value?: unknown; error?: string };
      if (!response.ok || answer.error !== undefined) throw new Error(`command ${String(name)} failed: ${answer.error}`);
      return answer.value;
    },
  });
}
