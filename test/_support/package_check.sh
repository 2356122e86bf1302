#!/usr/bin/env bash
# Checks the package as it would be published: builds dist/, packs the tarball
# once, and then lints that tarball (publint, arethetypeswrong), dry-runs the
# publish, checks which files it holds, and imports every entry point from it
# in a fresh project, as a user's Node would. sluice is ESM only, so
# arethetypeswrong runs with its esm-only profile (CommonJS `require` is not
# supported; `import()` from CommonJS works).
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

npm run --silent build
npm pack --ignore-scripts --silent --pack-destination "$tmp" >/dev/null
tarball=$(ls "$tmp"/*.tgz)

echo "== files in $(basename "$tarball")"
mkdir "$tmp/unpacked"
tar -xzf "$tarball" -C "$tmp/unpacked"
node --input-type=module - "$tmp/unpacked/package" <<'JS'
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
const root = process.argv[2];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else files.push(relative(root, path));
  }
};
walk(root);
const problems = [];
for (const needed of ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "dist/index.js", "dist/index.d.ts", "lib/index.ts"]) {
  if (!files.includes(needed)) problems.push(`missing ${needed}`);
}
for (const file of files) {
  if (!/^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/[\w.]+\.(js|d\.ts)|lib\/[\w.]+\.ts)$/.test(file)) problems.push(`unexpected file ${file}`);
  if (file.endsWith(".d.ts") && readFileSync(join(root, file), "utf8").includes("@internal")) {
    problems.push(`${file} still declares an @internal symbol (the build must strip them)`);
  }
}
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
if (pkg.private) problems.push("package.json is private");
for (const field of ["description", "license", "repository", "keywords", "sideEffects", "files", "exports"]) {
  if (pkg[field] === undefined) problems.push(`package.json lacks ${field}`);
}
for (const [subpath, target] of Object.entries(pkg.exports)) {
  for (const file of typeof target === "string" ? [target] : Object.values(target)) {
    if (!existsSync(join(root, file))) problems.push(`exports["${subpath}"] points at ${file}, which is not in the tarball`);
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`${files.length} files, every export target present, no @internal declarations`);
JS

echo "== publint"
npx publint run "$tarball" --strict
echo "== arethetypeswrong"
if npx attw "$tarball" --profile esm-only --quiet; then
  echo "no problems for ESM consumers (node16 from ESM, bundler); CommonJS resolutions are out of scope"
else
  npx attw "$tarball" --profile esm-only --format table-flipped || true
  exit 1
fi
echo "== npm publish --dry-run"
npm publish --dry-run --ignore-scripts "$tarball" 2>&1 | grep -E "^npm (notice|error) (name|version|total files|Publishing)|^\+ |npm error" || true
npm publish --dry-run --ignore-scripts "$tarball" >/dev/null 2>&1

echo "== deno.json (JSR)"
node --import tsx test/_support/deno_json.ts
# Type-checks every export and looks for slow types, as publishing to JSR would.
DENO_DIR="${DENO_DIR:-.deno}" npx deno publish --dry-run --allow-dirty 2>&1 | grep -E "Success|error|warning" || true
DENO_DIR="${DENO_DIR:-.deno}" npx deno publish --dry-run --allow-dirty >/dev/null 2>&1

echo "== every entry point imported from the tarball by Node"
app="$tmp/app"
mkdir -p "$app/node_modules/@msgpack"
mv "$tmp/unpacked/package" "$app/node_modules/sluice"
# The dependencies as npm would install them, from this checkout.
for dep in fflate aws4fetch @msgpack/msgpack; do ln -s "$PWD/node_modules/$dep" "$app/node_modules/$dep"; done
echo '{ "type": "module" }' > "$app/package.json"
cat > "$app/check.js" <<'JS'
import { readFileSync } from "node:fs";
const { exports } = JSON.parse(readFileSync("node_modules/sluice/package.json", "utf8"));
for (const subpath of Object.keys(exports)) {
  if (subpath === "./package.json") continue;
  const specifier = subpath === "." ? "sluice" : `sluice/${subpath.slice(2)}`;
  const names = Object.keys(await import(specifier));
  if (names.length === 0) throw new Error(`${specifier} exports nothing`);
}
const { ChunkStream, GunzipStream, GzipStream } = await import("sluice");
const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
const round = new Blob([bytes]).stream().pipeThrough(new GzipStream()).pipeThrough(new GunzipStream()).pipeThrough(new ChunkStream(4096));
const back = new Uint8Array(await new Response(round).arrayBuffer());
if (back.length !== bytes.length || back.some((b, i) => b !== bytes[i])) throw new Error("a gzip round trip through the packed build lost bytes");
console.log(`${Object.keys(exports).length - 1} entry points imported; a gzip round trip through the build is exact`);
JS
(cd "$app" && node check.js)
