// Runs every ```ts example in the JSDoc of lib/*.ts and checks what it logs,
// so that a wrong example fails `npm test` (`npm run test:docs`).
//
// The convention the examples follow (and this file enforces):
// - `import ... from "sluice/x"` imports the module as a user would; here it is
//   rewritten to lib/x.ts through package.json's exports map.
// - A `console.log(...)` followed by a comment states what it prints, as
//   JavaScript literals separated by commas: `console.log(a, b); // "closed", 10`.
//   The comment is on the same line, or on the comment lines right after the
//   statement (joined, for long values or a console.log in a loop: the literals
//   then list every value that statement printed, over all its calls, in
//   order). Prose may follow the literals after " — ". Values are compared
//   structurally (own enumerable properties, array and typed-array items).
//   A console.log without such a comment prints nothing here.
// - Every example states at least one value, unless its fence is ```ts ignore:
//   such an example (one that needs a network, a server port or a browser) is
//   type-checked but not run.
// Every example, run or not, is type-checked with the project's compiler options
// (in the Node run). `npm run test:docs` runs them in Node and again in Deno.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const lib = join(root, "lib");
// Outside node_modules, where Deno would not strip types; ignored by git.
const out = join(root, ".doc-examples");
const inDeno = "Deno" in globalThis;
const TIMEOUT_MS = 20_000;

interface Expectation {
  /** The line of the example (0-based) whose console.log it checks. */
  line: number;
  text: string;
}

interface Example {
  file: string;
  /** 1-based line of the opening fence in the source file. */
  sourceLine: number;
  title: string;
  ignore: boolean;
  code: string[];
  expectations: Expectation[];
}

/** `"sluice/json-lines"` -> the lib file its `deno` export condition names. */
function subpathMap(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown> };
  const map = new Map<string, string>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const deno = (target as { deno?: string }).deno;
    if (deno) map.set(subpath === "." ? "sluice" : `sluice/${subpath.slice(2)}`, join(root, deno));
  }
  return map;
}

function extract(file: string): Example[] {
  const lines = readFileSync(join(lib, file), "utf8").split("\n");
  const examples: Example[] = [];
  let title = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heading = /^\s*\* @example\s*(.*)$/.exec(line);
    if (heading) title = heading[1]!.trim();
    const fence = /^\s*\* ```ts(?:\s+(\S+))?\s*$/.exec(line);
    if (!fence) continue;
    const code: string[] = [];
    const start = i + 1;
    for (i++; i < lines.length && !/^\s*\* ```\s*$/.test(lines[i]!); i++) {
      code.push(lines[i]!.replace(/^\s*\* ?/, "").replace(/^\s*\*$/, ""));
    }
    if (fence[1] !== undefined && fence[1] !== "ignore") {
      throw new Error(`${file}:${start}: unknown example attribute "${fence[1]}" (only "ignore" is known)`);
    }
    examples.push({ file, sourceLine: start, title, ignore: fence[1] === "ignore", code, expectations: expectations(code) });
  }
  return examples;
}

function expectations(code: string[]): Expectation[] {
  const found: Expectation[] = [];
  for (let i = 0; i < code.length; i++) {
    if (!/\bconsole\.log\(/.test(code[i]!)) continue;
    const same = /^(.*\bconsole\.log\(.*\).*?)\s+\/\/ (.*)$/.exec(code[i]!);
    if (same && !/^\s*\/\//.test(same[1]!)) {
      found.push({ line: i, text: same[2]! });
      continue;
    }
    const following: string[] = [];
    for (let j = i + 1; j < code.length && /^\s*\/\/( |$)/.test(code[j]!); j++) following.push(code[j]!.replace(/^\s*\/\/ ?/, ""));
    if (following.length > 0) found.push({ line: i, text: following.join("\n") });
  }
  return found;
}

/** The example as a module: sluice imports rewritten, console.log calls that state a value reporting to the harness. */
function moduleSource(example: Example, modules: Map<string, string>, path: string): string {
  const body = example.code.map((line, i) => {
    let out = line.replace(/from "(sluice(?:\/[\w-]+)?)"/g, (whole, specifier: string) => {
      const target = modules.get(specifier);
      if (!target) throw new Error(`${example.file}:${example.sourceLine + i}: no export "${specifier}" in package.json`);
      return `from ${JSON.stringify(relative(dirname(path), target).replace(/\\/g, "/").replace(/^(?!\.)/, "./"))}`;
    });
    if (example.expectations.some((e) => e.line === i)) out = out.replace(/\bconsole\.log\(/, `__docLog(${i}, `);
    return out;
  });
  return [
    // One line, so that the example's lines keep their numbers (less one); imports are hoisted anyway.
    "const console = { ...globalThis.console, log: (..._: unknown[]): void => {} }; // Generated from a JSDoc example; see test/_support/doc_examples.ts.",
    ...body,
    "",
    // Declared after the body so that the example's line numbers are unchanged; hoisted as functions are.
    "function __docLog(line: number, ...values: unknown[]): void {",
    "  ((globalThis as Record<string, unknown>).__docLogged as (line: number, values: unknown[]) => void)(line, values);",
    "}",
    "export {};",
  ].join("\n");
}

function parseExpected(text: string): unknown[] {
  const literals = text.split(" — ")[0]!;
  return new Function(`"use strict"; return [${literals}\n];`)() as unknown[];
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b) || Array.isArray(a) || Array.isArray(b)) {
    const x = ArrayBuffer.isView(a) ? Array.from(a as unknown as ArrayLike<unknown>) : a;
    const y = ArrayBuffer.isView(b) ? Array.from(b as unknown as ArrayLike<unknown>) : b;
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
    return x.every((v, i) => same(v, y[i]));
  }
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as never)[k], (b as never)[k]));
}

