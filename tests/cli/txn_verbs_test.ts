/**
 * `rmq txn list`, `/api/transactions` and the transaction metrics against a real standalone
 * system with pending half messages of two topics and producer groups.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type CliServer, rmq, startCliServer } from "./_cli.ts";

let server: CliServer;
let admin: string[];
const producers: Producer[] = [];
const transactionIds: Record<string, string> = {};

async function transactional(group: string): Promise<Producer> {
  const producer = new Producer({
    nameServer: server.namesrv,
    dial,
    group,
    log: () => {},
    transactionListener: { executeLocalTransaction: () => "UNKNOWN", checkLocalTransaction: () => "UNKNOWN" },
  });
  await producer.start();
  producers.push(producer);
  return producer;
}

beforeAll(async () => {
  server = await startCliServer();
  admin = ["--server", server.adminUrl];
  const a = await transactional("tx_a");
  const b = await transactional("tx_b");
  for (const [producer, topic, body] of [[a, "orders", "o1"], [a, "orders", "o2"], [b, "payments", "p1"]] as const) {
    transactionIds[body] = (await producer.sendMessageInTransaction({ topic, body })).transactionId;
  }
});

afterAll(async () => {
  for (const producer of producers) await producer.shutdown();
  await server.close();
});

describe("rmq txn list", () => {
  test("lists pending half messages per topic and producer group, as a table and as JSON", async () => {
    const run = await rmq(["txn", "list", ...admin]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(/^Pending:\s+3$/m);
    expect(run.stdout).toMatch(/^Since start:\s+3 half, 0 committed, 0 rolled back, 0 checks, 0 resolved by policy$/m);
    expect(run.stdout).toMatch(/^Policy:\s+rollback after 15 checks, first after 6000 ms, then every 30000 ms$/m);
    const table = run.stdout.split("\n");
    const header = table.findIndex((l) => l.startsWith("TOPIC"));
    expect(table[header]).toMatch(/^TOPIC\s+PRODUCER GROUP\s+PENDING\s+OLDEST\s+CHECKS\s+NEXT CHECK$/);
    expect(table[header + 1]).toMatch(/^orders\s+tx_a\s+2\s+\d+m?s\s+0\s+(in \d+m?s|due)$/);
    expect(table[header + 2]).toMatch(/^payments\s+tx_b\s+1\s+\d+m?s\s+0\s+(in \d+m?s|due)$/);

    const json = await rmq(["txn", "list", ...admin, "--json"]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({
      brokerName: "broker-a",
      role: "ASYNC_MASTER",
      totalPending: 3,
      pending: [{ topic: "orders", producerGroup: "tx_a", pending: 2, maxCheckTimes: 0 }, { topic: "payments", producerGroup: "tx_b", pending: 1 }],
    });
    expect(parsed.producers.map((p: { groups: string[] }) => p.groups)).toEqual(expect.arrayContaining([["tx_a"], ["tx_b"]]));
  });

  test("--topic with --group lists that pair's half messages; one without the other is a usage error", async () => {
    const run = await rmq(["txn", "list", "--topic", "orders", "--group", "tx_a", ...admin]);
    expect(run.code).toBe(0);
    const rows = run.stdout.split("\n").filter((l) => /^[0-9A-F]{32}\s/.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual([transactionIds.o1, transactionIds.o2]);
    const alone = await rmq(["txn", "list", "--topic", "orders", ...admin]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("--topic and --group go together");
  });

  test("/metrics counts half messages and commits, and gauges pending transactions per topic and group", async () => {
    const half = (await (await fetch(`${server.adminUrl}/api/transactions?topic=payments&group=tx_b`)).json()).halves[0];
    const connection = await connect(dial, server.system.brokerAddress);
    const answer = await connection.request(RequestCode.END_TRANSACTION, {
      producerGroup: "tx_b", topic: "payments", tranStateTableOffset: half.halfQueueOffset, commitLogOffset: half.commitLogOffset,
      commitOrRollback: 8, transactionId: half.transactionId,
    });
    connection.close();
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    const metrics = await (await fetch(`${server.adminUrl}/metrics`)).text();
    expect(metrics).toContain('rocketmq_transaction_half_messages_total{broker="broker-a",broker_id="0"} 3');
    expect(metrics).toContain('rocketmq_transaction_committed_total{broker="broker-a",broker_id="0"} 1');
    expect(metrics).toContain('rocketmq_transaction_rolled_back_total{broker="broker-a",broker_id="0"} 0');
    expect(metrics).toContain('rocketmq_transaction_checks_total{broker="broker-a",broker_id="0"} 0');
    expect(metrics).toContain('rocketmq_transaction_resolved_by_policy_total{broker="broker-a",broker_id="0"} 0');
    expect(metrics).toContain('rocketmq_transaction_pending{broker="broker-a",broker_id="0",topic="orders",group="tx_a"} 2');
    expect(metrics).not.toContain('topic="payments",group="tx_b"');
    expect(metrics).toContain('rocketmq_messages_in_total{broker="broker-a",broker_id="0",topic="payments"} 1');
  });
});
