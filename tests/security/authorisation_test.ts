/**
 * The authorisation audit, against a real `rmq standalone --acl` process: each attack is made by a
 * second, hostile client over raw signed frames, and ordinary clients keep working beside it.
 *
 * Accounts: `orders-svc` owns topic `orders` and group `orders-group`; `orders-audit` may read
 * `orders` and use `orders-group` too (a co-tenant of the group); `orders-helper` may use
 * `orders-group` but read no topic; `mallory` owns only `mallory-topic` and `mallory-group`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestSigner } from "../../core/auth/signing.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";
import { PullConsumer, PushConsumer } from "../../mod.ts";
import { until } from "../_helpers/wait.ts";
import { type AclStandalone, dialAs, signed, startAclStandalone } from "./_acl_standalone.ts";
import { routed } from "./_routed.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const VICTIM = { accessKey: "orders-svc", secretKey: "orders-secret-1", topicPerms: ["orders=PUB|SUB"], groupPerms: ["orders-group=SUB"] };
const COTENANT = { accessKey: "orders-audit", secretKey: "audit-secret-1", topicPerms: ["orders=SUB"], groupPerms: ["orders-group=SUB"] };
const HELPER = { accessKey: "orders-helper", secretKey: "helper-secret-1", groupPerms: ["orders-group=SUB"] };
const MALLORY = { accessKey: "mallory", secretKey: "mallory-secret-1", topicPerms: ["mallory-topic=PUB|SUB"], groupPerms: ["mallory-group=SUB"] };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let server: AclStandalone;
let victim: Connection;
let attacker: Connection;

async function createTopic(topic: string, queues: number): Promise<void> {
  const answer = await signed(victim, ADMIN, RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: queues, writeQueueNums: queues });
  expect(answer.code).toBe(ResponseCode.SUCCESS);
}

/** Sends one message as an account; returns its commit log offset. */
async function send(connection: Connection, account: typeof VICTIM, topic: string, queueId: number, body: string): Promise<number> {
  const header = { topic, queueId, bornTimestamp: Date.now(), producerGroup: "authz-producer" };
  const answer = await signed(connection, account, RequestCode.SEND_MESSAGE, header, encoder.encode(body));
  expect(answer.code).toBe(ResponseCode.SUCCESS);
  return decodeOffsetMessageId(answer.header.msgId as string).commitLogOffset;
}

async function pull(connection: Connection, account: typeof VICTIM, group: string, topic: string, queueId: number, queueOffset = 0) {
  const header = { consumerGroup: group, topic, queueId, queueOffset, maxMsgNums: 32 };
  const answer = await signed(connection, account, RequestCode.PULL_MESSAGE, header);
  return { code: answer.code, messages: answer.code === ResponseCode.SUCCESS ? decodeRecords(answer.body!) : [] };
}

async function maxOffset(topic: string, queueId: number): Promise<number> {
  const answer = await signed(victim, ADMIN, RequestCode.GET_MAX_OFFSET, { topic, queueId });
  return answer.code === ResponseCode.SUCCESS ? answer.header.offset as number : 0;
}

async function members(group: string): Promise<string[]> {
  const answer = await signed(victim, ADMIN, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: group });
  return answer.code === ResponseCode.SUCCESS ? answer.header.clientIds as string[] : [];
}

function heartbeat(clientId: string, group: string) {
  return {
    clientId,
    consumers: [{ group, consumeType: "PUSH", messageModel: "CLUSTERING", subscriptions: [{ topic: "orders", expression: "*" }] }],
  };
}

