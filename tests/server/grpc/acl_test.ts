/**
 * ACL on the gRPC port: RocketMQ 5's signature (an HMAC-SHA1 of `x-mq-date-time` named by the
 * `authorization` header) maps onto our accounts, and each call needs the rights of the request it
 * maps to. Apache's RocketMQ 5 Node.js client, unchanged, against `rmq standalone --acl`.
 *
 * Accounts: `grpc-pub` may publish to `acl5`; `grpc-sub` may only read it; `grpc-consumer` may
 * read it as group `acl5-group`; `grpc-group-only` has that group but may not read the topic.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { childEnv } from "../../_helpers/process.ts";
import { type AclStandalone, signed, startAclStandalone } from "../../security/_acl_standalone.ts";

const SCRIPT = join(import.meta.dir, "_node", "producer.cjs");
const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const PUB = { accessKey: "grpc-pub", secretKey: "pub-secret-1", topicPerms: ["acl5=PUB"] };
const SUB = { accessKey: "grpc-sub", secretKey: "sub-secret-1", topicPerms: ["acl5=SUB", "acl5-new=SUB"] };
const CONSUMER = { accessKey: "grpc-consumer", secretKey: "consumer-secret-1", topicPerms: ["acl5=SUB"], groupPerms: ["acl5-group=SUB"] };
const GROUP_ONLY = { accessKey: "grpc-group-only", secretKey: "group-secret-1", groupPerms: ["acl5-group=SUB"] };
const CONSUMER_SCRIPT = join(import.meta.dir, "_node", "consumer.cjs");

let server: AclStandalone;
let admin: Connection;
let endpoint: string;

async function node(topic: string, credentials: { accessKey: string; secretKey: string } | undefined, args = [SCRIPT, endpoint, topic, "normal"]): Promise<{ code: number; out: string }> {
  const env = childEnv(credentials === undefined ? {} : { RMQ5_ACCESS_KEY: credentials.accessKey, RMQ5_SECRET_KEY: credentials.secretKey });
  const child = Bun.spawn(["node", ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, out: stdout + stderr };
}

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, PUB, SUB, CONSUMER, GROUP_ONLY]);
  endpoint = `127.0.0.1:${/served over gRPC on port (\d+)/.exec(server.child.output())![1]}`;
  admin = await server.raw();
  const created = await signed(admin, ADMIN, RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "acl5", readQueueNums: 2, writeQueueNums: 2 });
  expect(created.code).toBe(ResponseCode.SUCCESS);
});

afterAll(async () => {
  await server?.close();
});

describe("the gRPC port under ACL", () => {
  test("a client signing as an account allowed to publish sends", async () => {
    const { code, out } = await node("acl5", PUB);
    expect(out).toContain('"messageId"');
    expect(code).toBe(0);
  });

  test("an unsigned client is refused as unauthenticated", async () => {
    const { code, out } = await node("acl5", undefined);
    expect(code).toBe(1);
    expect(out).toContain('response-code=40100] Call is not signed: headers "authorization" and "x-mq-date-time" are required');
  });

  test("a wrong secret key is refused: the signature does not verify", async () => {
    const { code, out } = await node("acl5", { accessKey: PUB.accessKey, secretKey: "not-the-secret" });
    expect(code).toBe(1);
    expect(out).toContain("response-code=40100] Call signature is invalid");
  });

  test("an account that may only read the topic is refused the send", async () => {
    const { code, out } = await node("acl5", SUB);
    expect(code).toBe(1);
    expect(out).toContain('response-code=40300] Account "grpc-sub" may not publish to topic "acl5"');
  });

  test("QueryRoute creates no topic for an account that may not publish to it", async () => {
    const { code, out } = await node("acl5-new", SUB);
    expect(code).toBe(1);
    expect(out).toContain('response-code=40402] Topic "acl5-new" does not exist');
    const route = await signed(admin, ADMIN, RequestCode.GET_ALL_TOPIC_CONFIG, {});
    expect(JSON.stringify(route.header)).not.toContain("acl5-new");
  });

  test("a receive needs the group right and SUB on the topic; an account with both receives and acks", async () => {
    const receive = (who: { accessKey: string; secretKey: string }) => node("acl5", who, [CONSUMER_SCRIPT, endpoint, "acl5", "acl5-group", "simple", "1"]);
    expect((await node("acl5", PUB)).code).toBe(0);
    const noGroup = await receive(SUB);
    expect(noGroup.code).toBe(1);
    expect(noGroup.out).toContain('response-code=40300] Account "grpc-sub" may not use consumer group "acl5-group"');
    const noTopic = await receive(GROUP_ONLY);
    expect(noTopic.code).toBe(1);
    expect(noTopic.out).toContain('response-code=40300] Account "grpc-group-only" may not subscribe to topic "acl5"');
    const allowed = await receive(CONSUMER);
    expect(allowed.out).toContain('"body":"normal message"');
    expect(allowed.code).toBe(0);
  }, 60_000);
});
