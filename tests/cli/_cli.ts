/**
 * Runs the real `rmq` command line (`bun run cli/bun.ts …`) as a child process against a real
 * standalone system started in this process on free 127.0.0.1 ports.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { serve } from "../../server/bun/serve.ts";
import type { HttpServer } from "../../server/admin/serve_types.ts";
import { startAdminServer } from "../../server/admin/start_admin.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { BUN, childEnv, ROOT } from "../_helpers/process.ts";

/** The outcome of one `rmq` run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `rmq` with arguments and waits for it to exit.
 *
 * @param args The arguments after `rmq`.
 * @param env Extra environment; RMQ_* variables of the test process are removed first.
 * @param command The executable and its leading arguments. @default bun run cli/bun.ts
 */
export function rmq(args: string[], env: Record<string, string> = {}, command: string[] = [BUN, "run", join(ROOT, "cli/bun.ts")]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A standalone system with its admin API, for CLI tests. */
export interface CliServer {
  system: Standalone;
  admin: HttpServer;
  /** `--server` value. */
  adminUrl: string;
  /** `--namesrv` value. */
  namesrv: string;
  dir: string;
  close(): Promise<void>;
}

/**
 * Starts a standalone system and its admin API on free loopback ports.
 *
 * @param token Bearer token the admin API requires for changes.
 */
export async function startCliServer(token?: string): Promise<CliServer> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-cli-"));
  const system = await startStandalone({
    listen,
    dial,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    dataDir: dir,
    commitLogSegmentSize: 1024 * 1024,
    log: () => {},
  });
  const admin = await startAdminServer({ serve, hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dataDir: dir, token });
  return {
    system,
    admin,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    namesrv: system.nameServerAddress,
    dir,
    async close() {
      await admin.close();
      await system.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
