// `npm run docs`: the HTML API reference, made by `deno doc --html` from the
// JSDoc of every entry point in package.json's exports (so a new module shows
// up once it is exported), into docs/api/ (ignored by git). Offline: Deno
// comes from the deno npm package and reads the installed node_modules.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const output = join(root, "docs", "api");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, { deno?: string } | string> };
const entries = [...new Set(Object.values(pkg.exports).flatMap((t) => (typeof t === "object" && t.deno ? [t.deno] : [])))];
const deno = join(root, "node_modules", ".bin", "deno");
const env = { ...process.env, DENO_DIR: process.env.DENO_DIR ?? join(root, ".deno") };

rmSync(output, { recursive: true, force: true });
mkdirSync(output, { recursive: true });
const html = spawnSync(deno, ["doc", "--html", "--name=sluice", `--output=${output}`, ...entries], {
  cwd: root, env, encoding: "utf8", stdio: ["ignore", "inherit", "pipe"],
});
// @types/node's references to types Deno does not ship are noise here (sluice's own types resolve).
const noise = /Failed resolving types\. Could not find package|^\s*at .*@types\/node/;
const stderr = html.stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((line) => line.trim() && !noise.test(line));
if (stderr.length > 0) console.error(stderr.join("\n"));
if (html.status !== 0) process.exit(html.status ?? 1);
console.log(`API reference of ${entries.length} entry points: docs/api/index.html`);
