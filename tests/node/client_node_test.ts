import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { childEnv } from "../_helpers/process.ts";

/** Runs under Node against the bundled `mod.ts`: sends, then pulls the message back. */
const SCRIPT = `
import { Producer, PullConsumer, SimpleConsumer, BrokerError } from "./mod.js";

const nameServer = process.argv[2];
const fail = (why) => { console.error(why); process.exit(1); };
if ("Bun" in globalThis || "Deno" in globalThis) fail("not running under Node");

const producer = new Producer({ nameServer });
await producer.start();
const sent = await producer.send({ topic: "NodeTopic", body: "from node", tags: "N", keys: ["nk"] });
if (sent.status !== "SEND_OK") fail("send status " + sent.status);
const batch = await producer.sendBatch([{ topic: "NodeTopic", body: "b1" }, { topic: "NodeTopic", body: "b2" }], { queue: sent.messageQueue });

const consumer = new PullConsumer({ nameServer, group: "node_group" });
await consumer.start();
// The broker registers a topic it auto-created a moment after the first send.
for (let i = 0; ; i++) {
  try {
    await consumer.fetchMessageQueues("NodeTopic");
    break;
  } catch (error) {
    if (!(error instanceof BrokerError) || i > 200) throw error;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
const result = await consumer.pull(sent.messageQueue, sent.queueOffset, { expression: "*" });
const bodies = result.messages.map((m) => new TextDecoder().decode(m.body));
if (result.status !== "FOUND") fail("pull status " + result.status);
if (JSON.stringify(bodies) !== JSON.stringify(["from node", "b1", "b2"])) fail("bodies " + JSON.stringify(bodies));
if (result.messages[0].keys[0] !== "nk" || result.messages[0].uniqueKey !== sent.uniqueKey) fail("properties lost");
if (batch.queueOffset !== sent.queueOffset + 1) fail("batch offset " + batch.queueOffset);
await consumer.updateConsumeOffset(sent.messageQueue, result.nextBeginOffset);
if (await consumer.fetchConsumeOffset(sent.messageQueue) !== result.nextBeginOffset) fail("offset not committed");
const viewed = await consumer.viewMessage(sent.msgId);
if (new TextDecoder().decode(viewed.body) !== "from node") fail("viewMessage");
await consumer.shutdown();
// Over POP: the three messages once each, acked.
const simple = new SimpleConsumer({ nameServer, group: "node_pop", consumeFromWhere: "FIRST_OFFSET", awaitDurationMs: 500, log: () => {} });
simple.subscribe("NodeTopic");
await simple.start();
const popped = [];
for (let i = 0; popped.length < 3 && i < 40; i++) {
  for (const m of await simple.receive(8, 30000)) {
    popped.push(new TextDecoder().decode(m.body));
    await simple.ack(m.receiptHandle);
  }
}
if (JSON.stringify(popped.sort()) !== JSON.stringify(["b1", "b2", "from node"])) fail("popped " + JSON.stringify(popped));
await simple.shutdown();
await producer.shutdown();
console.log("ok " + process.versions.node);
`;

let dir: string;
let standalone: Standalone;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rmq-node-"));
  standalone = await startStandalone({
    listen,
    dial,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    dataDir: join(dir, "data"),
    log: () => {},
  });
});

afterAll(async () => {
  await standalone?.close();
  await rm(dir, { recursive: true, force: true });
});

test("the bundled client sends and pulls under Node over real sockets", async () => {
  const build = await Bun.build({
    entrypoints: [join(import.meta.dir, "../../mod.ts")],
    target: "node",
    outdir: join(dir, "out"),
    naming: "mod.js",
  });
  expect(build.logs.filter((l) => l.level === "error")).toEqual([]);
  expect(build.success).toBe(true);
  await writeFile(join(dir, "out", "run.mjs"), SCRIPT);
  const child = Bun.spawn(["node", join(dir, "out", "run.mjs"), standalone.nameServerAddress], {
    env: childEnv(),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(stdout).toStartWith("ok ");
});
