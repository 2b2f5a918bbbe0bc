/**
 * What `rmq` loads before anything runs: the modules `cli/bun.ts` imports statically (transitively),
 * read from `bun build --metafile`. Start-up time is module loading (BENCHMARKS.md, start-up), so
 * gRPC, the admin API, node:zlib and the client verbs load only when used, and the broker and
 * NameServer after their ports listen.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, childEnv, ROOT } from "../_helpers/process.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-imports-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Metafile {
  inputs: Record<string, { imports?: { path: string; kind: string; external?: boolean }[] }>;
}

/** Bundles `entry` and returns the inputs it reaches through static imports, and the external modules they import. */
function staticGraph(entry: string): { files: string[]; externals: string[] } {
  const name = entry.replaceAll("/", "_");
  const metafile = join(dir, `${name}.json`);
  const build = spawnSync(BUN, ["build", join(ROOT, entry), "--target", "bun", "--outdir", join(dir, name), `--metafile=${metafile}`], {
    cwd: ROOT,
    encoding: "utf8",
    env: childEnv(),
  });
  expect(build.status).toBe(0);
  const meta = JSON.parse(readFileSync(metafile, "utf8")) as Metafile;
  const start = Object.keys(meta.inputs).find((path) => path.endsWith(entry))!;
  const seen = new Set<string>();
  const externals = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const path = stack.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    for (const imported of meta.inputs[path]?.imports ?? []) {
      if (imported.kind === "dynamic-import") continue;
      if (meta.inputs[imported.path] !== undefined) stack.push(imported.path);
      else externals.add(imported.path.replace(/^node:/, ""));
    }
  }
  return { files: [...seen], externals: [...externals] };
}

test("rmq loads no gRPC, admin API, zlib or client verbs before its command runs", () => {
  const { files, externals } = staticGraph("cli/bun.ts");
  expect(files.length).toBeGreaterThan(3);
  const heavy = files.filter((path) =>
    /node_modules\/(@grpc|protobufjs|@bufbuild|hono|@valibot\/to-json-schema)\//.test(path) ||
    /(^|\/)server\/(grpc|admin\/(app|dashboard|gateway))/.test(path) ||
    /(^|\/)(client|cli\/commands)\//.test(path)
  );
  expect(heavy).toEqual([]);
  expect(externals).not.toContain("zlib");
});

test("rmq standalone loads neither the broker, the NameServer, yaml, gRPC, the admin API nor zlib before its ports listen", () => {
  // server/_entry.ts binds the NameServer's and broker's ports from the configuration, then loads
  // their modules (server/_prebound_ports.ts holds what arrives meanwhile).
  const { files, externals } = staticGraph("cli/commands/standalone.ts");
  expect(files.some((path) => path.endsWith("server/_entry.ts"))).toBe(true);
  expect(files.some((path) => path.endsWith("server/_prebound_ports.ts"))).toBe(true);
  const heavy = files.filter((path) =>
    /node_modules\/(@grpc|protobufjs|@bufbuild|hono|@valibot\/to-json-schema|yaml)\//.test(path) ||
    /(^|\/)server\/(broker|namesrv|store|ha|acl|grpc|admin\/(app|dashboard|gateway))\//.test(path) ||
    /(^|\/)client\//.test(path)
  );
  expect(heavy).toEqual([]);
  expect(externals).not.toContain("zlib");
});

test("the admin server loads its app (Hono's router, the dashboard, the gateway) on its first request, not at its start", () => {
  const { files } = staticGraph("server/admin/start_admin.ts");
  const app = files.filter((path) =>
    /(^|\/)server\/admin\/(app|dashboard|cluster|topics|metrics|gateway\/)/.test(path) || /node_modules\/hono\/dist\/(hono|router)/.test(path)
  );
  expect(app).toEqual([]);
});
