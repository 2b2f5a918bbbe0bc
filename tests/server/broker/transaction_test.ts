/**
 * Transactional messages on one broker, in process: half messages stay invisible until committed,
 * END_TRANSACTION resolves each once, unresolved ones are checked back and resolved by the policy,
 * and the state comes back from the log after a restart (a commit whose op record was cut off
 * included).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Producer } from "../../../client/producer.ts";
import type { LocalTransactionState } from "../../../client/_transaction.ts";
import { MessageConst, type MessageExt, SysFlag } from "../../../core/model/message.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { decodeRecords } from "../../../core/model/record.ts";
import { TRANSACTION_HALF_TOPIC, TRANSACTION_OP_TOPIC } from "../../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import type { BrokerOptions } from "../../../server/broker/broker.ts";
import { type Standalone, startStandalone } from "../../../server/standalone.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";
import { drainQueue } from "../../_helpers/raw_client.ts";
import { until } from "../../_helpers/wait.ts";

const decoder = new TextDecoder();
const text = (m: MessageExt) => decoder.decode(m.body);

/** A standalone broker in memory that can be restarted on the same storage. */
class Fixture {
  readonly network = new MemoryNetwork();
  readonly storage = new MemorySegmentStorage();
  readonly logs: string[] = [];
  system!: Standalone;
  #producers: Producer[] = [];
  #connections: Connection[] = [];
  #options: Partial<BrokerOptions> = {};

  async start(options: Partial<BrokerOptions> = {}): Promise<Standalone> {
    this.#options = options;
    this.system = await startStandalone({
      listen: this.network.listen,
      dial: this.network.dial,
      dataDir: "/data",
      storage: this.storage,
      port: 0,
      nameServerPort: 0,
      log: (line) => this.logs.push(line),
      transactionTimeoutMs: 200,
      transactionCheckIntervalMs: 200,
      ...options,
    });
    return this.system;
  }

