/**
 * The gRPC port under both runtimes, plaintext and TLS: `rmq standalone --grpc-port 0` as a Bun and
 * as a Deno process, and Apache's RocketMQ 5 Node.js client (unchanged, under Node) against it —
 * unary calls, the Telemetry stream and a check-back pushed over it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, childEnv, DENO, ROOT, type Server, startServer, stop } from "../../_helpers/process.ts";
import { makeTestCert, type TestCert } from "../../security/_certs.ts";

const SCRIPT = join(import.meta.dir, "_node", "producer.cjs");
const READY = /Standalone ready: .*gRPC 127\.0\.0\.1:(\d+),/;

let dir: string;
let cert: TestCert;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-grpc-rt-"));
  cert = makeTestCert();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  cert?.remove();
});

async function standalone(runtime: "bun" | "deno", tls: boolean): Promise<Server> {
  const entry = runtime === "bun" ? [BUN, "run", join(ROOT, "cli/bun.ts")] : [DENO, "run", "-A", join(ROOT, "cli/deno.ts")];
  return await startServer(entry[0]!, [
    ...entry.slice(1), "standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--no-admin", "--grpc-port", "0",
    "--data-dir", join(dir, `${runtime}-${tls ? "tls" : "plain"}`),
    ...(tls ? ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile] : []),
  ], { ready: READY, env: { RMQ_BROKER_TRANSACTION_TIMEOUT_MS: "1000", RMQ_BROKER_TRANSACTION_CHECK_INTERVAL_MS: "1000" }, timeoutMs: 30_000 });
}

async function node(port: number, scenario: string, tls: boolean): Promise<Record<string, unknown>[]> {
  const env = childEnv(tls ? { RMQ5_SSL: "1", GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: cert.certFile, NODE_NO_WARNINGS: "1" } : {});
  const child = Bun.spawn(["node", SCRIPT, `127.0.0.1:${port}`, `rt-${scenario}`, scenario], { env, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const lines = stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
  if (code !== 0 || lines.at(-1)?.done !== true) throw new Error(`node ${scenario} exited ${code}:\n${stdout}\n${stderr}`);
  return lines;
}

for (const runtime of ["bun", "deno"] as const) {
  describe(`rmq standalone under ${runtime} serves gRPC`, () => {
    test("in plaintext: sends, Telemetry settings, and a check-back over the Telemetry stream", async () => {
      const server = await standalone(runtime, false);
      try {
        const lines = await node(server.port, "orphan", false);
        const sent = lines.find((l) => l.sent === true);
        expect(lines.find((l) => l.checked !== undefined)?.checked).toBe(sent!.messageId);
      } finally {
        await stop(server);
      }
    });

    test("over TLS with the broker's certificate", async () => {
      const server = await standalone(runtime, true);
      try {
        expect(server.output()).toContain("served over gRPC (TLS)");
        const [sent] = await node(server.port, "normal", true);
        expect(typeof sent!.messageId).toBe("string");
      } finally {
        await stop(server);
      }
    });
  });
}
