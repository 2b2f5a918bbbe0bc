/**
 * The bundles of the edge entry (`client/edge.ts`), built by `npm run build:npm` and by the tests
 * that run them in workerd and Chromium: one definition, so what is tested is what ships.
 *
 * - `dist/edge/edge.js`: ES module for bundlers of Workers and pages (`rocketmq-ts/edge` on npm);
 *   dependencies stay imports, `cloudflare:sockets` is never imported.
 * - `dist/browser/rocketmq-ts.js`: one minified ES module with everything in it, for a page's
 *   `<script type="module">` without a bundler (`rocketmq-ts/browser`).
 */
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const ENTRY = join(ROOT, "client", "edge.ts");

/** One bundle's file and bytes. */
export interface Bundle {
  path: string;
  bytes: Uint8Array<ArrayBuffer>;
}

async function build(config: Parameters<typeof Bun.build>[0]): Promise<Bundle> {
  const result = await Bun.build(config);
  if (!result.success) throw new AggregateError(result.logs, `Cannot bundle ${ENTRY}`);
  const output = result.outputs.find((o) => o.kind === "entry-point")!;
  return { path: output.path, bytes: new Uint8Array(await output.arrayBuffer()) };
}

/**
 * Bundles the edge entry as an ES module that imports its dependencies.
 *
 * @param outdir Where `edge.js` goes. @default dist/edge
 * @returns The bundle.
 */
export function buildEdgeBundle(outdir: string = join(ROOT, "dist", "edge")): Promise<Bundle> {
  return build({ entrypoints: [ENTRY], outdir, target: "browser", format: "esm", packages: "external", naming: "edge.js" });
}

/**
 * Bundles the edge entry with its dependencies, minified, for pages.
 *
 * @param outdir Where `rocketmq-ts.js` goes. @default dist/browser
 * @returns The bundle.
 */
export function buildBrowserBundle(outdir: string = join(ROOT, "dist", "browser")): Promise<Bundle> {
  return build({ entrypoints: [ENTRY], outdir, target: "browser", format: "esm", minify: true, naming: "rocketmq-ts.js" });
}

/**
 * Bundles a Worker script that imports the edge entry, as `wrangler` would: one minified module,
 * `cloudflare:sockets` left to workerd.
 *
 * @param script The Worker's source file.
 * @param outdir Where it goes.
 * @returns The bundle.
 */
export function buildWorkerBundle(script: string, outdir: string): Promise<Bundle> {
  return build({ entrypoints: [script], outdir, target: "browser", format: "esm", minify: true, external: ["cloudflare:sockets"], naming: "worker.js" });
}