function show(values: unknown[]): string {
  return values.map((v) => {
    try {
      return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : ArrayBuffer.isView(x) ? Array.from(x as Uint8Array) : x));
    } catch {
      return String(v);
    }
  }).join(", ");
}

async function run(example: Example, path: string): Promise<string | undefined> {
  const logged = new Map<number, unknown[]>();
  (globalThis as Record<string, unknown>).__docLogged = (line: number, values: unknown[]) => {
    logged.set(line, [...(logged.get(line) ?? []), ...values]);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      import(pathToFileURL(path).href),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`did not finish in ${TIMEOUT_MS} ms`)), TIMEOUT_MS))),
    ]);
  } catch (error) {
    return `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
  } finally {
    clearTimeout(timer);
  }
  const problems: string[] = [];
  for (const { line, text } of example.expectations) {
    let expected: unknown[];
    try {
      expected = parseExpected(text);
    } catch (error) {
      problems.push(`line ${example.sourceLine + 1 + line}: the comment "${text}" is not a list of JavaScript literals (${(error as Error).message})`);
      continue;
    }
    const actual = logged.get(line) ?? [];
    if (!same(actual, expected)) {
      problems.push(`line ${example.sourceLine + 1 + line}: logged ${show(actual)}, the comment says ${show(expected)}`);
    }
  }
  return problems.length > 0 ? problems.join("\n    ") : undefined;
}

const modules = subpathMap();
const files = readdirSync(lib).filter((f) => f.endsWith(".ts")).sort();
const examples = files.flatMap(extract);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const paths = examples.map((example, n) => {
  const path = join(out, `${example.file.replace(/\.ts$/, "")}_${n}.mts`);
  writeFileSync(path, moduleSource(example, modules, path));
  return path;
});

let failures = 0;
const fail = (example: Example, why: string) => {
  failures++;
  console.error(`✗ lib/${example.file}:${example.sourceLine} (${example.title || "example"}): ${why}`);
};

// Types first: a wrong type in an example is as wrong as a wrong value.
const tsc = inDeno ? { status: 0, stdout: "", stderr: "" } : spawnSync(process.execPath, [
  join(root, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "--ignoreConfig", "--pretty", "false",
  "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "Bundler", "--lib", "ES2022,DOM,DOM.Iterable",
  "--types", "node", "--strict", "--allowImportingTsExtensions", "--verbatimModuleSyntax", "--skipLibCheck",
  ...paths,
], { cwd: root, encoding: "utf8" });
if (tsc.status !== 0) {
  for (const line of `${tsc.stdout}${tsc.stderr}`.split("\n").filter(Boolean)) {
    const at = /\.doc-examples[\\/](\w+?)_(\d+)\.mts\((\d+),/.exec(line);
    const example = at ? examples[Number(at[2])] : undefined;
    if (example) fail(example, `type error at line ${example.sourceLine + Number(at![3]) - 1}: ${line.replace(/^.*?error /, "")}`);
    else {
      failures++;
      console.error(line);
    }
  }
}

let ran = 0;
for (const [n, example] of examples.entries()) {
  if (example.ignore) continue;
  if (example.expectations.length === 0) {
    fail(example, "states no value: follow a console.log with the value it prints as a comment, or mark the fence ```ts ignore");
    continue;
  }
  const problem = await run(example, paths[n]!);
  ran++;
  if (problem) fail(example, problem);
  else console.log(`✓ lib/${example.file}:${example.sourceLine} ${example.title}`);
}
const ignored = examples.filter((e) => e.ignore);
for (const e of ignored) console.log(`- lib/${e.file}:${e.sourceLine} ${e.title} (type-checked only: ts ignore)`);
const runtime = inDeno ? "Deno" : "Node";
console.log(`${examples.length} examples in ${files.length} files: ${ran} run in ${runtime}, ${ignored.length} type-checked only, ${failures} failed`);
process.exit(failures > 0 ? 1 : 0);
