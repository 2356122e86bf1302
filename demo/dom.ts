// Small DOM helpers the page's parts share: finding an element that must be
// there, and the few elements built in more than one place.

/** The element with this id; a missing one is a bug in the page, so it throws. */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`The page lacks #${id}`);
  return el as T;
};

export function strong(text: string): HTMLElement {
  const el = document.createElement("strong");
  el.textContent = text;
  return el;
}

/** A digest or similar, in a monospace element the e2e tests find by `data-testid`. */
export function mono(text: string, testid: string): HTMLElement {
  const el = document.createElement("code");
  el.textContent = text;
  el.dataset.testid = testid;
  return el;
}

export function checkMark(ok: boolean, text: string): HTMLElement {
  const el = document.createElement("span");
  el.className = ok ? "match" : "mismatch";
  el.textContent = `${ok ? "✓" : "✗"} ${text}`;
  el.dataset.testid = "check";
  el.dataset.ok = String(ok);
  return el;
}

export function errorText(error: unknown): string {
  if (error instanceof Error || error instanceof DOMException) return `${error.name}: ${error.message}`;
  return String(error);
}

/** `raw:packed`, as `"6.2:1"`. */
export function ratio(raw: number, packed: number): string {
  return packed > 0 ? `${(raw / packed).toFixed(1)}:1` : "–";
}

/** Resolves after the next frame has painted, so a label set before a long task is seen. */
export function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}
