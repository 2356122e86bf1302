import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { LineSplitter } from "../lib/_lines.ts";

function split(pieces: string[], cr: boolean, maxLineLength = 1e9): { lines: string[]; rest: string } {
  const splitter = new LineSplitter({ cr, maxLineLength, owner: "Test" });
  const lines: string[] = [];
  for (const p of pieces) splitter.push(p, (l) => lines.push(l));
  return { lines, rest: splitter.end() };
}

describe("LineSplitter (internal)", () => {
  test("LineSplitter in LF mode splits on LF and CRLF and keeps a lone CR", () => {
    expect(split(["a\nb\r\nc\rd\n", "e"], false)).toEqual({ lines: ["a", "b", "c\rd"], rest: "e" });
  });

  test("LineSplitter in CR mode splits on CR, LF and CRLF, also when CR and LF arrive in separate pieces", () => {
    expect(split(["a\rb\nc\r", "\nd\r", "", "e\n"], true)).toEqual({ lines: ["a", "b", "c", "d", "e"], rest: "" });
    expect(split(["a\r", "\r", "\n"], true).lines).toEqual(["a", ""]);
  });

  test("LineSplitter joins a CRLF split across pieces in LF mode", () => {
    expect(split(["ab\r", "\ncd\n"], false).lines).toEqual(["ab", "cd"]);
  });

  test("LineSplitter throws a RangeError naming its owner past maxLineLength", () => {
    expect(() => split(["abcdef"], false, 5)).toThrow(/Test: a line exceeded maxLineLength \(5 characters\)/);
    expect(() => split(["abc", "def\n"], true, 5)).toThrow(RangeError);
    expect(split(["abcde\nabcde"], false, 5)).toEqual({ lines: ["abcde"], rest: "abcde" });
  });

  test("LineSplitter gives the same lines however the text is cut", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("a", "b", "\n", "\r", "\r\n", "é", "😀"), { maxLength: 40 }).map((a) => a.join("")),
        fc.array(fc.nat({ max: 80 }), { maxLength: 10 }),
        fc.boolean(),
        (text, cuts, cr) => {
          const points = [...new Set(cuts)].filter((c) => c < text.length).sort((a, b) => a - b);
          const pieces: string[] = [];
          let last = 0;
          for (const p of points) {
            pieces.push(text.slice(last, p));
            last = p;
          }
          pieces.push(text.slice(last));
          expect(split(pieces, cr)).toEqual(split([text], cr));
          const whole = split([text], cr);
          const expected = cr ? text.split(/\r\n|\r|\n/) : text.split("\n").map((l) => l.replace(/\r$/, ""));
          const rest = expected.pop()!;
          expect(whole.lines).toEqual(expected);
          expect(whole.rest).toBe(cr ? rest : text.slice(text.lastIndexOf("\n") + 1));
        },
      ),
      { numRuns: 300 },
    );
  });
});
