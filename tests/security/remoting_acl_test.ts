/**
 * ACL over RocketMQ 4.x remoting: RocketMQ ACL 1.0 signatures (HMAC-SHA1 over the sorted field
 * values and the body) checked against our ACL accounts, on a real `rmq standalone --acl`, by the
 * unchanged ali-ons client and by hand-built frames.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { importHmacSha1Key, signAclV1 } from "../../core/auth/acl_v1.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { dial } from "../../client/bun/connect.ts";
import { type Child, start, stop } from "../_helpers/process.ts";
import { remotingClient } from "../_helpers/remoting.ts";
import { type AclStandalone, signed, startAclStandalone } from "./_acl_standalone.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const ONS = { accessKey: "ons-ak", secretKey: "ons-secret-1", topicPerms: ["AclTopic=PUB|SUB"], groupPerms: ["CG_ACL=SUB", "PG_ALI_ONS=SUB"] };
const STRANGER = { accessKey: "stranger-ak", secretKey: "stranger-secret-1" };

let system: AclStandalone;
const children: Child[] = [];

beforeAll(async () => {
  system = await startAclStandalone([ADMIN, ONS, STRANGER]);
  const raw = await system.raw();
  const created = await signed(raw, ADMIN, RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "AclTopic", readQueueNums: 2, writeQueueNums: 2 });
  expect(created.code).toBe(ResponseCode.SUCCESS);
});

afterAll(async () => {
  for (const child of children) await stop(child);
  await system?.close();
});

function aliOns(args: string[], account: { accessKey: string; secretKey: string }): Child {
  const child = start("node", ["tests/_fixtures/ali_ons_client.cjs", ...args], { ACCESS_KEY: account.accessKey, SECRET_KEY: account.secretKey });
  children.push(child);
  return child;
}

test("ali-ons signing with an account's keys sends and consumes; with a wrong secret its route query is refused", async () => {
  // The topic's route reaches the NameServer a moment after it was created.
  const consumer = aliOns(["consume", system.nameServer, "CG_ACL", "AclTopic", "*"], ONS);
  await consumer.waitFor('{"ready":true', 30_000);
  const producer = aliOns(["produce", system.nameServer, "AclTopic", JSON.stringify([{ tag: "T", body: "signed with ACL 1.0" }])], ONS);
  const code = await producer.exited;
  if (code !== 0) throw new Error(`ali-ons producer exited with ${code}:\n${producer.output()}`);
  await consumer.waitFor('"body":"signed with ACL 1.0"', 20_000);

  const forger = aliOns(["produce", system.nameServer, "AclTopic", JSON.stringify([{ tag: "T", body: "forged" }])], { ...ONS, secretKey: "not-the-secret" });
  expect(await forger.exited).toBe(1);
  expect(forger.output()).toContain("Request signature is invalid");
  expect(consumer.output()).not.toContain("forged");
}, 90_000);

test("hand-built remoting requests: unsigned ones, wrong signatures and missing rights are refused NO_PERMISSION; a signed one passes", async () => {
  const client = await remotingClient(dial, system.broker);
  const body = new TextEncoder().encode("raw");
  const send = { a: "PG", b: "AclTopic", c: "TBW102", d: 2, e: 0, f: 0, g: Date.now(), h: 0, i: "TAGS\u0001raw\u0002", j: 0, k: false };
  const asText = (fields: Record<string, unknown>) => Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
  const sign = async (account: { accessKey: string; secretKey: string }, fields: Record<string, unknown>) => {
    const withKey = asText({ ...fields, AccessKey: account.accessKey });
    return { ...withKey, Signature: await signAclV1(await importHmacSha1Key(account.secretKey), withKey, body) };
  };

  const unsigned = await client.request(RequestCode.SEND_MESSAGE_V2, send, body);
  expect([unsigned.code, unsigned.remark]).toEqual([ResponseCode.NO_PERMISSION, expect.stringContaining('"AccessKey" and "Signature" are required')]);

  const forged = await sign({ ...ONS, secretKey: "wrong-secret-1" }, send);
  const wrong = await client.request(RequestCode.SEND_MESSAGE_V2, forged, body);
  expect([wrong.code, wrong.remark]).toEqual([ResponseCode.NO_PERMISSION, "Request signature is invalid"]);

  // A signature over other fields does not fit: the body is covered too.
  const other = await client.request(RequestCode.SEND_MESSAGE_V2, await sign(ONS, send), new TextEncoder().encode("RAW"));
  expect(other.code).toBe(ResponseCode.NO_PERMISSION);

  const stranger = await client.request(RequestCode.SEND_MESSAGE_V2, await sign(STRANGER, send), body);
  expect([stranger.code, stranger.remark]).toEqual([ResponseCode.NO_PERMISSION, 'Account "stranger-ak" may not publish to topic "AclTopic"']);

  const ok = await client.request(RequestCode.SEND_MESSAGE_V2, await sign(ONS, send), body);
  expect(ok.code).toBe(ResponseCode.SUCCESS);
  expect(ok.extFields.msgId).toMatch(/^[0-9A-F]{32}$/);
  client.close();
}, 60_000);
