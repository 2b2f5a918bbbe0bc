/**
 * The admin server on Deno (`server/deno/serve.ts`): the server's CPU per HTTP gateway produce.
 * Starts `rmq standalone` on Deno (free ports, a data dir in /tmp), sends 500 warm-up then
 * `messages` single JSON produces from this Bun process (`concurrency` in flight on keep-alive
 * connections, 200-byte bodies), and reads the Deno process's CPU time from /proc/<pid>/stat
 * (Linux), so the client's own work is not counted.
 *
 * Run: `bun bench/deno_admin_bench.ts [messages=4000] [concurrency=8]`
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DENO, freePort, startServer, stop } from "../tests/_helpers/process.ts";

const total = Number(process.argv[2] ?? 4000);
const concurrency = Number(process.argv[3] ?? 8);
const dir = mkdtempSync(join(tmpdir(), "rmq-deno-admin-bench-"));
const port = await freePort();
const server = await startServer(DENO, [
  "run", "-A", "cli/deno.ts", "standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--ha-port", "0", "--no-grpc",
  "--admin-port", String(port), "--data-dir", dir,
], { ready: /Dashboard and admin API on http:\/\/[^:]+:(\d+)\//, timeoutMs: 60_000 });
const base = `http://127.0.0.1:${server.port}`;
const json = { "content-type": "application/json" };
await fetch(`${base}/api/topics`, { method: "POST", headers: json, body: JSON.stringify({ topic: "bench", queueNums: 4 }) });

/** CPU time of the Deno process so far, ms (utime + stime at 100 ticks per second). */
function cpuMs(): number {
  const fields = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const body = JSON.stringify({ body: "x".repeat(200) });
const produce = async () => {
  const r = await fetch(`${base}/api/gateway/topics/bench/messages`, { method: "POST", headers: json, body });
  if (r.status !== 201) throw new Error(`Produce answered ${r.status}: ${await r.text()}`);
  await r.arrayBuffer();
};
try {
  for (let i = 0; i < 500; i++) await produce();
  const cpu0 = cpuMs();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < total) await produce();
  }));
  const cpu = cpuMs() - cpu0;
  const wall = performance.now() - t0;
  console.log(`${total} produces, ${concurrency} in flight: ${Math.round(total / (wall / 1000))} requests/s, server CPU ${Math.round(cpu * 1000 / total)} µs each`);
} finally {
  await stop(server);
  rmSync(dir, { recursive: true, force: true });
}
