/**
 * Splitting decoded text into lines across chunk boundaries, shared by the
 * JSON Lines parser and the server-sent events decoder. Internal.
 * @module
 */

/** Options of {@linkcode LineSplitter}. */
export interface LineSplitterOptions {
  /**
   * Whether a lone CR also ends a line (the event-stream rules), besides LF
   * and CRLF. When false, only LF ends a line and one CR before it is dropped.
   */
  cr: boolean;
  /** The longest line accepted, in UTF-16 code units, before {@linkcode LineSplitter.push} throws. */
  maxLineLength: number;
  /** Names the owner in the error thrown past `maxLineLength`, e.g. `"SseDecoderStream"`. */
  owner: string;
}

/**
 * Splits text pushed in pieces into lines. The terminators are not part of
 * the lines. A CR at the end of one piece followed by an LF at the start of
 * the next counts as one CRLF.
 */
export class LineSplitter {
  #partial = "";
  #afterCr = false;
  #options: LineSplitterOptions;

  constructor(options: LineSplitterOptions) {
    this.#options = options;
  }

  /**
   * Splits `text` and calls `onLine` for each complete line, in order.
   * @throws {RangeError} when an unterminated line grows past `maxLineLength`.
   */
  push(text: string, onLine: (line: string) => void): void {
    let start = 0;
    const length = text.length;
    if (length === 0) return;
    if (this.#afterCr) {
      this.#afterCr = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    if (this.#options.cr) {
      for (let i = start; i < length; i++) {
        const c = text.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        this.#emit(text, start, i, onLine);
        if (c === 13) {
          if (i + 1 === length) this.#afterCr = true;
          else if (text.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
    } else {
      for (let i = text.indexOf("\n", start); i !== -1; i = text.indexOf("\n", start)) {
        this.#emit(text, start, i, onLine, true);
        start = i + 1;
      }
    }
    if (start < length) {
      let rest = this.#partial.length + (length - start);
      // Without lone-CR line ends, a CR that ends the piece may be the first half of a CRLF,
      // which is not part of the line: the limit must not depend on where the input was cut.
      if (!this.#options.cr && text.charCodeAt(length - 1) === 13) rest--;
      if (rest > this.#options.maxLineLength) this.#tooLong(rest);
      this.#partial = this.#partial === "" ? text.slice(start) : this.#partial + text.slice(start);
    }
  }

  /** Returns the unterminated text left at the end of the input ("" when none) and resets. */
  end(): string {
    const rest = this.#partial;
    this.#partial = "";
    this.#afterCr = false;
    return rest;
  }

  #emit(text: string, start: number, end: number, onLine: (line: string) => void, dropCr = false): void {
    const piece = text.slice(start, end);
    let line = this.#partial === "" ? piece : this.#partial + piece;
    this.#partial = "";
    if (dropCr && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.length > this.#options.maxLineLength) this.#tooLong(line.length);
    onLine(line);
  }

  #tooLong(length: number): never {
    this.#partial = "";
    throw new RangeError(
      `${this.#options.owner}: a line exceeded maxLineLength (${this.#options.maxLineLength} characters) at ${length} characters without a line end`,
    );
  }
}
