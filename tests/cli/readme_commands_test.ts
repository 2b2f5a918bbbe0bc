/**
 * The commands README.md and docs/QUICKSTART.md give, run the way a new user runs them: on a PATH
 * with only Node.js and npm (no `bun`, no `deno`), from the repository root.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT, start } from "../_helpers/process.ts";

/** Node's directory and the system's: what "only Node.js and npm" means here. */
const NODE_ONLY_PATH = [dirname(spawnSync("sh", ["-c", "command -v node"], { encoding: "utf8" }).stdout.trim()), "/usr/bin", "/bin"].join(":");
const ENV = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("RMQ_") && !name.startsWith("npm_"))),
  PATH: NODE_ONLY_PATH,
  npm_config_update_notifier: "false",
  NO_COLOR: "1",
};

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function run(command: string, args: string[]) {
  return spawnSync(command, args, { cwd: ROOT, env: ENV, encoding: "utf8", timeout: 120_000 });
}

/** Whether a TCP port on 0.0.0.0 can be bound (nothing holds it any more). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
  });
}

test("the PATH of these tests holds neither bun nor deno", () => {
  expect(run("sh", ["-c", "command -v bun || command -v deno || echo none"]).stdout.trim()).toBe("none");
});

describe("deno tasks run with the Deno that npm installs", () => {
  for (const task of ["nameserver", "broker", "standalone"]) {
    test(`npx deno task ${task} --help`, () => {
      const result = run("npx", ["deno", "task", task, "--help"]);
      expect(result.stderr).not.toContain("SyntaxError");
      expect(result.status).toBe(0);
      expect(result.stdout).toContain("Usage:");
    });
  }

  test("npx deno task check", () => {
    const result = run("npx", ["deno", "task", "check"]);
    expect(result.stderr).not.toContain("SyntaxError");
    expect(result.status).toBe(0);
  }, 180_000);
});

test("npx rmq --help", () => {
  const result = run("npx", ["rmq", "--help"]);
  expect(result.status).toBe(0);
  expect(result.stdout).toContain("Usage: rmq <command>");
});

test("SIGTERM to `npm start` stops the server and frees its ports", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rmq-readme-"));
  dirs.push(dir);
  // Every port picked by the system and read back from the server's lines.
  const npm = start("npm", ["start", "--", "--port", "0", "--namesrv-port", "0", "--admin-port", "0", "--ha-port", "0", "--grpc-port", "0", "--data-dir", dir], ENV);
  let serverPid: number | undefined;
  try {
    await npm.waitFor("Dashboard and admin API on", 30_000);
    serverPid = Number(/Standalone ready: .*, pid (\d+)$/m.exec(npm.output())![1]);
    const ports = [...npm.output().matchAll(/(?:listening on |accepts slaves on |admin API on http:\/\/)[^\s,]*?:(\d+)/g)].map((m) => Number(m[1]));
    ports.push(Number(/served over gRPC on port (\d+)/.exec(npm.output())![1]));
    expect(ports).toHaveLength(5);
    npm.kill("SIGTERM");
    await npm.exited;
    // The server exits too: its process is gone and every port it held can be bound again.
    const deadline = Date.now() + 10_000;
    while (isAlive(serverPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(isAlive(serverPid)).toBe(false);
    for (const port of ports) expect({ port, free: await canBind(port) }).toEqual({ port, free: true });
  } finally {
    npm.kill("SIGKILL");
    if (serverPid !== undefined && isAlive(serverPid)) process.kill(serverPid, "SIGKILL");
  }
}, 60_000);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
