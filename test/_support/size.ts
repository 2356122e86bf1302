// `npm run size`: what each entry point costs a page. Every export of
// package.json is bundled on its own with esbuild (minified, with its
// dependencies, as a bundler would for a page that imports only it), then
// gzipped; the table goes into the README between the size markers. Fails
// when an entry point grows past its budget, has no budget, or when a
// primitive pulls in a codec library (`sluice/tee` must stay free of fflate
// and @msgpack/msgpack). `--check` (as `npm test` runs it) leaves the README alone.
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const check = process.argv.includes("--check");

/**
 * Bytes, minified and gzipped. Set at about 15% over the size measured (25% for the modules being reworked, and
 * for `sluice`, which grows with every new module): raise one on purpose, with the reason in the commit.
 */
const BUDGETS: Record<string, number> = {
  "sluice": 56_000,
  "sluice/chunk": 750,
  "sluice/tee": 2_600,
  "sluice/broadcast": 2_800,
  "sluice/measure": 2_100,
  "sluice/fold": 750,
  "sluice/dedupe": 900,
  "sluice/json": 5_000,
  "sluice/json-lines": 6_500,
  "sluice/json-items": 7_000,
  "sluice/gzip": 14_500,
  "sluice/msgpack": 10_000,
  "sluice/sse": 3_000,
  "sluice/fetch": 2_800,
  "sluice/archive": 19_000,
  "sluice/s3": 10_500,
  "sluice/node": 2_600,
  "gzip worker": 8_200,
};

/** Libraries that the primitives (entry points that move bytes but encode nothing) must not pull in. */
const CODECS = ["fflate", "@msgpack/msgpack"];
const PRIMITIVES = ["sluice/chunk", "sluice/tee", "sluice/broadcast", "sluice/measure", "sluice/fold", "sluice/dedupe", "sluice/fetch"];

interface Row {
  name: string;
  minified: number;
  gzipped: number;
  libraries: string[];
}

async function measure(name: string, entry: string): Promise<Row> {
  const result = await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    // sluice/node runs in Node: its built-ins are not bundled; everything else is bundled as for a page.
    platform: name === "sluice/node" ? "node" : "browser",
    external: ["node:*"],
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]!.contents;
  const libraries = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    if (match) libraries.add(match[1]!);
  }
  return { name, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length, libraries: [...libraries].sort() };
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, { deno?: string } | string> };
const entries: [string, string][] = [];
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target !== "object" || !target.deno) continue;
  entries.push([subpath === "." ? "sluice" : `sluice/${subpath.slice(2)}`, target.deno]);
}
// Loaded on its own when GzipStream is given `worker: true`.
entries.push(["gzip worker", "lib/gzip_worker.ts"]);

const rows = await Promise.all(entries.map(([name, entry]) => measure(name, entry)));
const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;
const table = [
  "| entry point | minified | min + gzip | budget (gzip) | bundled libraries |",
  "|---|---:|---:|---:|---|",
  ...rows.map((r) => `| \`${r.name}\` | ${kb(r.minified)} | ${kb(r.gzipped)} | ${BUDGETS[r.name] ? kb(BUDGETS[r.name]!) : "none"} | ${r.libraries.join(", ") || "–"} |`),
].join("\n");
console.log(table);

const problems: string[] = [];
for (const r of rows) {
  const budget = BUDGETS[r.name];
  if (budget === undefined) problems.push(`${r.name} has no size budget: add one to BUDGETS in test/_support/size.ts`);
  else if (r.gzipped > budget) problems.push(`${r.name} is ${r.gzipped} bytes gzipped, over its budget of ${budget}`);
  if (PRIMITIVES.includes(r.name)) {
    const codecs = r.libraries.filter((l) => CODECS.includes(l));
    if (codecs.length > 0) problems.push(`${r.name} bundles ${codecs.join(" and ")}, which only the codecs may pull in`);
  }
}
for (const name of Object.keys(BUDGETS)) {
  if (!rows.some((r) => r.name === name)) problems.push(`BUDGETS names ${name}, which is no longer an entry point`);
}
if (!rows.some((r) => r.name === "sluice/tee")) problems.push("sluice/tee is missing from the exports");

if (!check) {
  const readme = join(root, "README.md");
  const text = readFileSync(readme, "utf8");
  const start = "<!-- size:start -->";
  const end = "<!-- size:end -->";
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) problems.push(`README.md lacks the ${start} … ${end} markers`);
  else writeFileSync(readme, `${text.slice(0, i + start.length)}\n${table}\n${text.slice(j)}`);
}

if (problems.length > 0) {
  console.error(problems.map((p) => `✗ ${p}`).join("\n"));
  process.exit(1);
}
console.log(`${rows.length} bundles within budget; the primitives bundle neither ${CODECS.join(" nor ")}${check ? "" : "; README.md updated"}`);