function lock(clientId: string, queueId: number) {
  return { consumerGroup: "orders-group", clientId, mqs: [{ topic: "orders", brokerName: "broker-a", queueId }] };
}

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, VICTIM, COTENANT, HELPER, MALLORY]);
  victim = await server.raw();
  attacker = await server.raw();
  await createTopic("orders", 4);
  await createTopic("mallory-topic", 1);
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe("requests naming a stored message by offset", () => {
  test("CONSUMER_SEND_MSG_BACK cannot copy another topic's message into the caller's retry or dead-letter topic", async () => {
    const secret = await send(victim, VICTIM, "orders", 0, "secret order 1");
    for (const delayLevel of [-1, 0]) {
      const answer = await signed(attacker, MALLORY, RequestCode.CONSUMER_SEND_MSG_BACK, { consumerGroup: "mallory-group", offset: secret, delayLevel });
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      expect(answer.remark).toBe(`Account "mallory" may not subscribe to the topic of the message at commit log offset ${secret}`);
    }
    const dead = await pull(attacker, MALLORY, "mallory-group", "%DLQ%mallory-group", 0);
    expect(dead.messages.map((m) => decoder.decode(m.body))).toEqual([]);
    expect(await maxOffset("%RETRY%mallory-group", 0)).toBe(0);

    // A member of the group that was delivered the message, but that may not read its topic.
    expect((await pull(victim, VICTIM, "orders-group", "orders", 0)).messages.map((m) => m.commitLogOffset)).toContain(secret);
    const helper = await signed(attacker, HELPER, RequestCode.CONSUMER_SEND_MSG_BACK, { consumerGroup: "orders-group", offset: secret, delayLevel: -1 });
    expect(helper.code).toBe(ResponseCode.NO_PERMISSION);
    expect(helper.remark).toBe(`Account "orders-helper" may not subscribe to the topic of the message at commit log offset ${secret}`);
    expect(await maxOffset("%DLQ%orders-group", 0)).toBe(0);
  });

  test("send-back takes only a message a pull delivered to the caller's group", async () => {
    const own = await send(attacker, MALLORY, "mallory-topic", 0, "mallory's own");
    const early = await signed(attacker, MALLORY, RequestCode.CONSUMER_SEND_MSG_BACK, { consumerGroup: "mallory-group", offset: own, delayLevel: -1 });
    expect(early.code).toBe(ResponseCode.NO_PERMISSION);
    expect(early.remark).toBe(
      `Cannot send message back for group "mallory-group": broker "broker-a" did not deliver the message at commit log offset ${own} to the group`,
    );
    const pulled = await pull(attacker, MALLORY, "mallory-group", "mallory-topic", 0);
    expect(pulled.messages.map((m) => m.commitLogOffset)).toContain(own);
    const back = await signed(attacker, MALLORY, RequestCode.CONSUMER_SEND_MSG_BACK, { consumerGroup: "mallory-group", offset: own, delayLevel: -1 });
    expect(back.code).toBe(ResponseCode.SUCCESS);
    const dead = await pull(attacker, MALLORY, "mallory-group", "%DLQ%mallory-group", 0);
    expect(dead.messages.map((m) => decoder.decode(m.body))).toEqual(["mallory's own"]);
  });

  test("a consumer's failed message still comes back through its retry topic", async () => {
    const consumer = new PushConsumer({
      nameServer: server.nameServer,
      group: "orders-group",
      dial: dialAs(VICTIM),
      consumeFromWhere: "LAST_OFFSET",
      heartbeatIntervalMs: 500,
      rebalanceIntervalMs: 500,
      log: () => {},
    });
    const seen: MessageExt[] = [];
    consumer.subscribe("orders");
    consumer.onMessage((message) => {
      if (decoder.decode(message.body) !== "fail once") return "SUCCESS";
      seen.push(message);
      return message.reconsumeTimes === 0 ? "RECONSUME_LATER" : "SUCCESS";
    });
    await consumer.start();
    try {
      await until(async () => (await members("orders-group")).includes(consumer.clientId), 10_000, "the consumer to join");
      const retriesBefore = await maxOffset("%RETRY%orders-group", 0);
      // The consumer may not hold its queues yet: keep sending until it sees one.
      await until(async () => {
        if (seen.length === 0) await send(victim, VICTIM, "orders", 3, "fail once");
        return seen.some((m) => m.reconsumeTimes === 1);
      }, 20_000, "the message to come back from the retry topic", 500);
      expect(seen.find((m) => m.reconsumeTimes === 1)!.topic).toBe("orders");
      expect(await maxOffset("%RETRY%orders-group", 0)).toBeGreaterThan(retriesBefore);
    } finally {
      await consumer.shutdown();
    }
  }, 30_000);

  test("VIEW_MESSAGE_BY_ID shows a message only to an account that may subscribe to its topic", async () => {
    const secret = await send(victim, VICTIM, "orders", 1, "secret order 2");
    const refused = await signed(attacker, MALLORY, RequestCode.VIEW_MESSAGE_BY_ID, { offset: secret });
    expect(refused.code).toBe(ResponseCode.NO_PERMISSION);
    expect(refused.remark).toBe(`Account "mallory" may not subscribe to the topic of the message at commit log offset ${secret}`);
    expect(refused.body).toBeUndefined();

    const consumer = new PullConsumer({ nameServer: server.nameServer, group: "orders-group", dial: dialAs(VICTIM) });
    await consumer.start();
    try {
      await routed(consumer, "orders");
      const answer = await signed(victim, VICTIM, RequestCode.VIEW_MESSAGE_BY_ID, { offset: secret });
      expect(answer.code).toBe(ResponseCode.SUCCESS);
      const [record] = decodeRecords(answer.body!);
      const viewed = await consumer.viewMessage(record!.msgId, "orders");
      expect(decoder.decode(viewed.body)).toBe("secret order 2");
    } finally {
      await consumer.shutdown();
    }
  });
});

