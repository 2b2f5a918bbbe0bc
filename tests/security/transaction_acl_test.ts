/**
 * Transactions and replies under ACL, against a real `rmq standalone --acl` process: a transaction
 * can be ended only by an account with PUB on its topic and the right to its producer group, a
 * producer group's check-backs go only to clients of accounts allowed that group, and replies need
 * PUB on the reply topic. Each refusal is a clear error and changes nothing: the legitimate
 * producer commits afterwards, once.
 *
 * Accounts: `shop-svc` may publish to and read `shop` and use producer group `shop-tx`;
 * `shop-nogroup` may publish to `shop` but not use `shop-tx`; `shop-notopic` may use `shop-tx`
 * but not publish to `shop`; `other-svc` owns topic `other` and group `other-tx`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { SysFlag } from "../../core/model/message.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";
import { until } from "../_helpers/wait.ts";
import { type AclStandalone, dialAs, signed, startAclStandalone, type TestAccount } from "./_acl_standalone.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const SHOP = { accessKey: "shop-svc", secretKey: "shop-secret-1", topicPerms: ["shop=PUB|SUB"], groupPerms: ["shop-tx=SUB", "shop-readers=SUB"] };
const NO_GROUP = { accessKey: "shop-nogroup", secretKey: "nogroup-secret-1", topicPerms: ["shop=PUB|SUB"] };
const NO_TOPIC = { accessKey: "shop-notopic", secretKey: "notopic-secret-1", groupPerms: ["shop-tx=SUB"] };
const OTHER = { accessKey: "other-svc", secretKey: "other-secret-1", topicPerms: ["other=PUB|SUB"], groupPerms: ["other-tx=SUB"] };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let server: AclStandalone;
let attacker: Connection;
let producer: Producer;
let half: { transactionId: string; halfQueueOffset: number; commitLogOffset: number };

interface Transactions {
  totalPending: number;
  halves?: { transactionId: string; halfQueueOffset: number; commitLogOffset: number }[];
}

async function transactions(): Promise<Transactions> {
  const response = await fetch(`${server.adminUrl}/api/transactions?topic=shop&group=shop-tx`, {
    headers: { authorization: `Basic ${btoa(`${ADMIN.accessKey}:${ADMIN.secretKey}`)}` },
  });
  expect(response.status).toBe(200);
  return await response.json() as Transactions;
}

function end(account: TestAccount, header: Record<string, unknown>) {
  return signed(attacker, account, RequestCode.END_TRANSACTION, {
    producerGroup: "shop-tx",
    topic: "shop",
    tranStateTableOffset: half.halfQueueOffset,
    commitLogOffset: half.commitLogOffset,
    commitOrRollback: 8,
    transactionId: half.transactionId,
    ...header,
  });
}

async function shopMessages(): Promise<string[]> {
  const bodies: string[] = [];
  for (let queueId = 0; queueId < 4; queueId++) {
    const answer = await signed(attacker, SHOP, RequestCode.PULL_MESSAGE, { consumerGroup: "shop-readers", topic: "shop", queueId, queueOffset: 0, maxMsgNums: 32 });
    if (answer.code === ResponseCode.SUCCESS) bodies.push(...decodeRecords(answer.body!).map((m) => decoder.decode(m.body)));
  }
  return bodies.sort();
}

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, SHOP, NO_GROUP, NO_TOPIC, OTHER], { RMQ_BROKER_TRANSACTION_TIMEOUT_MS: "600000" });
  attacker = await server.raw();
  for (const topic of ["shop", "other"]) {
    const created = await signed(attacker, ADMIN, RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 4, writeQueueNums: 4 });
    expect(created.code).toBe(ResponseCode.SUCCESS);
  }
  producer = new Producer({
    nameServer: server.nameServer,
    dial: dialAs(SHOP),
    group: "shop-tx",
    log: () => {},
    transactionListener: { executeLocalTransaction: () => "UNKNOWN", checkLocalTransaction: () => "UNKNOWN" },
  });
  await producer.start();
  const sent = await producer.sendMessageInTransaction({ topic: "shop", body: "order-1" });
  await until(async () => (await transactions()).totalPending === 1, 5000, "the half message");
  half = (await transactions()).halves![0]!;
  expect(half.transactionId).toBe(sent.transactionId);
}, 60_000);

afterAll(async () => {
  await producer?.shutdown();
  await server?.close();
});

describe("transactions under ACL", () => {
  test("END_TRANSACTION needs the producer group's right and PUB on the topic, whatever the header claims", async () => {
    const cases: [TestAccount, Record<string, unknown>, string][] = [
      [NO_GROUP, {}, 'Account "shop-nogroup" may not use producer group "shop-tx"'],
      [NO_TOPIC, {}, 'Account "shop-notopic" may not publish to topic "shop"'],
      // Claiming its own group and topic gets past the header check, not past the stored half message's.
      [OTHER, { producerGroup: "other-tx", topic: "other" }, `Account "other-svc" may not end transaction "${half.transactionId}": it needs PUB on the transaction's topic and the right to its producer group`],
      [OTHER, { producerGroup: "other-tx", topic: "other", commitOrRollback: 12 }, `Account "other-svc" may not end transaction "${half.transactionId}": it needs PUB on the transaction's topic and the right to its producer group`],
    ];
    for (const [account, header, remark] of cases) {
      const answer = await end(account, header);
      expect([answer.code, answer.remark]).toEqual([ResponseCode.NO_PERMISSION, remark]);
    }
    expect((await transactions()).totalPending).toBe(1);
    expect(await shopMessages()).toEqual([]);
  });

  test("another account cannot join a producer group to take its check-backs, nor take over its producer's client id", async () => {
    const joining = await signed(attacker, OTHER, RequestCode.HEART_BEAT, { clientId: "spy", producerGroups: ["shop-tx"], consumers: [] });
    expect([joining.code, joining.remark]).toEqual([ResponseCode.NO_PERMISSION, 'Account "other-svc" may not use producer group "shop-tx"']);
    const takeover = await signed(attacker, OTHER, RequestCode.HEART_BEAT, { clientId: producer.clientId, producerGroups: [], consumers: [] });
    expect([takeover.code, takeover.remark]).toEqual([
      ResponseCode.NO_PERMISSION,
      `Account "other-svc" may not act for producer "${producer.clientId}": another account registered it`,
    ]);
    const evict = await signed(attacker, OTHER, RequestCode.UNREGISTER_CLIENT, { clientId: producer.clientId, producerGroup: "other-tx" });
    expect(evict.code).toBe(ResponseCode.NO_PERMISSION);
  });

  test("a half message needs the producer group's right; a reply needs PUB on the reply topic", async () => {
    const foreignHalf = await signed(attacker, OTHER, RequestCode.SEND_MESSAGE_V2, {
      a: "shop-tx", b: "other", e: -1, f: SysFlag.TRANSACTION_PREPARED, g: Date.now(), i: "UNIQ_KEY\u0001X1\u0002",
    }, encoder.encode("forged"));
    expect([foreignHalf.code, foreignHalf.remark]).toEqual([ResponseCode.NO_PERMISSION, 'Account "other-svc" may not send transactional messages as producer group "shop-tx"']);
    const reply = await signed(attacker, OTHER, RequestCode.SEND_REPLY_MESSAGE_V2, {
      a: "other-tx", b: "DefaultCluster_REPLY_TOPIC", e: 0, g: Date.now(), i: `REPLY_TO_CLIENT\u0001${producer.clientId}\u0002CORRELATION_ID\u0001c1\u0002`,
    }, encoder.encode("forged"));
    expect([reply.code, reply.remark]).toEqual([ResponseCode.NO_PERMISSION, 'Account "other-svc" may not publish to topic "DefaultCluster_REPLY_TOPIC"']);
    expect((await transactions()).totalPending).toBe(1);
  });

  test("after the refusals the producer's own account commits it, once", async () => {
    const unknown = await end(SHOP, { transactionId: "NOT-A-TRANSACTION" });
    expect(unknown.code).toBe(ResponseCode.TRANSACTION_NOT_FOUND);
    const commit = await end(SHOP, {});
    expect(commit.code).toBe(ResponseCode.SUCCESS);
    const again = await end(SHOP, {});
    expect([again.code, again.header.alreadyResolved]).toEqual([ResponseCode.SUCCESS, true]);
    const rollback = await end(SHOP, { commitOrRollback: 12 });
    expect([rollback.code, rollback.remark]).toEqual([ResponseCode.ILLEGAL_OPERATION, `Transaction "${half.transactionId}" was already committed: it cannot be rolled back now`]);
    expect((await transactions()).totalPending).toBe(0);
    expect(await shopMessages()).toEqual(["order-1"]);
  });
});
