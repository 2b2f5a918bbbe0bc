/**
 * Request-reply in process: `Producer.request` waits for the reply a `PushConsumer.reply` sends
 * through the broker that stored the request; timeouts, late replies and bad replies are clear
 * errors that leave everything else working.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { BrokerError, ClientError, RequestTimeoutError } from "../../core/errors.ts";
import { MessageConst, type MessageExt } from "../../core/model/message.ts";
import { decodeRecord } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { MemorySegmentStorage } from "../../server/store/memory_segment_storage.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";
import { until } from "../_helpers/wait.ts";

const decoder = new TextDecoder();
const text = (m: MessageExt) => decoder.decode(m.body);

let network: MemoryNetwork;
let system: Standalone;
let requester: Producer;
let replier: PushConsumer;
/** What each `reply()` of the replier ended with. */
const replies: { body: string; outcome: unknown }[] = [];
/** Requests the replier holds until released. */
const held = new Map<string, () => void>();

beforeAll(async () => {
  network = new MemoryNetwork();
  system = await startStandalone({
    listen: network.listen,
    dial: network.dial,
    dataDir: "/data",
    storage: new MemorySegmentStorage(),
    port: 0,
    nameServerPort: 0,
    log: () => {},
  });
  requester = new Producer({ nameServer: system.nameServerAddress, dial: network.dial, group: "askers" });
  await requester.start();
  // The topic exists before the replier joins, so it reads from the first request on.
  await requester.send({ topic: "prices", body: "warm-up" });
  replier = new PushConsumer({ nameServer: system.nameServerAddress, dial: network.dial, group: "pricers", consumeFromWhere: "FIRST_OFFSET", log: () => {} });
  replier.subscribe("prices");
  replier.onMessage(async (message) => {
    const body = text(message);
    if (body === "warm-up") return "SUCCESS";
    if (body.startsWith("hold:")) await new Promise<void>((resolve) => held.set(body, resolve));
    try {
      const msgId = await replier.reply(message, `price of ${body}`, { currency: "EUR" });
      replies.push({ body, outcome: msgId });
    } catch (error) {
      replies.push({ body, outcome: error });
    }
    return "SUCCESS";
  });
  await replier.start();
});

afterAll(async () => {
  for (const release of held.values()) release();
  await replier.shutdown();
  await requester.shutdown();
  await system.close();
});