describe("key lookups", () => {
  test("QUERY_MESSAGE answers only an account that may subscribe to the topic, by key or unique key", async () => {
    const header = { topic: "orders", queueId: 2, bornTimestamp: Date.now(), producerGroup: "authz-producer", properties: { KEYS: "secret-key", UNIQ_KEY: "0A000007AABB0000019300000000ABCD" } };
    expect((await signed(victim, VICTIM, RequestCode.SEND_MESSAGE, header, encoder.encode("secret order 3"))).code).toBe(ResponseCode.SUCCESS);
    const query = { topic: "orders", key: "secret-key", maxNum: 32, beginTimestamp: 0, endTimestamp: Number.MAX_SAFE_INTEGER };
    const unique = { ...query, key: "0A000007AABB0000019300000000ABCD", _UNIQUE_KEY_QUERY: "true" };
    for (const asked of [query, unique]) {
      const refused = await signed(attacker, MALLORY, RequestCode.QUERY_MESSAGE, asked);
      expect(refused.code).toBe(ResponseCode.NO_PERMISSION);
      expect(refused.remark).toBe('Account "mallory" may not subscribe to topic "orders"');
      expect(refused.body).toBeUndefined();
      const allowed = await signed(victim, COTENANT, RequestCode.QUERY_MESSAGE, asked);
      expect(allowed.code).toBe(ResponseCode.SUCCESS);
      expect(decodeRecords(allowed.body!).map((m) => decoder.decode(m.body))).toEqual(["secret order 3"]);
    }
    // Asking under a topic of her own never reaches another topic's messages.
    const own = await signed(attacker, MALLORY, RequestCode.QUERY_MESSAGE, { ...query, topic: "mallory-topic" });
    expect(own.code).toBe(ResponseCode.QUERY_NOT_FOUND);
    expect(own.body).toBeUndefined();
  });
});