  async restart(): Promise<Standalone> {
    await this.system.close();
    return this.start(this.#options);
  }

  /** A transactional producer whose local transactions end as `decide` says, and whose checks answer `check`. */
  async producer(
    decide: (body: string) => LocalTransactionState | Promise<LocalTransactionState>,
    check: (message: MessageExt) => LocalTransactionState = () => "UNKNOWN",
    group = "orders_producer",
  ): Promise<Producer & { checks: MessageExt[] }> {
    const checks: MessageExt[] = [];
    const producer = Object.assign(
      new Producer({
        nameServer: this.system.nameServerAddress,
        dial: this.network.dial,
        group,
        heartbeatIntervalMs: 200,
        log: (line) => this.logs.push(line),
        transactionListener: {
          executeLocalTransaction: (message) => decide(typeof message.body === "string" ? message.body : decoder.decode(message.body)),
          checkLocalTransaction: (message) => {
            checks.push(message);
            return check(message);
          },
        },
      }),
      { checks },
    );
    await producer.start();
    this.#producers.push(producer);
    return producer;
  }

  async raw(): Promise<Connection> {
    const connection = await connect(this.network.dial, this.system.brokerAddress);
    this.#connections.push(connection);
    return connection;
  }

  /** Every message of a topic's queues, from offset 0. */
  async drain(topic: string): Promise<MessageExt[]> {
    const connection = await this.raw();
    const all: MessageExt[] = [];
    const queues = this.system.broker.context.topics.get(topic)?.readQueueNums ?? 0;
    for (let queueId = 0; queueId < queues; queueId++) all.push(...await drainQueue(connection, topic, queueId));
    return all;
  }

  get transactions() {
    return this.system.broker.context.transactions;
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.close();
    for (const producer of this.#producers) await producer.shutdown();
    await this.system?.close();
  }
}

let fixture: Fixture;
afterEach(async () => {
  await fixture?.close();
});

describe("transactional messages", () => {
  test("a committed transaction is delivered once with its topic, tags, keys and properties; a rolled-back one never", async () => {
    fixture = new Fixture();
    await fixture.start();
    const producer = await fixture.producer((body) => (body.startsWith("commit") ? "COMMIT" : "ROLLBACK"));
    const results = [];
    for (let i = 0; i < 10; i++) {
      results.push(await producer.sendMessageInTransaction({
        topic: "orders",
        body: `${i % 2 === 0 ? "commit" : "rollback"}-${i}`,
        tags: "created",
        keys: [`order-${i}`],
        properties: { region: "eu" },
      }));
    }
    expect(results.map((r) => [r.localState, r.endError])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i % 2 === 0 ? "COMMIT" : "ROLLBACK", undefined]),
    );
    const delivered = await fixture.drain("orders");
    expect(delivered.map(text).sort()).toEqual(["commit-0", "commit-2", "commit-4", "commit-6", "commit-8"]);
    for (const message of delivered) {
      const i = Number(text(message).split("-")[1]);
      expect(message.topic).toBe("orders");
      expect(message.tags).toBe("created");
      expect(message.keys).toEqual([`order-${i}`]);
      expect(message.properties.region).toBe("eu");
      expect(message.properties[MessageConst.TRAN_MSG]).toBe("true");
      expect(message.properties[MessageConst.REAL_TOPIC]).toBeUndefined();
      expect(message.uniqueKey).toBe(results[i]!.transactionId);
      expect(message.queueId).toBe(results[i]!.messageQueue.queueId);
      expect(message.sysFlag & 0xc).toBe(SysFlag.TRANSACTION_COMMIT);
    }
    expect(fixture.transactions.pendingCount).toBe(0);
    expect(fixture.transactions.counters).toMatchObject({ halfMessages: 10, committed: 5, rolledBack: 5, checks: 0 });
    expect(producer.checks).toEqual([]);
  });

  test("a half message is invisible to consumers until its commit", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 60_000 });
    let release!: (state: LocalTransactionState) => void;
    const producer = await fixture.producer(() => new Promise((resolve) => (release = resolve)));
    const sending = producer.sendMessageInTransaction({ topic: "orders", body: "later" });
    await until(() => fixture.transactions.pendingCount === 1, 3000, "the half message");
    await producer.send({ topic: "orders", body: "plain" });
    expect((await fixture.drain("orders")).map(text)).toEqual(["plain"]);
    expect(fixture.transactions.summary()).toMatchObject([{ topic: "orders", producerGroup: "orders_producer", pending: 1 }]);
    release("COMMIT");
    await sending;
    expect((await fixture.drain("orders")).map(text).sort()).toEqual(["later", "plain"]);
  });

  test("an UNKNOWN transaction is checked back and ends as checkLocalTransaction answers", async () => {
    fixture = new Fixture();
    await fixture.start();
    const producer = await fixture.producer(() => "UNKNOWN", (message) => (message.properties[MessageConst.TRANSACTION_CHECK_TIMES] === "2" ? "COMMIT" : "UNKNOWN"));
    const result = await producer.sendMessageInTransaction({ topic: "orders", body: "asked", tags: "t" });
    expect(result.localState).toBe("UNKNOWN");
    expect(result.endError?.message).toContain("checkLocalTransaction");
    await until(() => fixture.transactions.pendingCount === 0, 5000, "the check-back's commit");
    expect(producer.checks.map((m) => [m.topic, m.uniqueKey, m.properties[MessageConst.TRANSACTION_CHECK_TIMES], text(m)])).toEqual([
      ["orders", result.transactionId, "1", "asked"],
      ["orders", result.transactionId, "2", "asked"],
    ]);
    expect((await fixture.drain("orders")).map(text)).toEqual(["asked"]);
    expect(fixture.transactions.counters).toMatchObject({ committed: 1, checks: 2, resolvedByPolicy: 0 });
  });

  test("CHECK_IMMUNITY_TIME_IN_SECONDS puts a half message's first check off past transactionTimeoutMs", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 100, transactionCheckIntervalMs: 60_000 });
    const producer = await fixture.producer(() => "UNKNOWN");
    const plain = await producer.sendMessageInTransaction({ topic: "orders", body: "plain" });
    const immune = await producer.sendMessageInTransaction({ topic: "orders", body: "immune" }, undefined, { checkImmunitySeconds: 1 });
    const stored = new Map(fixture.transactions.pending().map((h) => [h.transactionId, h]));
    expect(stored.get(immune.transactionId)!.dueAt).toBe(stored.get(immune.transactionId)!.storeTimestamp + 1000);
    await until(() => producer.checks.length === 1, 3000, "the first check");
    expect(producer.checks[0]!.uniqueKey).toBe(plain.transactionId);
    await until(() => producer.checks.length === 2, 3000, "the immune half message's check");
    expect(producer.checks[1]!.uniqueKey).toBe(immune.transactionId);
    const checked = fixture.transactions.pending().find((h) => h.transactionId === immune.transactionId)!;
    expect(checked.lastCheckAt - checked.storeTimestamp).toBeGreaterThanOrEqual(1000);
    await expect(producer.sendMessageInTransaction({ topic: "orders", body: "x" }, undefined, { checkImmunitySeconds: 0 })).rejects.toThrow(
      'checkImmunitySeconds "0" must be a whole number of at least 1',
    );
  });

  test("after transactionCheckMax checks the policy rolls back and logs it, or commits with policy commit", async () => {
    for (const policy of ["rollback", "commit"] as const) {
      fixture = new Fixture();
      await fixture.start({ transactionCheckMax: 2, transactionCheckMaxPolicy: policy });
      const producer = await fixture.producer(() => "UNKNOWN");
      const result = await producer.sendMessageInTransaction({ topic: "orders", body: `left-${policy}` });
      await until(() => fixture.transactions.pendingCount === 0, 5000, "the policy");
      expect(producer.checks.length).toBe(2);
      expect(fixture.transactions.counters).toMatchObject({ checks: 2, resolvedByPolicy: 1, [policy === "commit" ? "committed" : "rolledBack"]: 1 });
      expect((await fixture.drain("orders")).map(text)).toEqual(policy === "commit" ? ["left-commit"] : []);
      expect(fixture.logs.join("\n")).toContain(`"${result.transactionId}" (topic "orders", producer group "orders_producer") stayed unresolved after 2 checks: ${policy === "commit" ? "committed" : "rolled back"} by transactionCheckMaxPolicy "${policy}"`);
      await fixture.close();
    }
  });

  test("END_TRANSACTION resolves once: a repeat succeeds without a second delivery, the opposite is refused, concurrent commits deliver once", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 60_000 });
    const producer = await fixture.producer(() => "UNKNOWN");
    const half = await producer.sendMessageInTransaction({ topic: "orders", body: "once" });
    const halfRecord = fixture.system.broker.context.store.lookMessageByOffset(fixture.transactions.pending()[0]!.commitLogOffset)!;
    const header = {
      producerGroup: "orders_producer",
      topic: "orders",
      tranStateTableOffset: halfRecord.queueOffset,
      commitLogOffset: halfRecord.commitLogOffset,
      commitOrRollback: 8,
      transactionId: half.transactionId,
    };
    const connection = await fixture.raw();
    const end = (h: Record<string, unknown>) => connection.request(RequestCode.END_TRANSACTION, h);
    const [first, second] = await Promise.all([end(header), end(header)]);
    expect([first.code, second.code]).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
    expect([first.header.alreadyResolved, second.header.alreadyResolved]).toEqual([undefined, true]);
    const again = await end(header);
    expect([again.code, again.header.alreadyResolved]).toEqual([ResponseCode.SUCCESS, true]);
    const rollback = await end({ ...header, commitOrRollback: 12 });
    expect(rollback.code).toBe(ResponseCode.ILLEGAL_OPERATION);
    expect(rollback.remark).toBe(`Transaction "${half.transactionId}" was already committed: it cannot be rolled back now`);
    expect((await fixture.drain("orders")).map(text)).toEqual(["once"]);
    expect(fixture.transactions.counters).toMatchObject({ committed: 1, rolledBack: 0 });
  });

  test("END_TRANSACTION naming no half message, another transaction, group or topic is refused and changes nothing", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 60_000 });
    const producer = await fixture.producer(() => "UNKNOWN");
    const half = await producer.sendMessageInTransaction({ topic: "orders", body: "kept" });
    const pending = fixture.transactions.pending()[0]!;
    const good = {
      producerGroup: "orders_producer",
      topic: "orders",
      tranStateTableOffset: pending.queueOffset,
      commitLogOffset: pending.commitLogOffset,
      commitOrRollback: 8,
      transactionId: half.transactionId,
    };
    const plain = await producer.send({ topic: "orders", body: "plain" });
    const connection = await fixture.raw();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ ...good, commitLogOffset: 999_999 }, ResponseCode.TRANSACTION_NOT_FOUND, "No half message is stored at commit log offset 999999"],
      [{ ...good, tranStateTableOffset: 7 }, ResponseCode.TRANSACTION_NOT_FOUND, "No half message is stored at"],
      [{ ...good, transactionId: "OTHER" }, ResponseCode.TRANSACTION_NOT_FOUND, `is of transaction "${half.transactionId}", not "OTHER"`],
      [{ ...good, producerGroup: "intruders" }, ResponseCode.TRANSACTION_STATE_GROUP_WRONG, 'belongs to producer group "orders_producer", not "intruders"'],
      [{ ...good, topic: "payments" }, ResponseCode.NO_PERMISSION, 'is of topic "orders", not "payments"'],
      // A plain message's offset is no half message.
      [{ ...good, commitLogOffset: Number.parseInt(plain.msgId.slice(16), 16), tranStateTableOffset: plain.queueOffset }, ResponseCode.TRANSACTION_NOT_FOUND, "No half message"],
      [{ ...good, commitOrRollback: 4 }, ResponseCode.INVALID_HEADER, "commitOrRollback"],
      [{ ...good, transactionId: "" }, ResponseCode.INVALID_HEADER, "transactionId"],
    ];
    for (const [header, code, remark] of cases) {
      const answer = await connection.request(RequestCode.END_TRANSACTION, header);
      expect([answer.code, answer.remark]).toEqual([code, expect.stringContaining(remark)]);
    }
    expect(fixture.transactions.pendingCount).toBe(1);
    expect((await fixture.drain("orders")).map(text)).toEqual(["plain"]);
    expect((await connection.request(RequestCode.END_TRANSACTION, good)).code).toBe(ResponseCode.SUCCESS);
    expect((await fixture.drain("orders")).map(text).sort()).toEqual(["kept", "plain"]);
  });

  test("sends that are not plain half messages are refused: commit or rollback bits, a delay, no producer group, no unique key", async () => {
    fixture = new Fixture();
    await fixture.start();
    const connection = await fixture.raw();
    const send = (header: Record<string, unknown>) =>
      connection.request(RequestCode.SEND_MESSAGE_V2, { a: "orders_producer", b: "orders", e: -1, g: Date.now(), i: "UNIQ_KEY\u0001K1\u0002", ...header }, new TextEncoder().encode("x"));
    const cases: [Record<string, unknown>, string][] = [
      [{ f: SysFlag.TRANSACTION_COMMIT }, "may only mark a message as prepared"],
      [{ f: SysFlag.TRANSACTION_ROLLBACK }, "may only mark a message as prepared"],
      [{ f: SysFlag.TRANSACTION_PREPARED, i: "UNIQ_KEY\u0001K1\u0002DELAY\u00013\u0002" }, 'cannot be delayed (property "DELAY")'],
      [{ f: SysFlag.TRANSACTION_PREPARED, a: "" }, "needs a valid producer group"],
      [{ f: SysFlag.TRANSACTION_PREPARED, i: "" }, 'needs a unique key (property "UNIQ_KEY"'],
      [{ f: SysFlag.TRANSACTION_PREPARED, i: "UNIQ_KEY\u0001K1\u0002PGROUP\u0001other\u0002" }, 'Property "PGROUP" says "other"'],
      [{ f: SysFlag.TRANSACTION_PREPARED, b: "%RETRY%g" }, "cannot take transactional messages"],
    ];
    for (const [header, remark] of cases) {
      const answer = await connection.request(RequestCode.SEND_MESSAGE_V2, { a: "orders_producer", b: "orders", e: -1, g: Date.now(), i: "UNIQ_KEY\u0001K1\u0002", ...header }, new TextEncoder().encode("x"));
      expect([answer.code, answer.remark]).toEqual([ResponseCode.MESSAGE_ILLEGAL, expect.stringContaining(remark)]);
    }
    expect(fixture.transactions.pendingCount).toBe(0);
    expect((await send({})).code).toBe(ResponseCode.SUCCESS);
    expect((await fixture.drain("orders")).map(text)).toEqual(["x"]);
  });

  test("pending half messages come back after a restart and are checked back then", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 60_000 });
    let producer = await fixture.producer(() => "UNKNOWN");
    const first = await producer.sendMessageInTransaction({ topic: "orders", body: "before-1" });
    await producer.sendMessageInTransaction({ topic: "orders", body: "before-2" });
    await producer.shutdown();
    // The offsets of CID_RMQ_SYS_TRANS are saved on close; the halves are read again from there.
    await fixture.restart();
    expect(fixture.transactions.pending().map((h) => h.transactionId)[0]).toBe(first.transactionId);
    expect(fixture.transactions.pendingCount).toBe(2);
    expect(fixture.logs.join("\n")).toContain("Transactions: 2 half message(s) pending from before the restart");
    await fixture.system.close();
    fixture.logs.length = 0;
    await fixture.start({ transactionTimeoutMs: 200 });
    producer = await fixture.producer(() => "UNKNOWN", (message) => (text(message) === "before-1" ? "COMMIT" : "ROLLBACK"));
    await until(() => fixture.transactions.pendingCount === 0, 5000, "both check-backs");
    expect((await fixture.drain("orders")).map(text)).toEqual(["before-1"]);
  });

  test("the state the broker keeps as it writes equals the state it rebuilds from the log", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 50, transactionCheckIntervalMs: 50, transactionCheckMax: 1000 });
    const producer = await fixture.producer((body) => (body.startsWith("c") ? "COMMIT" : body.startsWith("r") ? "ROLLBACK" : "UNKNOWN"));
    for (const body of ["c1", "u1", "r1", "u2", "c2", "u3"]) await producer.sendMessageInTransaction({ topic: "orders", body });
    await until(() => fixture.transactions.pending().every((h) => h.checkTimes >= 2), 5000, "a few checks of each pending half");
    const service = fixture.transactions;
    await fixture.system.close();
    // When a half is next checked follows from the check interval, set differently below.
    const { opMark: _, dueAt: _d, ...shape } = service.pending()[0]!;
    const before = service.pending().map(({ opMark: _, dueAt: _d, ...h }) => h);
    const counters = { ...service.counters };
    expect(before.map((h) => h.transactionId).length).toBe(3);
    expect(Object.keys(shape).sort()).toEqual(Object.keys(before[0]!).sort());
    await fixture.start({ transactionTimeoutMs: 600_000, transactionCheckIntervalMs: 600_000 });
    expect(fixture.transactions.pending().map(({ opMark: _, dueAt: _d, ...h }) => h)).toEqual(before);
    expect(fixture.transactions.pending().every((h) => h.dueAt === h.lastCheckAt + 600_000)).toBe(true);
    // Counters count what happened since the start: none yet after a restart.
    expect(fixture.transactions.counters).toEqual({ halfMessages: 0, committed: 0, rolledBack: 0, checks: 0, resolvedByPolicy: 0 });
    expect(counters).toMatchObject({ halfMessages: 6, committed: 2, rolledBack: 1 });
  });

  test("a commit whose op record a crash cut off is recorded at start: not checked back, not delivered twice", async () => {
    fixture = new Fixture();
    await fixture.start({ transactionTimeoutMs: 60_000 });
    const producer = await fixture.producer(() => "UNKNOWN", () => "COMMIT");
    const result = await producer.sendMessageInTransaction({ topic: "orders", body: "committed", tags: "t" });
    // What a crash between the two records of a commit leaves: the committed copy, last in the log, without its op record.
    const store = fixture.system.broker.context.store;
    const half = fixture.transactions.pending()[0]!;
    const stored = store.lookMessageByOffset(half.commitLogOffset)!;
    const properties = { ...stored.properties };
    delete properties[MessageConst.REAL_TOPIC];
    delete properties[MessageConst.REAL_QID];
    const put = await store.putMessage({
      topic: "orders",
      queueId: half.queueId,
      flag: 0,
      sysFlag: SysFlag.TRANSACTION_COMMIT,
      bornTimestamp: stored.bornTimestamp,
      bornHost: stored.bornHost,
      reconsumeTimes: 0,
      preparedTransactionOffset: half.commitLogOffset,
      body: stored.body,
      properties: encodeProperties(properties),
    });
    expect(put.status).toBe("PUT_OK");
    await producer.shutdown();
    await fixture.system.close();
    fixture.logs.length = 0;
    await fixture.start({ transactionTimeoutMs: 100 });
    expect(fixture.transactions.pendingCount).toBe(0);
    expect(fixture.logs.join("\n")).toContain(`transaction "${result.transactionId}" was committed`);
    // The op record written at start resolves it as a commit: nothing is left to ask a producer about.
    const op = fixture.system.broker.context.store.getMessage(TRANSACTION_OP_TOPIC, 0, 0, 10);
    expect(decodeRecords(op.body!).map((m) => [m.properties[MessageConst.TRAN_RESOLUTION], m.properties[MessageConst.TRAN_RESOLVED_BY], text(m)])).toEqual([
      ["COMMIT", "recovery", String(half.queueOffset)],
    ]);
    const pull = await (await fixture.raw()).request(RequestCode.PULL_MESSAGE, {
      consumerGroup: "x", topic: TRANSACTION_OP_TOPIC, queueId: 0, queueOffset: 0, maxMsgNums: 10,
    });
    expect(pull.code).toBe(ResponseCode.TOPIC_NOT_EXIST); // the broker's own topic: clients cannot read it
    expect((await fixture.drain("orders")).map(text)).toEqual(["committed"]);
    expect(fixture.system.broker.context.store.getMaxOffset(TRANSACTION_HALF_TOPIC, 0)).toBe(1);
  });
});
