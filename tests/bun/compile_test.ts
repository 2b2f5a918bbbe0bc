/**
 * `bun build --compile cli/bun.ts`: the single-file `rmq` binary runs a standalone server and, with
 * the same binary, the admin and client verbs against it.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rmq } from "../cli/_cli.ts";
import { BUN, childEnv, ROOT, startServer, stop } from "../_helpers/process.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-compile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `npm run build:bin`'s arguments (`build --compile --bytecode … cli/bun.ts`), with the output moved to `binary`. */
function buildArgs(binary: string): string[] {
  const script: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts["build:bin"];
  const args = script.split(/\s+/).slice(1);
  args[args.indexOf("--outfile") + 1] = binary;
  return args;
}

test("the compiled rmq binary (npm run build:bin) serves a standalone and runs topic list, send and consume", async () => {
  const binary = join(dir, "rmq");
  const build = spawnSync(BUN, buildArgs(binary), { cwd: ROOT, encoding: "utf8", env: childEnv() });
  expect(build.status).toBe(0);
  expect(statSync(binary).size).toBeGreaterThan(1024 * 1024);

  const help = await rmq(["--help"], {}, [binary]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage: rmq <command> [flags]");

  const server = await startServer(binary, ["standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--admin-port", "0", "--grpc-port", "0", "--data-dir", join(dir, "data")], {
    ready: /Dashboard and admin API on http:\/\/127\.0\.0\.1:(\d+)/,
  });
  const adminPort = server.port;
  try {
    const namesrv = /Standalone ready: NameServer (\S+),/.exec(server.output())![1]!;
    const sent = await rmq(["send", "-t", "compiled", "-b", "from the binary", "--json", "-n", namesrv], {}, [binary]);
    expect(sent.code).toBe(0);
    const list = await rmq(["topic", "list", "--json", "--server", `http://127.0.0.1:${adminPort}`], {}, [binary]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).topics).toContainEqual(expect.objectContaining({ topic: "compiled", messages: 1 }));
    const consumed = await rmq(["consume", "-t", "compiled", "--from", "earliest", "--count", "1", "--json", "-n", namesrv], {}, [binary]);
    expect(consumed.code).toBe(0);
    expect(JSON.parse(consumed.stdout)).toMatchObject({ msgId: JSON.parse(sent.stdout).msgId, body: "from the binary" });
  } finally {
    await stop(server);
  }
}, 60_000);
