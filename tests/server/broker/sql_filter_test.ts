/**
 * SQL92 pulls on the broker: only matching records cross the connection (counted in messages and
 * bytes), refusals name the column, `enablePropertyFilter` gates them, and a long poll parked on
 * a SQL92 filter is woken only by a matching message.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import type { Command } from "../../../core/protocol/command.ts";
import { PullSysFlag, RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { BrokerFixture, send, until } from "./_fixture.ts";

const dec = new TextDecoder();
let fx: BrokerFixture;

beforeEach(() => {
  fx = new BrokerFixture();
});

afterEach(async () => {
  await fx.cleanup();
});

function pull(connection: Connection, queueOffset: number, subscription: string, extra: Record<string, unknown> = {}): Promise<Command> {
  const suspend = (extra.suspendTimeoutMillis as number | undefined) ?? 0;
  return connection.request(
    RequestCode.PULL_MESSAGE,
    {
      consumerGroup: "g",
      topic: "orders",
      queueId: 0,
      queueOffset,
      maxMsgNums: 32,
      sysFlag: PullSysFlag.SUBSCRIPTION | (suspend > 0 ? PullSysFlag.SUSPEND : 0),
      subscription,
      expressionType: "SQL92",
      ...extra,
    },
    undefined,
    suspend + 5000,
  );
}

/** Sends `count` orders; order i is from region eu when i % 10 === 0, its amount is i. */
async function fill(connection: Connection, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const sent = await send(connection, "orders", `order-${i}-${"x".repeat(200)}`, { region: i % 10 === 0 ? "eu" : "us", amount: String(i), TAGS: i % 10 === 0 ? "A" : "B" });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
  }
}

/** Reads the queue to its end with one expression, counting what crossed the connection. */
async function readAll(connection: Connection, subscription: string, expressionType: "SQL92" | "TAG") {
  const bodies: string[] = [];
  let bytes = 0;
  let pulls = 0;
  let offset = 0;
  for (;;) {
    const response = await pull(connection, offset, subscription, { expressionType });
    pulls++;
    if (response.code === ResponseCode.PULL_NOT_FOUND) break;
    expect<number[]>([ResponseCode.SUCCESS, ResponseCode.PULL_RETRY_IMMEDIATELY]).toContain(response.code);
    if (response.body !== undefined) {
      bytes += response.body.length;
      for (const m of decodeRecords(response.body)) bodies.push(dec.decode(m.body).split("-").slice(0, 2).join("-"));
    }
    offset = response.header.nextBeginOffset as number;
  }
  return { bodies, bytes, pulls };
}

