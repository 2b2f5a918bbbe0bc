/**
 * HTTP gateway throughput: produce over keep-alive HTTP (single messages and batches) and delivery
 * through the Server-Sent Events stream, against an in-process standalone (file store, async
 * flush) served by Bun. Reports messages per second and the process CPU per message.
 *
 * Run: `bun bench/http_gateway_bench.ts [messages=20000] [batch=32] [concurrency=8]`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAdminServer } from "../server/admin/start_admin.ts";
import { dial } from "../server/bun/connect.ts";
import { listen } from "../server/bun/listen.ts";
import { serve } from "../server/bun/serve.ts";
import { startStandalone } from "../server/standalone.ts";

const total = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 32);
const concurrency = Number(process.argv[4] ?? 8);
const body = "x".repeat(256);

const dir = mkdtempSync(join(tmpdir(), "rmq-http-bench-"));
const system = await startStandalone({ listen, dial, dataDir: dir, port: 0, nameServerPort: 0, log: () => {} });
const http = await startAdminServer({ serve, port: 0, broker: system.broker, nameServer: system.nameServer });
const base = `http://127.0.0.1:${http.port}/api/gateway`;
const json = { "content-type": "application/json" };
await fetch(`http://127.0.0.1:${http.port}/api/topics`, { method: "POST", headers: json, body: JSON.stringify({ topic: "bench", queueNums: 4 }) });

async function measure(what: string, run: () => Promise<number>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / n;
  console.log(`${what}: ${n} messages in ${ms.toFixed(0)} ms = ${Math.round(n / ms * 1000)} msgs/s, ${cpuUs.toFixed(1)} µs CPU per message (client and server in one process)`);
}

/** Sends `count` requests, `concurrency` at a time (fetch keeps connections alive). */
async function workers(count: number, send: () => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < count) await send();
  }));
}

await measure(`produce single (raw body, ${concurrency} in flight)`, async () => {
  const n = Math.floor(total / 4);
  await workers(n, async () => {
    const r = await fetch(`${base}/topics/bench/messages?tags=a`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body });
    if (r.status !== 201) throw new Error(`Produce answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  });
  return n;
});

const payload = JSON.stringify({ messages: Array.from({ length: batch }, () => ({ body, tags: "a" })) });
await measure(`produce batch of ${batch} (JSON, ${concurrency} in flight)`, async () => {
  const n = Math.ceil(total / batch);
  await workers(n, async () => {
    const r = await fetch(`${base}/topics/bench/messages/batch`, { method: "POST", headers: json, body: payload });
    if (r.status !== 201) throw new Error(`Batch produce answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  });
  return n * batch;
});

const backlog = Math.floor(total / 4) + Math.ceil(total / batch) * batch;
await measure("SSE delivery (one stream, acked in batches of 256)", async () => {
  const response = await fetch(`${base}/groups/bench-readers/topics/bench/stream?maxMessages=32`);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let seen = 0;
  let handles: string[] = [];
  const acks: Promise<unknown>[] = [];
  const flush = () => {
    const list = handles;
    handles = [];
    acks.push(fetch(`${base}/groups/bench-readers/topics/bench/ack`, { method: "POST", headers: json, body: JSON.stringify({ receiptHandles: list }) }).then((r) => r.arrayBuffer()));
  };
  while (seen < backlog) {
    const { done, value } = await reader.read();
    if (done) throw new Error("Stream ended early");
    text += value;
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const data = block.indexOf("\ndata: ");
      if (data < 0) continue;
      handles.push((JSON.parse(block.slice(data + 7)) as { receiptHandle: string }).receiptHandle);
      seen++;
      if (handles.length >= 256) flush();
    }
  }
  if (handles.length > 0) flush();
  await Promise.all(acks);
  await reader.cancel();
  return seen;
});

await http.close();
await system.close();
rmSync(dir, { recursive: true, force: true });