describe("requests naming a client or group", () => {
  test("UNREGISTER_CLIENT cannot evict another account's consumer, with or without a group", async () => {
    const clientId = "victim-consumer@10.0.0.7";
    expect((await signed(victim, VICTIM, RequestCode.HEART_BEAT, heartbeat(clientId, "orders-group"))).code).toBe(ResponseCode.SUCCESS);
    expect(await members("orders-group")).toContain(clientId);

    const attempts = [
      { connection: attacker, account: MALLORY, header: { clientId } },
      { connection: attacker, account: MALLORY, header: { clientId, consumerGroup: "orders-group" } },
      { connection: attacker, account: COTENANT, header: { clientId } },
      { connection: attacker, account: COTENANT, header: { clientId, consumerGroup: "orders-group" } },
    ];
    const remarks = [];
    for (const { connection, account, header } of attempts) {
      const answer = await signed(connection, account, RequestCode.UNREGISTER_CLIENT, header);
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      remarks.push(answer.remark);
    }
    expect(remarks).toEqual([
      `Account "mallory" may not unregister client "${clientId}" from all its groups: one of them is closed to this account`,
      'Account "mallory" may not use consumer group "orders-group"',
      `Account "orders-audit" may not unregister client "${clientId}" from all its groups: one of them is closed to this account`,
      `Account "orders-audit" may not act for client "${clientId}" of consumer group "orders-group": another account registered it`,
    ]);
    expect(await members("orders-group")).toContain(clientId);

    // The member list stays closed to accounts without the group, and its owner still leaves at will.
    const list = await signed(attacker, MALLORY, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "orders-group" });
    expect(list.code).toBe(ResponseCode.NO_PERMISSION);
    expect((await signed(victim, VICTIM, RequestCode.UNREGISTER_CLIENT, { clientId })).code).toBe(ResponseCode.SUCCESS);
    expect(await members("orders-group")).not.toContain(clientId);
  });

  test("a heartbeat cannot take over a member another account registered", async () => {
    const clientId = "victim-consumer@10.0.0.8";
    expect((await signed(victim, VICTIM, RequestCode.HEART_BEAT, heartbeat(clientId, "orders-group"))).code).toBe(ResponseCode.SUCCESS);
    const hijack = await signed(attacker, COTENANT, RequestCode.HEART_BEAT, heartbeat(clientId, "orders-group"));
    expect(hijack.code).toBe(ResponseCode.NO_PERMISSION);
    expect(hijack.remark).toBe(`Account "orders-audit" may not act for client "${clientId}" of consumer group "orders-group": another account registered it`);
    expect((await signed(attacker, COTENANT, RequestCode.HEART_BEAT, heartbeat("audit-consumer@10.0.0.9", "orders-group"))).code).toBe(ResponseCode.SUCCESS);
    expect(await members("orders-group")).toEqual(expect.arrayContaining([clientId, "audit-consumer@10.0.0.9"]));
    await signed(victim, VICTIM, RequestCode.UNREGISTER_CLIENT, { clientId, consumerGroup: "orders-group" });
    await signed(attacker, COTENANT, RequestCode.UNREGISTER_CLIENT, { clientId: "audit-consumer@10.0.0.9", consumerGroup: "orders-group" });
  });

  test("queue locks are renewed and released only by the account that took them", async () => {
    const holder = "victim-orderly@10.0.0.7";
    expect((await signed(victim, VICTIM, RequestCode.HEART_BEAT, heartbeat(holder, "orders-group"))).code).toBe(ResponseCode.SUCCESS);
    const granted = await signed(victim, VICTIM, RequestCode.LOCK_BATCH_MQ, lock(holder, 1));
    expect(granted.header.lockOKMQSet).toHaveLength(1);

    for (const code of [RequestCode.UNLOCK_BATCH_MQ, RequestCode.LOCK_BATCH_MQ]) {
      const answer = await signed(attacker, COTENANT, code, lock(holder, 1));
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      expect(answer.remark).toBe(`Account "orders-audit" may not act for client "${holder}" of consumer group "orders-group": another account registered it`);
    }
    expect((await signed(attacker, COTENANT, RequestCode.LOCK_BATCH_MQ, lock("audit-orderly", 1))).header.lockOKMQSet).toEqual([]);

    // A holder that never sent a heartbeat: its lock is still tied to the account that took it.
    const loner = "victim-loner@10.0.0.7";
    expect((await signed(victim, VICTIM, RequestCode.LOCK_BATCH_MQ, lock(loner, 2))).header.lockOKMQSet).toHaveLength(1);
    expect((await signed(attacker, COTENANT, RequestCode.UNLOCK_BATCH_MQ, lock(loner, 2))).code).toBe(ResponseCode.SUCCESS);
    expect((await signed(attacker, COTENANT, RequestCode.LOCK_BATCH_MQ, lock(loner, 2))).header.lockOKMQSet).toEqual([]);
    expect((await signed(attacker, COTENANT, RequestCode.LOCK_BATCH_MQ, lock("audit-orderly", 2))).header.lockOKMQSet).toEqual([]);

    // The holders renew and release as before, and then the queues are free for the co-tenant.
    expect((await signed(victim, VICTIM, RequestCode.LOCK_BATCH_MQ, lock(holder, 1))).header.lockOKMQSet).toHaveLength(1);
    expect((await signed(victim, VICTIM, RequestCode.UNLOCK_BATCH_MQ, lock(holder, 1))).code).toBe(ResponseCode.SUCCESS);
    expect((await signed(victim, VICTIM, RequestCode.UNLOCK_BATCH_MQ, lock(loner, 2))).code).toBe(ResponseCode.SUCCESS);
    expect((await signed(attacker, COTENANT, RequestCode.LOCK_BATCH_MQ, lock("audit-orderly", 1))).header.lockOKMQSet).toHaveLength(1);
    expect((await signed(attacker, COTENANT, RequestCode.LOCK_BATCH_MQ, lock("audit-orderly", 2))).header.lockOKMQSet).toHaveLength(1);
    await signed(victim, VICTIM, RequestCode.UNREGISTER_CLIENT, { clientId: holder, consumerGroup: "orders-group" });
  });
});

