/**
 * Large topic tables and topic creation limits (docs/RELIABILITY.md, "Topic tables and
 * registration"): against real NameServer and broker processes, 30,000 topics register in chunks and
 * the broker stays in the routes; a refused or dropped registration is logged, never silent; the
 * topic cap and the auto-creation rate answer with clear errors; a burst of changes to the topic
 * table shares its writes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import { type TopicChange, TopicConfigManager, type TopicTable } from "../../../server/broker/topic_config_manager.ts";
import { JsonFile } from "../../../server/store/json_file.ts";
import { JsonJournal } from "../../../server/store/json_journal.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { testClusterSecretFile } from "../../_helpers/cluster_secret.ts";
import { bulkTopicName, writeTopicTable } from "../../_helpers/topic_table.ts";
import { BUN, type Child, type Server as ServerProcess, startServer, stop } from "../../_helpers/process.ts";
import { masterOf } from "../../_helpers/routes.ts";
import { until } from "../../_helpers/wait.ts";
import { startTestBroker, startTestNameServer } from "../../faults/_common.ts";

const TOPICS = 30_000;
let dir: string;
const children: Child[] = [];
const connections: Connection[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-topic-limits-"));
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function open(address: string): Promise<Connection> {
  const connection = await connect(dial, address);
  connections.push(connection);
  return connection;
}


describe("a broker with 30,000 topics", () => {
  let brokerAddress: string;
  let broker: ServerProcess;
  let ns: Connection;
  let capped: Child;
  let cappedAddress: string;
  let dropper: Server;
  let dropperAddress: string;

  beforeAll(async () => {
    const nameServer = await startTestNameServer();
    children.push(nameServer);
    const cappedServer = await startServer(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", "0", "--cluster-secret-file", testClusterSecretFile()], {
      env: { RMQ_NAMESERVER_MAX_TOPICS_PER_BROKER: "10000" },
    });
    capped = cappedServer;
    children.push(capped);
    cappedAddress = `127.0.0.1:${cappedServer.port}`;
    // A "NameServer" that drops every connection as soon as a frame arrives.
    dropper = createServer((socket) => socket.once("data", () => socket.destroy()));
    await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", resolve));
    dropperAddress = `127.0.0.1:${(dropper.address() as { port: number }).port}`;
    const dataDir = join(dir, "big");
    writeTopicTable(dataDir, TOPICS);
    const started = Date.now();
    broker = await startTestBroker({ dataDir, namesrv: [`127.0.0.1:${nameServer.port}`, cappedAddress, dropperAddress] });
    children.push(broker);
    brokerAddress = `127.0.0.1:${broker.port}`;
    ns = await open(`127.0.0.1:${nameServer.port}`);
    await until(async () => (await masterOf(ns, bulkTopicName(TOPICS - 1))) === brokerAddress, 20_000, "the last topic's route");
    console.log(`registration: ${TOPICS} topics of 122 characters routed ${Date.now() - started} ms after the broker process started`);
  }, 40_000);

  afterAll(() => new Promise<void>((resolve) => dropper.close(() => resolve())));

  test("registers in chunks: every topic is routed to it, and it stays in the routes after re-registering", async () => {
    const list = await ns.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, {});
    expect((list.header.topics as string[]).filter((t) => t.startsWith("bulk_")).length).toBe(TOPICS);
    expect(await masterOf(ns, bulkTopicName(0))).toBe(brokerAddress);
    // A new topic re-registers the whole table (in chunks again): the broker stays, the topic joins.
    const client = await open(brokerAddress);
    expect((await client.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "one_more", readQueueNums: 2, writeQueueNums: 2 })).code).toBe(ResponseCode.SUCCESS);
    await until(async () => (await masterOf(ns, "one_more")) === brokerAddress, 10_000, "the new topic's route");
    expect(await masterOf(ns, bulkTopicName(12_345))).toBe(brokerAddress);
    expect(broker.output()).not.toContain(`Cannot register with NameServer ${ns.remoteAddress}`);
    expect(broker.output()).not.toContain(`NameServer ${ns.remoteAddress} refused`);
  });

  test("a registration a NameServer refuses is logged on both sides with the reason", async () => {
    await broker.waitFor(new RegExp(`NameServer ${cappedAddress.replace(/\./g, "\\.")} refused registration \\(chunk 3 of 8, 3000[01] topics\\)`));
    expect(broker.output()).toContain(
      `Broker "broker-a" at ${brokerAddress} registers more than this NameServer's maximum of 10000 topics per broker (nameserver.maxTopicsPerBroker; 12000 so far): the registration is refused`,
    );
    await capped.waitFor("Registration refused: Broker \"broker-a\"");
  });

  test("a NameServer that drops the connection mid-registration is logged, not silently retried forever", async () => {
    await broker.waitFor(new RegExp(`Cannot register with NameServer ${dropperAddress.replace(/\./g, "\\.")} \\(at chunk 1 of 8, 3000[01] topics\\): `));
  });
});

describe("topic creation limits", () => {
  test("past --max-topic-count, creating a topic (by request, on first send, or a retry topic) is refused with a clear error", async () => {
    const capBroker = await startTestBroker({ dataDir: join(dir, "capped"), extraArgs: ["--max-topic-count", "3"] });
    children.push(capBroker);
    const client = await open(`127.0.0.1:${capBroker.port}`);
    for (const topic of ["a1", "a2", "a3"]) {
      expect((await client.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 1, writeQueueNums: 1 })).code).toBe(ResponseCode.SUCCESS);
    }
    const fourth = await client.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "a4", readQueueNums: 1, writeQueueNums: 1 });
    const refusal = 'broker "broker-a" already holds 3 topics, its maximum (broker.maxTopicCount); delete unused topics or raise the limit';
    expect(fourth).toMatchObject({ code: ResponseCode.SYSTEM_ERROR, remark: `Cannot create topic "a4": ${refusal}` });
    const autoCreated = await client.request(RequestCode.SEND_MESSAGE, { topic: "a5", queueId: 0, bornTimestamp: Date.now(), properties: "" }, new Uint8Array([1]));
    expect(autoCreated).toMatchObject({ code: ResponseCode.SYSTEM_ERROR, remark: `Cannot create topic "a5": ${refusal}` });
    // Changing a topic that exists is not creating one.
    expect((await client.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "a1", readQueueNums: 2, writeQueueNums: 2 })).code).toBe(ResponseCode.SUCCESS);
    const sent = await client.request(RequestCode.SEND_MESSAGE, { topic: "a1", queueId: 0, bornTimestamp: Date.now(), properties: "" }, new Uint8Array([1]));
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    // The broker's first message is at CommitLog offset 0; once delivered to g1, sending it back needs g1's retry topic.
    const pulled = await client.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: "g1", topic: "a1", queueId: 0, queueOffset: 0, maxMsgNums: 1, sysFlag: 0, commitOffset: 0, suspendTimeoutMillis: 0, subscription: "*",
    });
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    const sendBack = await client.request(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: 0, consumerGroup: "g1", delayLevel: 0 });
    expect(sendBack).toMatchObject({ code: ResponseCode.SYSTEM_ERROR, remark: `Cannot create topic "%RETRY%g1": ${refusal}` });
  }, 20_000);

  test("auto-creation past --auto-create-topic-rate answers SYSTEM_BUSY with a remark, and works again a second later", async () => {
    const rateBroker = await startTestBroker({ dataDir: join(dir, "rate"), extraArgs: ["--auto-create-topic-rate", "5"] });
    children.push(rateBroker);
    const client = await open(`127.0.0.1:${rateBroker.port}`);
    const sendTo = (topic: string) =>
      client.request(RequestCode.SEND_MESSAGE, { topic, queueId: 0, bornTimestamp: Date.now(), properties: "" }, new Uint8Array([1]));
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => sendTo(`burst_${i}`)));
    const created = answers.filter((a) => a.code === ResponseCode.SUCCESS).length;
    const busy = answers.filter((a) => a.code === ResponseCode.SYSTEM_BUSY);
    expect(created).toBeGreaterThanOrEqual(5);
    expect(created).toBeLessThanOrEqual(6); // 5 in the bucket, at most one refilled meanwhile
    expect(busy.length).toBe(40 - created);
    expect(busy[0]!.remark).toMatch(/^Not creating topic "burst_\d+" now: more than 5 topics were auto-created in the last second \(broker\.autoCreateTopicRate\)/);
    // Topics that exist are not limited; new ones are created again once the bucket refills.
    expect((await sendTo("burst_0")).code).toBe(answers[0]!.code === ResponseCode.SUCCESS ? ResponseCode.SUCCESS : ResponseCode.SYSTEM_BUSY);
    await until(async () => (await sendTo("after_the_burst")).code === ResponseCode.SUCCESS, 3000, "auto-creation to work again");
  }, 20_000);
});

describe("the topic table on disk", () => {
  test("topics auto-created one by one are appended to topics.journal (topics.json is not rewritten) and survive SIGKILL", async () => {
    const dataDir = join(dir, "journal");
    writeTopicTable(dataDir, TOPICS);
    const table = join(dataDir, "config", "topics.json");
    const before = readFileSync(table);
    const args = ["--auto-create-topic-rate", "1000"];
    const broker = await startTestBroker({ dataDir, extraArgs: args });
    const port = broker.port;
    const client = await open(`127.0.0.1:${port}`);
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      const answer = await client.request(RequestCode.SEND_MESSAGE, { topic: `one_by_one_${i}`, queueId: 0, bornTimestamp: Date.now(), properties: "" }, new Uint8Array([1]));
      expect(answer.code).toBe(ResponseCode.SUCCESS);
    }
    const ms = performance.now() - started;
    console.log(`topic table: 200 topics auto-created one after another on a ${TOPICS}-topic broker in ${ms.toFixed(0)} ms`);
    expect(Buffer.compare(readFileSync(table), before)).toBe(0);
    expect(readFileSync(join(dataDir, "config", "topics.journal"), "utf8").split("\n").filter(Boolean).length).toBe(200);
    broker.kill("SIGKILL");
    await broker.exited;
    const restarted = await startTestBroker({ dataDir, port, extraArgs: args });
    children.push(restarted);
    const again = await open(`127.0.0.1:${port}`);
    const big = await connect(dial, `127.0.0.1:${port}`, { maxFrameSize: 64 * 1024 * 1024 });
    connections.push(big);
    const all = await big.request(RequestCode.GET_ALL_TOPIC_CONFIG, {});
    const names = Object.keys(all.header.topicConfigs as object);
    expect(names.filter((n) => n.startsWith("one_by_one_")).length).toBe(200);
    expect(names.filter((n) => n.startsWith("bulk_")).length).toBe(TOPICS);
    expect((await again.request(RequestCode.GET_MAX_OFFSET, { topic: "one_by_one_199", queueId: 0 })).header.offset).toBe(1);
  }, 60_000);
});

describe("the topic table's writes", () => {
  test("200 topics created at once share the table's writes (at most two), and every one is saved", async () => {
    const storage = new MemorySegmentStorage();
    let writes = 0;
    const open = storage.open.bind(storage);
    storage.open = (path, options) => {
      if (path.endsWith("topics.json.tmp") && options?.create === true) writes++;
      return open(path, options);
    };
    const file = new JsonFile<TopicTable>("/config/topics.json", { storage });
    const topics = new TopicConfigManager(file, { autoCreateTopicEnable: true, autoCreateTopicRate: 1000 });
    topics.load();
    let changes = 0;
    topics.onChange = () => changes++;
    await Promise.all(Array.from({ length: 200 }, (_, i) => topics.autoCreate(`t${i}`, 4)));
    expect(writes).toBeLessThanOrEqual(2);
    expect(changes).toBe(writes);
    const saved = new JsonFile<TopicTable>("/config/topics.json", { storage }).load()!.value;
    expect(Object.keys(saved.topics).length).toBe(200);
    // Changes made while a write runs go in the next one, which the callers wait for.
    await Promise.all([topics.put({ topicName: "late1", readQueueNums: 1, writeQueueNums: 1, perm: 6, order: false }), topics.delete("t0")]);
    const after = new JsonFile<TopicTable>("/config/topics.json", { storage }).load()!.value;
    expect("late1" in after.topics && !("t0" in after.topics)).toBe(true);
  });

  test("the journal is folded into topics.json once it holds 1,024 changes, and a reload sees every change either way", async () => {
    const storage = new MemorySegmentStorage();
    const make = () =>
      new TopicConfigManager(new JsonFile<TopicTable>("/config/topics.json", { storage }), {
        journal: new JsonJournal("/config/topics.journal", { storage, validate: (value) => value as TopicChange }),
      });
    const topics = make();
    topics.load();
    for (let i = 0; i < 1100; i++) await topics.put({ topicName: `t${i}`, readQueueNums: 1, writeQueueNums: 1, perm: 6, order: false });
    await topics.delete("t5");
    const snapshot = new JsonFile<TopicTable>("/config/topics.json", { storage }).load()!.value;
    expect(Object.keys(snapshot.topics).length).toBe(1024); // written when the journal reached 1,024 changes
    const reloaded = make();
    reloaded.load();
    expect(reloaded.size).toBe(1099);
    expect(reloaded.get("t5")).toBeUndefined();
    expect(reloaded.get("t1099")).toMatchObject({ topicName: "t1099" });
    expect(reloaded.version).toBe(topics.version);
  });
});