describe("request-reply", () => {
  test("each request gets its own reply, many in flight", async () => {
    const asked = Array.from({ length: 20 }, (_, i) => `item-${i}`);
    const answers = await Promise.all(asked.map((body) => requester.request({ topic: "prices", body }, 10_000)));
    expect(answers.map(text)).toEqual(asked.map((body) => `price of ${body}`));
    for (const reply of answers) {
      expect(reply.topic).toBe("DefaultCluster_REPLY_TOPIC");
      expect(reply.properties[MessageConst.MESSAGE_TYPE]).toBe("reply");
      expect(reply.properties[MessageConst.REPLY_TO_CLIENT]).toBe(requester.clientId);
      expect(reply.properties.currency).toBe("EUR");
    }
    expect(new Set(answers.map((r) => r.properties[MessageConst.CORRELATION_ID])).size).toBe(20);
  });

  test("a request nobody answers in time fails with RequestTimeoutError; the late reply is refused to the replier", async () => {
    const started = Date.now();
    const error = await requester.request({ topic: "prices", body: "hold:late" }, 300).catch((e) => e);
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(error.message).toMatch(/^Request to topic "prices" \(correlation id "[0-9a-f-]{36}"\) got no reply within 300 ms$/);
    expect(Date.now() - started).toBeLessThan(2000);
    await until(() => held.has("hold:late"), 3000, "the replier to hold the request");
    held.get("hold:late")!();
    await until(() => replies.some((r) => r.body === "hold:late"), 3000, "the late reply");
    const late = replies.find((r) => r.body === "hold:late")!.outcome as BrokerError;
    expect(late).toBeInstanceOf(BrokerError);
    expect(late.code).toBe(ResponseCode.REPLY_NOT_DELIVERED);
    expect(late.message).toContain('did not take the reply: No request waits for a reply with correlation id "');
    // Nothing is stuck: the next request is answered.
    expect(text(await requester.request({ topic: "prices", body: "after" }, 5000))).toBe("price of after");
  });

  test("a reply whose requester is gone is refused, and so is a reply to a message that is no request", async () => {
    const leaving = new Producer({ nameServer: system.nameServerAddress, dial: network.dial, group: "leavers" });
    await leaving.start();
    const asking = leaving.request({ topic: "prices", body: "hold:gone" }, 10_000).catch((e) => e);
    await until(() => held.has("hold:gone"), 3000, "the replier to hold the request");
    await leaving.shutdown();
    expect(await asking).toBeInstanceOf(ClientError);
    held.get("hold:gone")!();
    await until(() => replies.some((r) => r.body === "hold:gone"), 3000, "the reply");
    const gone = replies.find((r) => r.body === "hold:gone")!.outcome as BrokerError;
    expect([gone.code, gone.message]).toEqual([ResponseCode.REPLY_NOT_DELIVERED, expect.stringMatching(/^Requester ".+" is not connected to broker "broker-a" \(code 410\)$/)]);
    const plain = { ...(await firstMessage()), properties: {} };
    await expect(replier.reply(plain, "x")).rejects.toThrow(new ClientError(`Message ${plain.msgId} is not a request: it has no "CLUSTER" property`));
  });

  test("SEND_REPLY_MESSAGE_V2 to another topic or without a correlation id is refused", async () => {
    const connection = await connect(network.dial, system.brokerAddress);
    const body = new TextEncoder().encode("r");
    const base = { a: "pricers", b: "DefaultCluster_REPLY_TOPIC", e: 0, g: Date.now(), i: `REPLY_TO_CLIENT\u0001${requester.clientId}\u0002CORRELATION_ID\u0001c1\u0002` };
    const cases: [Record<string, unknown>, number, string][] = [
      [{ b: "prices" }, ResponseCode.MESSAGE_ILLEGAL, 'Replies go to topic "DefaultCluster_REPLY_TOPIC" on broker "broker-a", not "prices"'],
      [{ i: `REPLY_TO_CLIENT\u0001${requester.clientId}\u0002` }, ResponseCode.MESSAGE_ILLEGAL, 'A reply needs the request\'s "CORRELATION_ID" property'],
      [{ i: "CORRELATION_ID\u0001c1\u0002" }, ResponseCode.MESSAGE_ILLEGAL, 'A reply needs the request\'s "REPLY_TO_CLIENT" property'],
      [{ i: "REPLY_TO_CLIENT\u0001nobody\u0002CORRELATION_ID\u0001c1\u0002" }, ResponseCode.REPLY_NOT_DELIVERED, 'Requester "nobody" is not connected to broker "broker-a"'],
      [{}, ResponseCode.REPLY_NOT_DELIVERED, 'No request waits for a reply with correlation id "c1"'],
    ];
    for (const [header, code, remark] of cases) {
      const answer = await connection.request(RequestCode.SEND_REPLY_MESSAGE_V2, { ...base, ...header }, body);
      expect([answer.code, answer.remark]).toEqual([code, expect.stringContaining(remark)]);
    }
    connection.close();
    expect(text(await requester.request({ topic: "prices", body: "still" }, 5000))).toBe("price of still");
  });
});

async function firstMessage(): Promise<MessageExt> {
  const connection = await connect(network.dial, system.brokerAddress);
  const answer = await connection.request(RequestCode.VIEW_MESSAGE_BY_ID, { offset: 0 });
  connection.close();
  return decodeRecord(answer.body!, 0);
}