describe("replay protection", () => {
  test("a signed request is accepted once, however its signature is respelled", async () => {
    const body = encoder.encode("pay once");
    const header = await new RequestSigner(VICTIM).sign(RequestCode.SEND_MESSAGE, {
      topic: "orders",
      queueId: 2,
      bornTimestamp: Date.now(),
      producerGroup: "authz-producer",
    }, body);
    const signature = header.signature as string;
    expect(signature).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // The last character before "=" carries 4 bits of the MAC and 2 unused bits: flip an unused one.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const spare = signature.slice(0, 42) + alphabet[alphabet.indexOf(signature[42]!) ^ 1] + "=";
    const before = await maxOffset("orders", 2);
    expect((await attacker.request(RequestCode.SEND_MESSAGE, { ...header }, body)).code).toBe(ResponseCode.SUCCESS);
    for (const respelled of [signature.slice(0, 43), ` ${signature}`, `${signature}\n`, `${signature.slice(0, 20)} ${signature.slice(20)}`, spare]) {
      const answer = await attacker.request(RequestCode.SEND_MESSAGE, { ...header, signature: respelled }, body);
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      expect(answer.remark).toBe("Request signature is invalid");
    }
    expect((await attacker.request(RequestCode.SEND_MESSAGE, { ...header }, body)).remark).toBe("Request was replayed");
    expect(await maxOffset("orders", 2)).toBe(before + 1);
    // Fresh signatures of the same account still work.
    await send(victim, VICTIM, "orders", 2, "pay twice, on purpose");
    expect(await maxOffset("orders", 2)).toBe(before + 2);
  });

  test("two identical requests signed in the same millisecond are two requests, not a replay", async () => {
    const now = Date.now();
    const signer = new RequestSigner(VICTIM, { now: () => now });
    const request = { topic: "orders", queueId: 2 };
    const answers = await Promise.all([0, 1].map(async () =>
      victim.request(RequestCode.GET_MAX_OFFSET, await signer.sign(RequestCode.GET_MAX_OFFSET, request))
    ));
    expect(answers.map((a) => a.code)).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
  });
});
