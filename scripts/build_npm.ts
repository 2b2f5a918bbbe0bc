/**
 * `npm run build:npm`: the Node build of the client. Bundles `mod.ts` and `client/mod.ts` for Node
 * into `dist/npm/*.js` (dependencies stay external, installed by npm), emits their declarations
 * (and the edge entry's) with `tsc -p tsconfig.build.json`, and points the declarations' relative
 * imports at `.js`. Then the edge entry's bundles: `dist/edge/edge.js` and
 * `dist/browser/rocketmq-ts.js` (`scripts/_edge_bundles.ts`).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildBrowserBundle, buildEdgeBundle } from "./_edge_bundles.ts";

const ROOT = join(import.meta.dir, "..");
const OUT = join(ROOT, "dist", "npm");

rmSync(OUT, { recursive: true, force: true });
const result = await Bun.build({
  entrypoints: [join(ROOT, "mod.ts"), join(ROOT, "client", "mod.ts")],
  root: ROOT,
  outdir: OUT,
  target: "node",
  format: "esm",
  packages: "external",
  splitting: true,
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const tsc = spawnSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

function rewrite(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) rewrite(path);
    else if (name.endsWith(".d.ts")) {
      const text = readFileSync(path, "utf8");
      writeFileSync(path, text.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2"));
    }
  }
}
rewrite(OUT);
rmSync(join(ROOT, "dist", "edge"), { recursive: true, force: true });
rmSync(join(ROOT, "dist", "browser"), { recursive: true, force: true });
const bundles = await Promise.all([buildEdgeBundle(), buildBrowserBundle()]);
const built = [...result.outputs.map((o) => o.path), ...bundles.map((b) => b.path)];
console.log(`Built ${built.map((path) => path.slice(ROOT.length + 1)).join(", ")} and declarations`);
