/**
 * The admin verbs (`rmq topic|cluster|group|offset|msg|dlq`) against a real standalone system:
 * tables, `--json`, `--help`, bad input and exit codes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeProperties } from "../../core/model/properties.ts";
import { freePort } from "../_helpers/process.ts";
import { type CliServer, rmq, startCliServer } from "./_cli.ts";

let server: CliServer;
let admin: string[];

beforeAll(async () => {
  server = await startCliServer();
  admin = ["--server", server.adminUrl];
});
afterAll(() => server.close());

async function json(args: string[]): Promise<any> {
  const run = await rmq([...args, ...admin, "--json"]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout);
}

async function putDeadLetter(group: string, body: string, originalTopic: string) {
  const put = await server.system.broker.context.store.putMessage({
    topic: `%DLQ%${group}`,
    queueId: 0,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { address: "127.0.0.1", port: 1 },
    reconsumeTimes: 16,
    preparedTransactionOffset: 0,
    body: new TextEncoder().encode(body),
    properties: encodeProperties({ RETRY_TOPIC: originalTopic, KEYS: `key-${body}` }),
  });
  expect(put.status).toBe("PUT_OK");
  return put.msgId;
}

describe("rmq topic", () => {
  test("create, list, route, status and delete a topic, in tables and JSON", async () => {
    const created = await rmq(["topic", "create", "--topic", "orders", "--queues", "3", ...admin]);
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toBe('Created topic "orders": 3 read / 3 write queues, perm rw\n');
    const updated = await json(["topic", "create", "-t", "orders", "--perm", "r"]);
    expect(updated).toMatchObject({ created: false, topic: { topic: "orders", perm: "r-", readQueueNums: 3 } });
    await rmq(["topic", "create", "-t", "orders", "--perm", "rw", ...admin]);
    // A topic's own retention, shown, kept by later updates, and cleared with 0.
    const retained = await rmq(["topic", "create", "-t", "orders", "--retention-hours", "12", ...admin]);
    expect(retained.stdout).toBe('Updated topic "orders": 3 read / 3 write queues, perm rw, retention 12 h\n');
    expect(server.system.broker.context.topics.get("orders")?.retentionHours).toBe(12);
    expect((await json(["topic", "create", "-t", "orders", "--perm", "rw"])).topic.retentionHours).toBe(12);
    expect((await rmq(["topic", "create", "-t", "orders", "--retention-hours", "0", ...admin])).stdout).not.toContain("retention");
    expect(server.system.broker.context.topics.get("orders")?.retentionHours).toBeUndefined();

    const list = await rmq(["topic", "list", ...admin]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TOPIC\s+KIND\s+QUEUES\(R\/W\)\s+PERM\s+ORDER\s+RETENTION\s+MESSAGES\s+WRITTEN\s+BROKERS$/);
    expect(lines.find((l) => l.startsWith("orders "))).toMatch(/^orders\s+normal\s+3\/3\s+rw\s+no\s+default\s+0\s+0\s+broker-a$/);
    // System topics only with --all.
    expect(list.stdout).not.toContain("TBW102");
    const all = await json(["topic", "list", "--all"]);
    expect(all.topics.map((t: { topic: string }) => t.topic)).toContain("TBW102");

    const route = await json(["topic", "route", "--topic", "orders"]);
    expect(route.queueDatas[0]).toMatchObject({ brokerName: "broker-a", readQueueNums: 3, writeQueueNums: 3 });
    const routeTable = await rmq(["topic", "route", "-t", "orders", ...admin]);
    expect(routeTable.stdout).toContain(`0=${server.system.brokerAddress}`);

    const status = await json(["topic", "status", "-t", "orders"]);
    expect(status.queues.map((q: { queueId: number }) => q.queueId)).toEqual([0, 1, 2]);
    const statusTable = await rmq(["topic", "status", "-t", "orders", ...admin]);
    expect(statusTable.stdout).toMatch(/^Topic:\s+orders$/m);
    expect(statusTable.stdout).toMatch(/^broker-a\s+2\s+0\s+0\s+0\s+-$/m);

    expect(await json(["topic", "delete", "-t", "orders"])).toEqual({ deleted: "orders", broker: "broker-a" });
    const gone = await rmq(["topic", "status", "-t", "orders", ...admin]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error: Topic "orders" does not exist on broker "broker-a" (HTTP 404 NOT_FOUND)\n');
  });

  test("bad input exits 2 naming the flag; unknown subcommands too", async () => {
    const [missing, badQueues, badName, unknownFlag, unknownSub, bare] = await Promise.all([
      rmq(["topic", "create", ...admin]),
      rmq(["topic", "create", "-t", "x", "--queues", "0", ...admin]),
      rmq(["topic", "status", "-t", "bad topic", ...admin]),
      rmq(["topic", "list", "--frob", ...admin]),
      rmq(["topic", "frob"]),
      rmq(["topic"]),
    ]);
    for (const run of [missing, badQueues, badName, unknownFlag, unknownSub, bare]) expect(run.code).toBe(2);
    expect(missing.stderr).toContain("Flag --topic is required");
    expect(badQueues.stderr).toContain('Invalid value "0" for --queues: must be at least 1');
    expect(badName.stderr).toContain('Invalid value "bad topic" for --topic');
    expect(unknownFlag.stderr).toContain('Unknown flag "--frob"');
    expect(unknownSub.stderr).toContain('Unknown subcommand "frob" of "rmq topic"');
    expect(bare.stdout).toContain("Subcommands:");
  });

  test("--help on every verb and subcommand exits 0 with usage", async () => {
    const verbs = [
      ["topic", "list"], ["topic", "create"], ["topic", "delete"], ["topic", "route"], ["topic", "status"],
      ["cluster", "list"], ["group", "list"], ["group", "progress"], ["group", "update"], ["offset", "reset"],
      ["msg", "get"], ["msg", "query-key"], ["msg", "browse"], ["dlq", "list"], ["dlq", "resend"],
      ["send"], ["consume"], ["monitor"], ["bench"], ["standalone"], ["nameserver"], ["broker"],
      ["topic"], ["dlq"],
    ];
    const runs = await Promise.all(verbs.map((verb) => rmq([...verb, "--help"])));
    runs.forEach((run, i) => {
      expect({ verb: verbs[i], code: run.code }).toEqual({ verb: verbs[i], code: 0 });
      expect(run.stdout).toContain(`Usage: rmq ${verbs[i]!.join(" ")}`);
    });
    const top = await rmq(["--help"]);
    expect(top.code).toBe(0);
    for (const verb of ["topic", "cluster", "group", "offset", "msg", "dlq", "send", "consume", "monitor", "bench", "nameserver", "broker"]) {
      expect(top.stdout).toMatch(new RegExp(`^  ${verb} `, "m"));
    }
    const unknown = await rmq(["frobnicate"]);
    expect(unknown.code).toBe(2);
  }, 30_000); // 24 processes at once: over 5 s on a loaded 2-core machine
});

describe("rmq cluster, group, offset", () => {
  test("cluster list shows the broker with its TPS", async () => {
    const view = await json(["cluster", "list"]);
    expect(view.brokers[0]).toMatchObject({ brokerName: "broker-a", role: "master", address: server.system.brokerAddress });
    const table = await rmq(["cluster", "list"], { RMQ_ADMIN_URL: server.adminUrl });
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^CLUSTER\s+BROKER\s+ID\s+ROLE\s+ADDRESS\s+TPS IN\s+TPS OUT/);
    expect(table.stdout).toMatch(/DefaultCluster\s+broker-a\s+0\s+master/);
  });

  test("offset reset moves a group's offsets and group list/progress show the lag", async () => {
    const send = await rmq(["send", "-t", "lagged", "-b", "m", "--count", "3", "-n", server.namesrv]);
    expect(send.code).toBe(0);
    const reset = await json(["offset", "reset", "-g", "billing", "-t", "lagged", "--to", "earliest"]);
    expect(reset.group).toBe("billing");
    expect(reset.queues.every((q: { offset: number }) => q.offset === 0)).toBe(true);

    const groups = await json(["group", "list"]);
    expect(groups.groups).toContainEqual(expect.objectContaining({ group: "billing", totalLag: 3, topics: ["lagged"] }));
    const progress = await json(["group", "progress", "-g", "billing"]);
    expect(progress.totalLag).toBe(3);
    const table = await rmq(["group", "progress", "--group", "billing", ...admin]);
    expect(table.stdout).toMatch(/^Total lag:\s+3$/m);
    expect(table.stdout).toMatch(/^TOPIC\s+BROKER\s+QUEUE\s+BROKER OFFSET\s+CONSUMER OFFSET\s+LAG$/m);

    const latest = await rmq(["offset", "reset", "-g", "billing", "-t", "lagged", "--to", "latest", ...admin]);
    expect(latest.code).toBe(0);
    expect(latest.stdout).toContain('Reset 4 queue(s) of group "billing" to latest');
    expect((await json(["group", "progress", "-g", "billing"])).totalLag).toBe(0);
    const byTime = await json(["offset", "reset", "-g", "billing", "-t", "lagged", "--to", "2020-01-01T00:00:00Z"]);
    expect(byTime.queues.reduce((n: number, q: { offset: number }) => n + q.offset, 0)).toBe(0);

    const [badTarget, noTopic, noGroup] = await Promise.all([
      rmq(["offset", "reset", "-g", "billing", "-t", "lagged", "--to", "yesterday", ...admin]),
      rmq(["offset", "reset", "-g", "billing", "-t", "ghost", "--to", "latest", ...admin]),
      rmq(["group", "progress", "-g", "nobody", ...admin]),
    ]);
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toContain('Invalid value "yesterday" for --to');
    expect(noTopic.code).toBe(1);
    expect(noTopic.stderr).toContain('Topic "ghost" does not exist');
    expect(noGroup.code).toBe(1);
    expect(noGroup.stderr).toContain('Consumer group "nobody" has no offsets');
  });
});

describe("rmq group update", () => {
  test("sets a group's FIFO flag, retry limit and policy, which the broker then applies; what is left out stays; bad values are usage errors", async () => {
    const set = await rmq(["group", "update", "-g", "fifo-orders", "--fifo", "--retry-max-times", "3", "--retry-policy", "exponential:500:8000:2", ...admin]);
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toMatch(/^FIFO:\s+yes$/m);
    expect(set.stdout).toMatch(/^Retry max times:\s+3$/m);
    expect(set.stdout).toMatch(/^Retry policy:\s+exponential from 500 ms, x2, at most 8000 ms$/m);
    const groups = server.system.broker.context.groups;
    expect(groups.get("fifo-orders")).toMatchObject({ consumeMessageOrderly: true, retryMaxTimes: 3 });
    const later = await json(["group", "update", "-g", "fifo-orders", "--retry-policy", "customized:100,1000"]);
    expect(later.config).toMatchObject({
      consumeMessageOrderly: true,
      retryMaxTimes: 3,
      retryPolicy: { type: "CUSTOMIZED", backoffMs: [100, 1000] },
    });
    const off = await json(["group", "update", "-g", "fifo-orders", "--no-fifo", "--no-consume-enable"]);
    expect(off.config).toMatchObject({ consumeMessageOrderly: false, consumeEnable: false });
    const detail = await json(["group", "progress", "-g", "fifo-orders"]);
    expect(detail.config).toMatchObject({ retryMaxTimes: 3, consumeEnable: false });
    const [tooMany, badPolicy] = await Promise.all([
      rmq(["group", "update", "-g", "fifo-orders", "--retry-max-times", "65", ...admin]),
      rmq(["group", "update", "-g", "fifo-orders", "--retry-policy", "linear:5", ...admin]),
    ]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain("--retry-max-times");
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.stderr).toContain('expected "exponential:<initialMs>:<maxMs>:<multiplier>"');
    expect(groups.get("fifo-orders").retryMaxTimes).toBe(3);
  });
});

describe("rmq msg", () => {
  test("get, query-key and browse find sent messages", async () => {
    const sent = JSON.parse((await rmq(["send", "-t", "lookup", "-b", "hello world", "--keys", "order-7", "--tags", "A", "-n", server.namesrv, "--json"])).stdout);
    expect(sent).toMatchObject({ status: "SEND_OK", topic: "lookup" });
    const got = await json(["msg", "get", "--id", sent.msgId]);
    expect(got.message).toMatchObject({ msgId: sent.msgId, topic: "lookup", body: "hello world", tags: "A", keys: ["order-7"] });
    const shown = await rmq(["msg", "get", "-i", sent.msgId, ...admin]);
    expect(shown.stdout).toMatch(/^Topic:\s+lookup$/m);
    expect(shown.stdout.trimEnd().endsWith("hello world")).toBe(true);
    // The unique key, what RocketMQ clients show as the message id, works too (through the key index).
    expect(got.message.uniqueKey).toMatch(/^[0-9A-F]{32}$/);
    const byKey = await rmq(["msg", "get", "-i", got.message.uniqueKey, ...admin]);
    expect(byKey.code).toBe(0);
    expect(byKey.stdout).toMatch(new RegExp(`^Message id:\\s+${sent.msgId}$`, "m"));
    const byKeyJson = await json(["msg", "get", "-i", got.message.uniqueKey]);
    expect(byKeyJson.lookup).toEqual({ by: "uniqueKey", matches: 1, complete: true });

    const found = await json(["msg", "query-key", "-t", "lookup", "-k", "order-7"]);
    expect(found.messages.map((m: { msgId: string }) => m.msgId)).toEqual([sent.msgId]);
    expect(found).toMatchObject({ matched: 1, complete: true });
    const table = await rmq(["msg", "query-key", "-t", "lookup", "-k", "order-7", ...admin]);
    expect(table.stdout).toMatch(/^QUEUE\s+OFFSET\s+MSG ID/);
    expect(table.stdout).toContain(sent.msgId);
    expect(table.stdout).toContain("1 match(es)\n");
    const none = await rmq(["msg", "query-key", "-t", "lookup", "-k", "nothing", ...admin]);
    expect(none.stdout).toContain("0 match(es)\n");
    // A time range before the message was sent finds nothing; ISO 8601 and ms both work.
    const before = await json(["msg", "query-key", "-t", "lookup", "-k", "order-7", "--end", "2001-01-01T00:00:00Z"]);
    expect(before).toMatchObject({ matched: 0, complete: true });
    const since = await json(["msg", "query-key", "-t", "lookup", "-k", "order-7", "--begin", "1000"]);
    expect(since.matched).toBe(1);
    const badTime = await rmq(["msg", "query-key", "-t", "lookup", "-k", "order-7", "--begin", "yesterday", ...admin]);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain("expected ms since the epoch or an ISO 8601 time");

    const page = await json(["msg", "browse", "-t", "lookup", "--queue", String(sent.queueId)]);
    expect(page.messages[0]).toMatchObject({ msgId: sent.msgId, queueOffset: 0 });
    const everyQueue = await rmq(["msg", "browse", "-t", "lookup", ...admin]);
    expect(everyQueue.stdout).toContain(sent.msgId);
    expect(everyQueue.stdout).toContain("hello world");

    const [badId, unknownId] = await Promise.all([
      rmq(["msg", "get", "--id", "xyz", ...admin]),
      rmq(["msg", "get", "--id", "7F00000100004DC700000000FFFFFFFF", ...admin]),
    ]);
    expect(badId.code).toBe(2);
    expect(unknownId.code).toBe(1);
    expect(unknownId.stderr).toMatch(/^Error: .*(No message|was stored by).*\(HTTP 404 NOT_FOUND\)\n$/);
  });
});

describe("rmq dlq", () => {
  test("list and resend dead letters, one and all", async () => {
    const ids = [await putDeadLetter("payments", "p1", "invoices"), await putDeadLetter("payments", "p2", "invoices"), await putDeadLetter("payments", "p3", "invoices")];
    const listed = await json(["dlq", "list", "-g", "payments"]);
    expect(listed.total).toBe(3);
    expect(listed.messages.map((m: { msgId: string }) => m.msgId)).toEqual(ids);
    const table = await rmq(["dlq", "list", "-g", "payments", ...admin]);
    expect(table.stdout).toMatch(/^MSG ID\s+ORIGINAL TOPIC\s+RECONSUMED/);
    expect(table.stdout).toContain('3 dead letter(s) for group "payments"');
    expect((await json(["dlq", "list", "-g", "nobody"])).total).toBe(0);

    const one = await json(["dlq", "resend", "-g", "payments", "--id", ids[0]!]);
    expect(one).toMatchObject({ deadLetterId: ids[0], topic: "invoices" });
    const all = await rmq(["dlq", "resend", "-g", "payments", "--all", ...admin]);
    expect(all).toMatchObject({ code: 0, stderr: "" }); // not a terminal: no progress bar
    expect(all.stdout).toBe('Resent 3 of 3 dead letter(s) of group "payments"\n');
    const invoices = await json(["topic", "status", "-t", "invoices"]);
    expect(invoices.messages).toBe(4);

    const [neither, both] = await Promise.all([
      rmq(["dlq", "resend", "-g", "payments", ...admin]),
      rmq(["dlq", "resend", "-g", "payments", "--all", "--id", ids[0]!, ...admin]),
    ]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain("Give either --id <msgId> or --all");
    expect(both.code).toBe(2);
  });
});

describe("connection and authorization failures", () => {
  test("an unreachable admin API exits 3; a wrong URL exits 2", async () => {
    const port = await freePort();
    const [down, badUrl, envDown] = await Promise.all([
      rmq(["topic", "list", "--server", `http://127.0.0.1:${port}`]),
      rmq(["topic", "list", "--server", "not a url"]),
      rmq(["cluster", "list"], { RMQ_ADMIN_URL: `http://127.0.0.1:${port}` }),
    ]);
    expect(down.code).toBe(3);
    expect(down.stderr).toStartWith(`Error: Cannot connect to the admin API at http://127.0.0.1:${port}`);
    expect(badUrl.code).toBe(2);
    expect(envDown.code).toBe(3);
  });

  test("changes need the token when the admin API has one", async () => {
    const guarded = await startCliServer("s3cret-token");
    try {
      const url = ["--server", guarded.adminUrl];
      const denied = await rmq(["topic", "create", "-t", "locked", ...url]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain(`The admin API at ${guarded.adminUrl} needs its token for changes: pass --token (or set RMQ_ADMIN_TOKEN) (HTTP 401 UNAUTHORIZED)`);
      const wrong = await rmq(["topic", "create", "-t", "locked", "--token", "nope", ...url]);
      expect(wrong.stderr).toContain("The bearer token is wrong");
      expect((await rmq(["topic", "create", "-t", "locked", "--token", "s3cret-token", ...url])).code).toBe(0);
      expect((await rmq(["topic", "delete", "-t", "locked", ...url], { RMQ_ADMIN_TOKEN: "s3cret-token" })).code).toBe(0);
      // Reads need no token.
      expect((await rmq(["topic", "list", ...url])).code).toBe(0);
    } finally {
      await guarded.close();
    }
  });
});
