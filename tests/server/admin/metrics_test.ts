import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { PullSysFlag, RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { until } from "../../_helpers/wait.ts";
import { LimitExceededError } from "../../../core/errors.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

beforeEach(async () => {
  f = await startAdminFixture();
});

afterEach(async () => {
  await f.close();
});

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function scrape(): Promise<Map<string, number>> {
  const r = await f.app.request("/metrics");
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return parse(await r.text());
}

const B = 'broker="broker-a",broker_id="0"';

describe("admin /metrics", () => {
  test("counters move after sends and pulls", async () => {
    const before = await scrape();
    expect(before.get(`rocketmq_messages_in_total{${B},topic="orders"}`)).toBeUndefined();
    expect(before.get(`rocketmq_send_latency_seconds_count{${B}}`)).toBe(0);
    expect(before.get('rocketmq_build_info{version="9.9.9",role="standalone"}')).toBe(1);

    const client = await f.client();
    const enc = new TextEncoder();
    for (let i = 0; i < 3; i++) {
      const sent = await client.request(RequestCode.SEND_MESSAGE, { topic: "orders", queueId: 0, bornTimestamp: Date.now() }, enc.encode("hello"));
      expect(sent.code).toBe(ResponseCode.SUCCESS);
    }
    const pulled = await client.request(RequestCode.PULL_MESSAGE, { consumerGroup: "g", topic: "orders", queueId: 0, queueOffset: 0, maxMsgNums: 2 });
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    f.system.broker.context.offsets.commit("g", "orders", 0, 2);

    const after = await scrape();
    expect(after.get(`rocketmq_messages_in_total{${B},topic="orders"}`)).toBe(3);
    expect(after.get(`rocketmq_bytes_in_total{${B},topic="orders"}`)).toBe(15);
    expect(after.get(`rocketmq_messages_out_total{${B},topic="orders"}`)).toBe(2);
    expect(after.get(`rocketmq_bytes_out_total{${B},topic="orders"}`)).toBe(pulled.body!.length);
    expect(after.get(`rocketmq_send_latency_seconds_count{${B}}`)).toBe(3);
    expect(after.get(`rocketmq_send_latency_seconds_bucket{${B},le="+Inf"}`)).toBe(3);
    expect(after.get(`rocketmq_send_latency_seconds_sum{${B}}`)).toBeGreaterThan(0);
    expect(after.get(`rocketmq_consumer_lag{${B},group="g",topic="orders"}`)).toBe(1);
    expect(after.get(`rocketmq_store_size_bytes{${B}}`)).toBeGreaterThan(0);
    expect(after.get(`rocketmq_commitlog_max_offset_bytes{${B}}`)).toBe(f.system.broker.context.store.stats.commitLogMaxOffset);
    expect(after.get(`rocketmq_connections{${B}}`)).toBe(1);
    expect(after.get(`rocketmq_pending_long_polls{${B}}`)).toBe(0);
    expect(after.get(`rocketmq_disk_free_bytes{${B}}`)).toBeGreaterThan(0);
    expect(after.get("rocketmq_namesrv_live_brokers")).toBe(1);

    // Buckets are cumulative and end at the count.
    const buckets = [...after.entries()].filter(([k]) => k.startsWith("rocketmq_send_latency_seconds_bucket")).map(([, v]) => v);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
  });

  test("sends from the admin API count too, and a send the store refuses is an error", async () => {
    await f.call("POST", "/api/topics/orders/messages", { body: "abc" });
    const before = await scrape();
    expect(before.get(`rocketmq_messages_in_total{${B},topic="orders"}`)).toBe(1);
    expect(before.get(`rocketmq_bytes_in_total{${B},topic="orders"}`)).toBe(3);
    expect(before.get(`rocketmq_send_errors_total{${B}}`)).toBe(0);
    // Under the broker's body limit (4 MiB) but larger than a 1 MiB segment: the store refuses it.
    const client = await f.client();
    const refused = await client.request(RequestCode.SEND_MESSAGE, { topic: "orders", queueId: 0, bornTimestamp: Date.now() }, new Uint8Array(1024 * 1024));
    expect(refused.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(refused.remark).toContain("exceeds the limit");
    const after = await scrape();
    expect(after.get(`rocketmq_send_errors_total{${B}}`)).toBe(1);
    expect(after.get(`rocketmq_messages_in_total{${B},topic="orders"}`)).toBe(1);
    expect(after.get(`rocketmq_bytes_in_total{${B},topic="orders"}`)).toBe(3);
  });

  test("the pending long-poll gauge counts a parked pull and drops when a message wakes it", async () => {
    const client = await f.client();
    const enc = new TextEncoder();
    expect((await client.request(RequestCode.SEND_MESSAGE, { topic: "polled", queueId: 0, bornTimestamp: Date.now() }, enc.encode("first"))).code).toBe(ResponseCode.SUCCESS);
    expect((await scrape()).get(`rocketmq_pending_long_polls{${B}}`)).toBe(0);
    const parked = client.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: "g",
      topic: "polled",
      queueId: 0,
      queueOffset: 1,
      maxMsgNums: 8,
      sysFlag: PullSysFlag.SUSPEND,
      suspendTimeoutMillis: 30_000,
    }, undefined, 40_000);
    await until(() => f.system.broker.context.holds.size === 1, 5000, "the pull to be parked");
    expect((await scrape()).get(`rocketmq_pending_long_polls{${B}}`)).toBe(1);
    expect((await client.request(RequestCode.SEND_MESSAGE, { topic: "polled", queueId: 0, bornTimestamp: Date.now() }, enc.encode("second"))).code).toBe(ResponseCode.SUCCESS);
    expect((await parked).code).toBe(ResponseCode.SUCCESS);
    expect((await scrape()).get(`rocketmq_pending_long_polls{${B}}`)).toBe(0);
  });

  test("incomplete frames, connections cut and busy long polls are exported, once for standalone's shared guard", async () => {
    const guard = f.system.broker.context.connectionGuard;
    expect(f.system.nameServer.connectionGuard).toBe(guard);
    const raw = await f.net.dial(f.system.brokerAddress, { data() {}, close() {} });
    // An 8 MiB length prefix and 100 bytes of the frame.
    raw.write(new Uint8Array([0, 0x80, 0, 0, ...new Uint8Array(100)]));
    await until(() => guard.pendingFrameBytes.untrusted > 0, 2000, "the broker to buffer the incomplete frame", 5);
    guard.open("10.0.0.1").closed("10.0.0.1:1", new LimitExceededError("handshakeTimeoutMs", "No whole frame"));
    const text = await (await f.app.request("/metrics")).text();
    expect(text.match(/^# TYPE rocketmq_pending_frame_bytes gauge$/gm)).toHaveLength(1);
    const samples = parse(text);
    expect(samples.get('rocketmq_pending_frame_bytes{server="broker",peer="unauthenticated"}')).toBe(64 * 1024);
    expect(samples.get('rocketmq_pending_frame_bytes{server="broker",peer="authenticated"}')).toBe(0);
    expect(samples.get('rocketmq_connections_cut_total{server="broker",limit="handshakeTimeoutMs"}')).toBe(1);
    expect(samples.get(`rocketmq_long_poll_busy_total{${B}}`)).toBe(0);
    raw.close();
  });

  test("label values are escaped", async () => {
    f.system.broker.context.offsets.commit('we"ird', "orders", 0, 0);
    const text = await (await f.app.request("/metrics")).text();
    expect(text).toContain('group="we\\"ird"');
  });
});
