import { describe, expect, test } from "bun:test";
import { checkTopic, prepareMessage } from "../../client/_prepare_message.ts";
import { ClientError } from "../../core/errors.ts";
import type { Message } from "../../core/model/message.ts";

const limits = { maxMessageSize: 16, uniqueKey: "ID" };

describe("prepareMessage()", () => {
  test("builds the wire properties from tags, keys, delay level and user properties", () => {
    const prepared = prepareMessage(
      { topic: "orders", body: "héllo", tags: "created", keys: ["k1", "k2"], delayLevel: 3, properties: { a: "1" }, flag: 7 },
      limits,
    );
    expect(prepared.topic).toBe("orders");
    expect(prepared.body).toEqual(new TextEncoder().encode("héllo"));
    expect(prepared.flag).toBe(7);
    expect(prepared.properties).toEqual({ a: "1", TAGS: "created", KEYS: "k1 k2", DELAY: "3", UNIQ_KEY: "ID" });
  });

  test("takes keys as one space-separated string and drops empty ones", () => {
    expect(prepareMessage({ topic: "t", body: "x", keys: " a  b " }, limits).properties.KEYS).toBe("a b");
    expect(prepareMessage({ topic: "t", body: "x", keys: [] }, limits).properties.KEYS).toBeUndefined();
  });

  test("keeps a Uint8Array body as is", () => {
    const body = new Uint8Array([0, 255]);
    expect(prepareMessage({ topic: "t", body }, limits).body).toBe(body);
  });

  const invalid: [string, Message][] = [
    ["an empty topic", { topic: "", body: "x" }],
    ["a topic with a space", { topic: "a b", body: "x" }],
    ["a topic of 128 characters", { topic: "t".repeat(128), body: "x" }],
    ["the auto-create template topic", { topic: "TBW102", body: "x" }],
    ["an empty body", { topic: "t", body: "" }],
    ["a body over the limit", { topic: "t", body: new Uint8Array(17) }],
    ["a body of the wrong type", { topic: "t", body: 5 as unknown as string }],
    ["tags with ||", { topic: "t", body: "x", tags: "a||b" }],
    ["empty tags", { topic: "t", body: "x", tags: " " }],
    ["a key with a space in a list", { topic: "t", body: "x", keys: ["a b"] }],
    ["a reserved property", { topic: "t", body: "x", properties: { UNIQ_KEY: "mine" } }],
    ["a property with a separator", { topic: "t", body: "x", properties: { "a\u0001": "1" } }],
    ["a non-string property value", { topic: "t", body: "x", properties: { a: 1 as unknown as string } }],
    ["a negative delay level", { topic: "t", body: "x", delayLevel: -1 }],
    ["a flag beyond 32 bits", { topic: "t", body: "x", flag: 2 ** 31 }],
  ];
  for (const [what, message] of invalid) {
    test(`rejects ${what} with ClientError`, () => {
      expect(() => prepareMessage(message, limits)).toThrow(ClientError);
    });
  }

  test("accepts a body exactly at the limit", () => {
    expect(prepareMessage({ topic: "t", body: new Uint8Array(16) }, limits).body.length).toBe(16);
  });
});

describe("checkTopic()", () => {
  test("accepts RocketMQ's topic charset", () => {
    expect(() => checkTopic("%RETRY%group_1|a-b")).not.toThrow();
  });
});
