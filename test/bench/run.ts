// `npm run bench [filter]`: runs every test/bench/*.bench.ts in a process of
// its own, one after another, and prints their Markdown tables.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { machine } from "./_harness.ts";

const dir = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const fileFilter = args.find((a) => a.startsWith("--file="))?.slice(7);
console.log(`# sluice benchmarks\n\nMachine: ${machine()}\n`);
let failed = false;
for (const f of readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).sort()) {
  if (fileFilter && !f.includes(fileFilter)) continue;
  console.log(`\n## ${f}`);
  const r = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=16384", "--import", "tsx", join(dir, f), ...args.filter((a) => !a.startsWith("--file="))], { stdio: "inherit" });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
