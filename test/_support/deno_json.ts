// deno.json must name the same exports (the lib/*.ts files of package.json's
// "deno" conditions, in the same order) and version as package.json. Checks
// that; with --write, rewrites deno.json's exports and version to match.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; exports: Record<string, unknown> };
const path = join(root, "deno.json");
const deno = JSON.parse(readFileSync(path, "utf8")) as { version?: string; exports?: Record<string, string> };
const wanted = Object.fromEntries(
  Object.entries(pkg.exports).flatMap(([k, v]) => (typeof v === "object" && v && "deno" in v ? [[k, (v as { deno: string }).deno]] : [])),
);
if (JSON.stringify(deno.exports) === JSON.stringify(wanted) && deno.version === pkg.version) {
  console.log(`deno.json: the same ${Object.keys(wanted).length} exports and version as package.json`);
} else if (process.argv.includes("--write")) {
  writeFileSync(path, `${JSON.stringify({ ...deno, version: pkg.version, exports: wanted }, null, 2)}\n`);
  console.log(`deno.json rewritten: ${Object.keys(wanted).length} exports, version ${pkg.version}`);
} else {
  console.error("deno.json differs from package.json's exports or version: run `node --import tsx test/_support/deno_json.ts --write`");
  process.exit(1);
}
