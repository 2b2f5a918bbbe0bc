/**
 * POP under ACL, against a real `rmq standalone --acl` process: a pop needs the group right and
 * SUB on the topic; an ack or a change of invisible time needs both too, and a receipt handle is
 * bound to its group and topic, so an account with rights elsewhere cannot settle others' messages.
 *
 * Accounts: `orders-svc` reads `orders` in `orders-group`; `orders-helper` may use the group but
 * read no topic; `mallory` owns `mallory-topic` and `mallory-group` only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";
import { SimpleConsumer } from "../../mod.ts";
import { type AclStandalone, dialAs, signed, startAclStandalone, type TestAccount } from "./_acl_standalone.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const OWNER = { accessKey: "orders-svc", secretKey: "orders-secret-1", topicPerms: ["orders=PUB|SUB"], groupPerms: ["orders-group=SUB"] };
const HELPER = { accessKey: "orders-helper", secretKey: "helper-secret-1", groupPerms: ["orders-group=SUB"] };
const MALLORY = { accessKey: "mallory", secretKey: "mallory-secret-1", topicPerms: ["mallory-topic=PUB|SUB"], groupPerms: ["mallory-group=SUB"] };

let server: AclStandalone;
let owner: Connection;
let attacker: Connection;

const pop = (connection: Connection, account: TestAccount, group: string, topic: string, maxMsgNums = 2) =>
  signed(connection, account, RequestCode.POP_MESSAGE, { consumerGroup: group, topic, maxMsgNums, invisibleTime: 30_000 });

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, OWNER, HELPER, MALLORY]);
  owner = await server.raw();
  attacker = await server.raw();
  for (const topic of ["orders", "mallory-topic"]) {
    const made = await signed(owner, ADMIN, RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 1, writeQueueNums: 1 });
    expect(made.code).toBe(ResponseCode.SUCCESS);
  }
  for (let i = 0; i < 4; i++) {
    const sent = await signed(owner, OWNER, RequestCode.SEND_MESSAGE, { topic: "orders", queueId: 0, bornTimestamp: Date.now() }, new TextEncoder().encode(`o${i}`));
    expect(sent.code).toBe(ResponseCode.SUCCESS);
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe("POP under ACL", () => {
  test("a pop needs the group right and SUB on the topic", async () => {
    const noTopic = await pop(attacker, HELPER, "orders-group", "orders");
    expect(noTopic.code).toBe(ResponseCode.NO_PERMISSION);
    expect(noTopic.remark).toContain('may not subscribe to topic "orders"');
    const noGroup = await pop(attacker, MALLORY, "orders-group", "orders");
    expect(noGroup.code).toBe(ResponseCode.NO_PERMISSION);
    const ownGroupOtherTopic = await pop(attacker, MALLORY, "mallory-group", "orders");
    expect(ownGroupOtherTopic.code).toBe(ResponseCode.NO_PERMISSION);
  });

  test("an ack or change needs the rights too, and a handle settles nothing under another group or topic; the owner's consumer is unaffected", async () => {
    const popped = await pop(owner, OWNER, "orders-group", "orders");
    expect(popped.code).toBe(ResponseCode.SUCCESS);
    const [handle, other] = popped.header.handles as string[];
    // The helper may use the group but not read the topic.
    const helperAck = await signed(attacker, HELPER, RequestCode.ACK_MESSAGE, { consumerGroup: "orders-group", topic: "orders", extraInfo: handle });
    expect(helperAck.code).toBe(ResponseCode.NO_PERMISSION);
    const helperChange = await signed(attacker, HELPER, RequestCode.CHANGE_MESSAGE_INVISIBLETIME, {
      consumerGroup: "orders-group", topic: "orders", extraInfo: handle, invisibleTime: 1000,
    });
    expect(helperChange.code).toBe(ResponseCode.NO_PERMISSION);
    // Mallory has rights on her own group and topic only: naming them, the handle is not hers.
    const mine = await signed(attacker, MALLORY, RequestCode.ACK_MESSAGE, { consumerGroup: "mallory-group", topic: "mallory-topic", extraInfo: handle });
    expect(mine.code).toBe(ResponseCode.INVALID_RECEIPT_HANDLE);
    const batch = await signed(attacker, MALLORY, RequestCode.BATCH_ACK_MESSAGE, { consumerGroup: "mallory-group", topic: "mallory-topic", extraInfos: [handle, other] });
    expect(batch.code).toBe(ResponseCode.SUCCESS);
    expect((batch.header.failed as { code: number }[]).map((f) => f.code)).toEqual([ResponseCode.INVALID_RECEIPT_HANDLE, ResponseCode.INVALID_RECEIPT_HANDLE]);
    // The owner still settles both.
    const acked = await signed(owner, OWNER, RequestCode.BATCH_ACK_MESSAGE, { consumerGroup: "orders-group", topic: "orders", extraInfos: [handle, other] });
    expect(acked.header.failed).toEqual([]);
    // And its SimpleConsumer, signing as the owner, receives the rest.
    const consumer = new SimpleConsumer({ nameServer: server.nameServer, dial: dialAs(OWNER), group: "orders-group", awaitDurationMs: 1000, log: () => {} });
    consumer.subscribe("orders");
    await consumer.start();
    try {
      const rest = [];
      while (rest.length < 2) {
        for (const m of await consumer.receive(4, 30_000)) {
          rest.push(m);
          await consumer.ack(m.receiptHandle);
        }
      }
      expect(rest.length).toBe(2);
    } finally {
      await consumer.shutdown();
    }
  }, 30_000);
});
