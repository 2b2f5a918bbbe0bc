/**
 * Pull bodies lent from the processor's buffer: a reply written to a connection gives its memory
 * back for the next pull, and a reply its caller keeps (a gRPC call keeps the processor's reply)
 * keeps exactly the stored bytes whatever is pulled after it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeRecords } from "../../../../core/model/record.ts";
import type { Command } from "../../../../core/protocol/command.ts";
import type { PullMessageHeader } from "../../../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../../../core/protocol/request_code.ts";
import { connect, Connection } from "../../../../core/remoting/connection.ts";
import type { Reply } from "../../../../core/remoting/dispatcher.ts";
import { type Broker, startBroker } from "../../../../server/broker/broker.ts";
import { pullMessageProcessor } from "../../../../server/broker/processors/pull.ts";
import { MemoryNetwork } from "../../../_helpers/memory_network.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const QUEUES = 4;
const PER_QUEUE = 50;

let dir: string | undefined;
let broker: Broker | undefined;

afterEach(async () => {
  await broker?.close();
  broker = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A broker holding `PER_QUEUE` messages on each of `QUEUES` queues, sent interleaved, and a client. */
async function backlog(): Promise<{ broker: Broker; client: Connection }> {
  const net = new MemoryNetwork();
  dir = mkdtempSync(join(tmpdir(), "rmq-pull-"));
  broker = await startBroker({ listen: net.listen, dial: net.dial, dataDir: dir, port: 0, autoCreateTopicEnable: true, log: () => {} });
  const client = await connect(net.dial, `memory:${broker.port}`);
  for (let k = 0; k < PER_QUEUE; k++) {
    await Promise.all(Array.from({ length: QUEUES }, (_, queueId) =>
      client.request(RequestCode.SEND_MESSAGE, { topic: "Lent", queueId, bornTimestamp: Date.now(), properties: {} }, enc.encode(`${queueId}:${k}:${"x".repeat(k * 7)}`))
    ));
  }
  return { broker, client };
}

const header = (queueId: number): PullMessageHeader => ({
  consumerGroup: "g",
  topic: "Lent",
  queueId,
  queueOffset: 0,
  maxMsgNums: 32,
  sysFlag: 0,
  commitOffset: -1,
  suspendTimeoutMillis: 0,
  subscription: "*",
  expressionType: "TAG",
} as PullMessageHeader);

const expected = (queueId: number, n: number) => Array.from({ length: n }, (_, k) => `${queueId}:${k}:${"x".repeat(k * 7)}`);

describe("pull bodies lent from the processor's buffer", () => {
  test("pulls of four queues in one tick over a connection each get exactly the bytes stored for them", async () => {
    const { broker, client } = await backlog();
    const answers = await Promise.all(Array.from({ length: QUEUES }, (_, queueId) =>
      client.request(RequestCode.PULL_MESSAGE, { consumerGroup: "g", topic: "Lent", queueId, queueOffset: 0, maxMsgNums: 32 })
    ));
    for (const [queueId, answer] of answers.entries()) {
      expect(answer.code).toBe(ResponseCode.SUCCESS);
      expect(answer.body!).toEqual(broker.context.store.getMessage("Lent", queueId, 0, 32, undefined, 4 << 20).body!);
      expect(decodeRecords(answer.body!).map((m) => dec.decode(m.body))).toEqual(expected(queueId, 32));
    }
    client.close();
  });

  test("a reply its caller keeps, unwritten, keeps its bytes while later pulls are answered", async () => {
    const { broker, client } = await backlog();
    const pull = pullMessageProcessor(broker.context);
    const caller = new Connection();
    caller.attach({ remoteAddress: "grpc", bufferedAmount: 0, write() {}, close() {} });
    const request: Command = { code: RequestCode.PULL_MESSAGE, id: 1, flags: 0, header: {} };
    // Kept as a gRPC call keeps it: its `written` is never called.
    const kept = pull.handle(header(0), request, caller) as Reply;
    const before = kept.body!.slice();
    // Later pulls, each written to its connection (which gives its memory back) before the next.
    for (const queueId of [1, 2, 3, 1]) {
      const reply = pull.handle(header(queueId), request, caller) as Reply;
      expect(decodeRecords(reply.body!).map((m) => dec.decode(m.body))).toEqual(expected(queueId, 32));
      caller.respond(request, reply);
      reply.written!();
    }
    expect(kept.body!).toEqual(before);
    expect(decodeRecords(kept.body!).map((m) => dec.decode(m.body))).toEqual(expected(0, 32));
    caller.close();
    client.close();
  });
});
