// Counts what a streamed auction holds while it arrives, without parsing it
// whole: a small structural scanner over UTF-8 bytes that follows strings and
// nesting, and counts the objects directly inside the root's arrays (the
// orders). It also tells whether the document closed cleanly.

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;

/** Incremental counts over a streamed auction document. */
export class AuctionScanner {
  /** Bytes scanned. */
  bytes = 0;
  /** Objects seen directly inside an array of the root object: the orders. */
  orders = 0;
  private inString = false;
  /** Whether the previous chunk ended, inside a string, with a run of backslashes of odd length. */
  private escaped = false;
  /** Open containers: true for arrays. */
  private stack: boolean[] = [];
  private started = false;

  /** True once the root value has closed and nothing was left open. */
  get complete(): boolean {
    return this.started && this.stack.length === 0 && !this.inString;
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.inString) {
        const q = chunk.indexOf(QUOTE, i);
        if (q === -1) {
          this.escaped = oddBackslashesBefore(chunk, n, i, this.escaped);
          return;
        }
        const escaped = oddBackslashesBefore(chunk, q, i, this.escaped);
        this.escaped = false;
        i = q + 1;
        if (!escaped) this.inString = false;
        continue;
      }
      const c = chunk[i++]!;
      if (c === QUOTE) this.inString = true;
      else if (c === OPEN_OBJECT) {
        const depth = this.stack.length;
        if (depth === 2 && this.stack[1] === true) this.orders++;
        this.stack.push(false);
        this.started = true;
      } else if (c === OPEN_ARRAY) {
        this.stack.push(true);
        this.started = true;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) this.stack.pop();
    }
  }
}

/**
 * Whether the backslashes just before `end` (back to `start`) escape what is at
 * `end`. Only when the run reaches the chunk's start does the carry count.
 */
function oddBackslashesBefore(chunk: Uint8Array, end: number, start: number, carry: boolean): boolean {
  let j = end;
  while (j > start && chunk[j - 1] === BACKSLASH) j--;
  let odd = (end - j) % 2 === 1;
  if (j === 0 && carry) odd = !odd;
  return odd;
}
