/**
 * The edge entry (`client/edge.ts`) is runtime-neutral: its import graph holds no `node:`, `bun:`
 * or Deno import and none of the Bun, Deno or server adapters, and its bundles stay small.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { buildBrowserBundle, buildEdgeBundle } from "../../scripts/_edge_bundles.ts";
import { ROOT } from "../_helpers/process.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-edge-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Metafile {
  inputs: Record<string, { imports: Array<{ path: string; kind: string; external?: boolean }> }>;
}

describe("the edge entry", () => {
  test("imports nothing from node:*, Bun or Deno, and no runtime or server adapter", async () => {
    const result = await Bun.build({
      entrypoints: [join(ROOT, "client/edge.ts")],
      target: "browser",
      packages: "external",
      metafile: true,
    });
    expect(result.success).toBe(true);
    const meta = (typeof result.metafile === "string" ? JSON.parse(result.metafile) : result.metafile) as Metafile;
    const files = Object.keys(meta.inputs).map((path) => relative(ROOT, join(ROOT, path)));
    expect(files).toContain("client/edge.ts");
    expect(files.filter((file) => /(^|\/)(bun|deno)\/|^server\/|^cli\//.test(file))).toEqual([]);
    const external = new Set(Object.values(meta.inputs).flatMap((input) => input.imports.filter((i) => i.external).map((i) => i.path)));
    expect([...external].sort()).toEqual(["valibot"]);
  });

  test("its bundles are small: the page's under 50 KB minified and gzipped", async () => {
    const browser = await buildBrowserBundle(join(dir, "browser"));
    const edge = await buildEdgeBundle(join(dir, "edge"));
    const gzipped = gzipSync(browser.bytes, { level: 9 }).length;
    console.log(`browser bundle: ${browser.bytes.length} bytes minified, ${gzipped} gzipped; edge module: ${edge.bytes.length} bytes`);
    expect(gzipped).toBeLessThan(50 * 1024);
    // The module for bundlers imports its dependency, and only that.
    const imports = [...new TextDecoder().decode(edge.bytes).matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(new Set(imports)).toEqual(new Set(["valibot"]));
  });
});