describe("SQL92 pulls", () => {
  test("only matching records cross the connection: a tenth of the messages and of the bytes", async () => {
    await fx.start();
    const c = await fx.client();
    await fill(c.connection, 300);
    const stats = fx.broker.context.stats;
    const before = { messages: stats.messagesOut, bytes: stats.bytesOut };
    const sql = await readAll(c.connection, "region = 'eu'", "SQL92");
    const expected = Array.from({ length: 30 }, (_, i) => `order-${i * 10}`);
    expect(sql.bodies).toEqual(expected);
    expect(stats.messagesOut - before.messages).toBe(30);
    expect(stats.bytesOut - before.bytes).toBe(sql.bytes);
    // Everything, for comparison: ten times the bytes.
    const all = await readAll(c.connection, "*", "TAG");
    expect(all.bodies.length).toBe(300);
    expect(sql.bytes * 10).toBe(all.bytes);
    // 30 matches fit one pull of 32: the broker scanned past the 270 others itself.
    expect(sql.pulls).toBe(2);
  });

  test("conditions on numbers, IN, BETWEEN and TAGS select exactly their messages", async () => {
    await fx.start();
    const c = await fx.client();
    await fill(c.connection, 100);
    const cases: [string, number[]][] = [
      ["amount >= 95", [95, 96, 97, 98, 99]],
      ["amount BETWEEN 10 AND 12 OR amount IN ('50')", [10, 11, 12, 50]],
      ["region IN ('eu') AND amount > 60", [70, 80, 90]],
      ["TAGS = 'A' AND NOT (amount < 80)", [80, 90]],
      ["missing IS NOT NULL", []],
    ];
    for (const [expression, amounts] of cases) {
      const got = await readAll(c.connection, expression, "SQL92");
      expect({ expression, bodies: got.bodies }).toEqual({ expression, bodies: amounts.map((i) => `order-${i}`) });
    }
  });

  test("a bad expression is refused with SUBSCRIPTION_PARSE_FAILED naming the column; one too long is an invalid header", async () => {
    await fx.start();
    const c = await fx.client();
    await fill(c.connection, 1);
    const bad = await pull(c.connection, 0, "region = 'eu' AND amount >");
    expect(bad.code).toBe(ResponseCode.SUBSCRIPTION_PARSE_FAILED);
    expect(bad.remark).toBe('Invalid SQL filter at column 27: expected a value after ">"');
    const long = await pull(c.connection, 0, `region = '${"x".repeat(5000)}'`);
    expect(long.code).toBe(ResponseCode.INVALID_HEADER);
    expect(long.remark).toContain("Expression is longer than 4096 characters");
    const unknownType = await pull(c.connection, 0, "a = 1", { expressionType: "SQL" });
    expect(unknownType.code).toBe(ResponseCode.INVALID_HEADER);
    expect(unknownType.remark).toContain('Expression type must be "TAG" or "SQL92"');
    // The connection is fine for everyone after it.
    expect((await pull(c.connection, 0, "region = 'eu'")).code).toBe(ResponseCode.SUCCESS);
  });

  test("with enablePropertyFilter off SQL92 pulls are refused and tag pulls still served", async () => {
    await fx.start({ enablePropertyFilter: false });
    const c = await fx.client();
    await fill(c.connection, 10);
    const refused = await pull(c.connection, 0, "region = 'eu'");
    expect(refused.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(refused.remark).toBe('Broker "broker-a" does not filter by SQL92: enablePropertyFilter is off');
    const tags = await pull(c.connection, 0, "A", { expressionType: "TAG" });
    expect(tags.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(tags.body!).map((m) => m.tags)).toEqual(["A"]);
  });

  test("a tag expression that reads like SQL is still a tag expression", async () => {
    await fx.start();
    const c = await fx.client();
    await send(c.connection, "orders", "tagged", { TAGS: "region = 'eu'" });
    await send(c.connection, "orders", "eu", { region: "eu" });
    const asTag = await pull(c.connection, 0, "region = 'eu'", { expressionType: "TAG" });
    expect(decodeRecords(asTag.body!).map((m) => dec.decode(m.body))).toEqual(["tagged"]);
    const untyped = await c.connection.request(RequestCode.PULL_MESSAGE, { consumerGroup: "g", topic: "orders", queueId: 0, queueOffset: 0, maxMsgNums: 32, subscription: "region = 'eu'" });
    expect(decodeRecords(untyped.body!).map((m) => dec.decode(m.body))).toEqual(["tagged"]);
  });
});

describe("SQL92 long polling", () => {
  test("a parked SQL92 pull is not woken by messages that do not match; a matching one wakes it, answered past the others", async () => {
    await fx.start();
    const c = await fx.client();
    const p = await fx.client();
    await fill(c.connection, 5);
    const holds = fx.broker.context.holds;
    // Nothing from offset 0 matches region 'asia': the pull scans to the end and parks there.
    const parked = pull(p.connection, 0, "region = 'asia'", { suspendTimeoutMillis: 20_000 });
    let answered = false;
    void parked.then(() => (answered = true));
    await until(() => holds.size === 1);
    for (let i = 0; i < 3; i++) {
      // A send is answered once its message is visible and parked pulls were told of it.
      await send(c.connection, "orders", `not-asia-${i}`, { region: "us" });
      expect(holds.size).toBe(1);
    }
    expect(answered).toBe(false);
    await send(c.connection, "orders", "asia", { region: "asia" });
    const response = await parked;
    expect(response.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(response.body!).map((m) => dec.decode(m.body))).toEqual(["asia"]);
    expect(response.header.nextBeginOffset).toBe(9);
    expect(holds.size).toBe(0);
  });

  test("a parked SQL92 pull whose time runs out is answered from past the messages that did not match", async () => {
    await fx.start();
    const c = await fx.client();
    const p = await fx.client();
    await fill(c.connection, 2);
    const holds = fx.broker.context.holds;
    const parked = pull(p.connection, 0, "region = 'asia'", { suspendTimeoutMillis: 300 });
    await until(() => holds.size === 1);
    await send(c.connection, "orders", "us", { region: "us" });
    const response = await parked;
    expect(response.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(response.header.nextBeginOffset).toBe(3);
    expect(response.body).toBeUndefined();
  });
});
