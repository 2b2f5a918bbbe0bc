/**
 * Topics auto-created on a broker that already holds 30,000 topics (names of 122 characters): 1,000
 * sends to new topics at once, then 100 one after another, over one connection to a broker process,
 * reporting wall time and the broker's CPU time (`/proc/<pid>/stat`, Linux).
 * Run: `bun bench/topic_table_bench.ts`.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../client/bun/connect.ts";
import { RequestCode } from "../core/protocol/request_code.ts";
import { connect } from "../core/remoting/connection.ts";
import { freePort, ROOT } from "../tests/_helpers/process.ts";
import { writeTopicTable } from "../tests/_helpers/topic_table.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-topic-bench-"));
writeTopicTable(dir, 30_000);
const port = await freePort();
const broker = spawn(process.execPath, [
  "run", "server/broker.ts", "--host", "127.0.0.1", "--port", String(port), "--ha-port", String(await freePort()), "--data-dir", dir,
  "--auto-create-topic", "--auto-create-topic-rate", "100000",
], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
await new Promise<void>((resolve) => broker.stdout!.on("data", (chunk) => String(chunk).includes("listening on") && resolve()));
const cpuMs = () => {
  const fields = readFileSync(`/proc/${broker.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const connection = await connect(dial, `127.0.0.1:${port}`);
const send = (topic: string) =>
  connection.request(RequestCode.SEND_MESSAGE, { topic, queueId: 0, bornTimestamp: Date.now(), properties: "" }, new Uint8Array([1]), 120_000);
try {
  for (const [mode, n] of [["at once", 1000], ["one after another", 100]] as const) {
    const cpu = cpuMs();
    const started = performance.now();
    let ok = 0;
    if (mode === "at once") ok = (await Promise.all(Array.from({ length: n }, (_, i) => send(`burst_${i}`)))).filter((a) => a.code === 0).length;
    else for (let i = 0; i < n; i++) if ((await send(`serial_${i}`)).code === 0) ok++;
    console.log(`${n} auto-creates ${mode}: ${ok} ok, ${(performance.now() - started).toFixed(0)} ms, broker CPU ${cpuMs() - cpu} ms`);
  }
} finally {
  connection.close();
  broker.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
