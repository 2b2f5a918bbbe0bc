/**
 * Remoting frame fuzzing against a live broker and a live NameServer (child processes on real
 * sockets), like `frames_fuzz_test.ts` for the native codec: every mapped request code with its
 * extFields and JSON bodies mutated, in JSON and ROCKETMQ headers, then frames that are malformed
 * (bit flips, truncation, lying header lengths, unknown serialize types, bad or deep JSON, noise).
 * Asserts no crash, no hang (remoting and native probes answered in time every PROBE_EVERY cases),
 * bounded broker memory, no processor failing unexpectedly, and clients working afterwards.
 *
 * FUZZ_CASES (default 30000) and TEST_SEED (see tests/_helpers/random.ts) tune a run:
 *   FUZZ_CASES=5000 TEST_SEED=42 bun test tests/fuzz/remoting_fuzz_test.ts
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { encodeRemotingFrame, type RemotingCommand, SerializeType } from "../../core/codec/remoting_frame.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Connection, connect } from "../../core/remoting/connection.ts";
import { BUN, type Server, start, startServer, stop } from "../_helpers/process.ts";
import { replayable, runSeed, seeded } from "../_helpers/random.ts";
import { rss, runFuzzCases } from "../_helpers/fuzz_driver.ts";
import { remotingClient, type RemotingTestClient } from "../_helpers/remoting.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 30_000);
const SEED = runSeed();
const CONCURRENCY = 32;
const PROBE_EVERY = 2_000;
const PROBE_TIMEOUT_MS = 2_000;
const MAX_RSS_GROWTH = 160 * 1024 * 1024;
const MAX_FRAME_SIZE = 1024 * 1024;

const rng = seeded(SEED);
const { int, pick, chance } = rng;
const enc = new TextEncoder();

const STRINGS = [
  "", "fz", "%RETRY%fz", "a".repeat(200), "bad name", "x\u0000y", "日本語", "\ud800", "*", "TagA || TagB", "-1", "NaN", "1e400",
  "__proto__", "constructor", "9223372036854775807", "-9223372036854775808", "0x10", " 7 ", "true", "TRUE", "null",
  "TAGS\u0001a\u0002", "TRAN_MSG\u0001true\u0002", "DELAY\u000199\u0002", "\u0001\u0002", "k".repeat(40_000),
];
const NUMBERS = [0, 1, -1, 4, 32, 1024, 1025, 0x7fffffff, -0x80000000, 2 ** 53, 1.5, 1e300];

function value(): string | number | boolean {
  switch (int(4)) {
    case 0:
      return pick(STRINGS);
    case 1:
      return pick(NUMBERS);
    case 2:
      return chance(0.5);
    default:
      return String(int(1000) - 10);
  }
}

function json(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** A valid request of every mapped code, as RocketMQ clients send it. */
const TEMPLATES: { code: number; fields: () => Record<string, string | number | boolean>; body?: () => Uint8Array; nameserver?: boolean }[] = [
  { code: RequestCode.SEND_MESSAGE_V2, fields: () => ({ a: "PG", b: "fz", c: "TBW102", d: 4, e: int(4), f: int(2), g: Date.now(), h: 0, i: "TAGS\u0001t\u0002", j: 0, k: false }), body: () => rng.bytes(1 + int(200)) },
  { code: RequestCode.SEND_MESSAGE, fields: () => ({ producerGroup: "PG", topic: "fz", defaultTopic: "TBW102", defaultTopicQueueNums: 4, queueId: int(4), sysFlag: 0, bornTimestamp: Date.now(), flag: 0, properties: "KEYS\u0001k" }), body: () => rng.bytes(1 + int(200)) },
  { code: RequestCode.SEND_BATCH_MESSAGE, fields: () => ({ a: "PG", b: "fz", d: 4, e: 0, f: 0, g: 1, m: true }), body: () => {
    const body = rng.bytes(int(60));
    const out = new Uint8Array(22 + body.length);
    const view = new DataView(out.buffer);
    view.setInt32(0, out.length);
    view.setInt32(16, body.length);
    out.set(body, 20);
    return out;
  } },
  { code: RequestCode.PULL_MESSAGE, fields: () => ({ consumerGroup: "g", topic: "fz", queueId: 0, queueOffset: int(50), maxMsgNums: 32, sysFlag: int(8), commitOffset: int(3) - 1, suspendTimeoutMillis: int(2) * 200, subscription: "*", subVersion: 1 }) },
  { code: RequestCode.QUERY_CONSUMER_OFFSET, fields: () => ({ consumerGroup: "g", topic: "fz", queueId: 0 }) },
  { code: RequestCode.UPDATE_CONSUMER_OFFSET, fields: () => ({ consumerGroup: "g", topic: "fz", queueId: 0, commitOffset: int(100) - 1 }) },
  { code: RequestCode.GET_MAX_OFFSET, fields: () => ({ topic: "fz", queueId: int(5) }) },
  { code: RequestCode.GET_MIN_OFFSET, fields: () => ({ topic: "fz", queueId: 0 }) },
  { code: RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, fields: () => ({ topic: "fz", queueId: 0, timestamp: Date.now() }) },
  { code: RequestCode.HEART_BEAT, fields: () => ({}), body: () => json({ clientID: "fuzz@1", consumerDataSet: [{ groupName: "g", consumeType: "CONSUME_PASSIVELY", messageModel: "CLUSTERING", consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET", subscriptionDataSet: [{ topic: "fz", subString: "*", subVersion: 1 }] }], producerDataSet: [{ groupName: "PG" }] }) },
  { code: RequestCode.UNREGISTER_CLIENT, fields: () => ({ clientID: "fuzz@1", consumerGroup: "g" }) },
  { code: RequestCode.GET_CONSUMER_LIST_BY_GROUP, fields: () => ({ consumerGroup: "g" }) },
  { code: RequestCode.CONSUMER_SEND_MSG_BACK, fields: () => ({ offset: int(10_000), group: "g", delayLevel: int(3) - 1, originMsgId: "", originTopic: "fz", unitMode: false, maxReconsumeTimes: 16 }) },
  { code: RequestCode.LOCK_BATCH_MQ, fields: () => ({}), body: () => json({ consumerGroup: "g", clientId: "fuzz@1", mqSet: [{ topic: "fz", brokerName: "broker-a", queueId: 0 }] }) },
  { code: RequestCode.UNLOCK_BATCH_MQ, fields: () => ({}), body: () => json({ consumerGroup: "g", clientId: "fuzz@1", mqSet: [] }) },
  { code: RequestCode.VIEW_MESSAGE_BY_ID, fields: () => ({ offset: int(100_000) }) },
  { code: RequestCode.UPDATE_AND_CREATE_TOPIC, fields: () => ({ topic: "fz", readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false }) },
  { code: RequestCode.GET_BROKER_RUNTIME_INFO, fields: () => ({}) },
  { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, nameserver: true, fields: () => ({ topic: "fz" }) },
  { code: RequestCode.GET_BROKER_CLUSTER_INFO, nameserver: true, fields: () => ({}) },
  { code: RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, nameserver: true, fields: () => ({}) },
  { code: RequestCode.DELETE_TOPIC_IN_NAMESRV, nameserver: true, fields: () => ({ topic: "fz_gone" }) },
];

function mutate(fields: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  for (let n = int(3); n >= 0; n--) {
    const keys = Object.keys(fields);
    const choice = int(4);
    if (choice < 2 && keys.length > 0) fields[pick(keys)] = value();
    else if (choice === 2 && keys.length > 0) delete fields[pick(keys)];
    else fields[pick(STRINGS).slice(0, 30) || "x"] = value();
  }
  return fields;
}

function mutateBody(body: Uint8Array): Uint8Array {
  const out = body.slice();
  if (out.length === 0) return rng.bytes(int(50));
  switch (int(4)) {
    case 0:
      for (let i = 1 + int(4); i > 0; i--) out[int(out.length)]! ^= 1 << int(8);
      return out;
    case 3: {
      const depth = pick([20, 5_000, 300_000]);
      return enc.encode(`{"clientID":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    }
    case 1:
      return out.subarray(0, int(out.length));
    default:
      return json(pick([[], {}, null, 1, "x", { clientID: 5 }, { consumerGroup: "g", clientId: "c", mqSet: [{ topic: 1 }] }]));
  }
}

let nextOpaque = 1;

/** A JSON header as ali-ons writes it (numbers and booleans raw), or a ROCKETMQ one. */
function frameOf(code: number, fields: Record<string, string | number | boolean>, body: Uint8Array | undefined, type: SerializeType): Uint8Array {
  if (type === SerializeType.ROCKETMQ) {
    const command: RemotingCommand = {
      code, language: "JAVA", version: 401, opaque: nextOpaque++, flag: chance(0.9) ? 0 : 2, serializeType: type,
      extFields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)])),
    };
    if (body !== undefined) command.body = body;
    return encodeRemotingFrame(command);
  }
  const header = enc.encode(JSON.stringify({ code, language: "JAVA", opaque: nextOpaque++, flag: chance(0.9) ? 0 : 2, version: pick([121, 401]), extFields: fields }));
  const out = new Uint8Array(8 + header.length + (body?.length ?? 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length - 4);
  view.setUint32(4, header.length);
  out.set(header, 8);
  if (body !== undefined) out.set(body, 8 + header.length);
  return out;
}

function commandCase(toNameServer: boolean): Uint8Array {
  const template = pick(TEMPLATES.filter((t) => (t.nameserver ?? false) === toNameServer));
  const code = chance(0.05) ? int(70_000) - 100 : template.code;
  const fields = chance(0.15) ? template.fields() : mutate(template.fields());
  let body = template.body?.();
  if (body !== undefined && chance(0.5)) body = mutateBody(body);
  return frameOf(code, fields, body, chance(0.7) ? SerializeType.JSON : SerializeType.ROCKETMQ);
}

/** Frames after which the server closes the connection. */
function badCase(toNameServer: boolean): { bytes: Uint8Array; kind: string } {
  const header = (type: number, length: number, rest: Uint8Array) => {
    const out = new Uint8Array(8 + rest.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, 4 + rest.length);
    view.setUint32(4, ((type << 24) | length) >>> 0);
    out.set(rest, 8);
    return out;
  };
  switch (int(8)) {
    case 0: {
      const bytes = commandCase(toNameServer);
      for (let i = 1 + int(8); i > 0; i--) bytes[4 + int(bytes.length - 4)]! ^= 1 << int(8);
      return { bytes, kind: "bitflip" };
    }
    case 1: {
      const bytes = commandCase(toNameServer);
      return { bytes: bytes.subarray(0, int(bytes.length)), kind: "truncated" };
    }
    case 2:
      return { bytes: header(pick([0, 1]), pick([0xffffff, 0x7fffff, 2 ** 20 + 1]), rng.bytes(int(40))), kind: "header-length-lies" };
    case 3:
      return { bytes: header(pick([2, 7, 0x7f, 0xff]), 2, enc.encode("{}")), kind: "serialize-type" };
    case 4: {
      const depth = pick([100, 10_000, 200_000]);
      const text = `{"code":10,"extFields":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      const bytes = enc.encode(text);
      return { bytes: header(0, bytes.length, bytes), kind: "deep-json" };
    }
    case 5: {
      const bytes = enc.encode(pick(['{"code":"10"}', '{"code":10,"opaque":1e40}', "[]", "null", '{"code":10,"remark":5}', "\u00ff"]));
      return { bytes: header(0, bytes.length, bytes), kind: "json-shape" };
    }
    case 6: {
      const length = pick([MAX_FRAME_SIZE + 1, 0x7fffffff, 0xffffffff]);
      const bytes = new Uint8Array(8 + int(16));
      new DataView(bytes.buffer).setUint32(0, length >>> 0);
      return { bytes, kind: "huge-frame" };
    }
    default:
      return { bytes: rng.bytes(5 + int(64)), kind: "noise" };
  }
}

let dataDir: string;
let nameServer: Server;
let broker: Server;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "rmq-rfuzz-"));
  nameServer = await startServer(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", "0"]);
  broker = await startServer(BUN, [
    "run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "-n", `127.0.0.1:${nameServer.port}`, "--data-dir", dataDir,
    "--auto-create-topic", "--max-frame-size", String(MAX_FRAME_SIZE),
  ]);
});

afterAll(async () => {
  if (broker !== undefined) await stop(broker);
  if (nameServer !== undefined) await stop(nameServer);
  rmSync(dataDir, { recursive: true, force: true });
});

test(`remoting fuzzing: ${CASES} cases leave the broker and NameServer alive, responsive and bounded`, () => replayable(fuzz, rng), 240_000);

async function fuzz(): Promise<void> {
  console.log(`remoting fuzz: ${CASES} cases, seed ${SEED} (TEST_SEED=${SEED} reproduces the case sequence)`);
  const started = performance.now();
  const brokerProbe: RemotingTestClient = await remotingClient(dial, `127.0.0.1:${broker.port}`);
  const nsProbe: RemotingTestClient = await remotingClient(dial, `127.0.0.1:${nameServer.port}`, { serializeType: SerializeType.ROCKETMQ });
  const nativeProbe: Connection = await connect(dial, `127.0.0.1:${broker.port}`);
  const warm = await brokerProbe.request(RequestCode.SEND_MESSAGE_V2, { a: "PG", b: "fz", e: 0, g: 1 }, new Uint8Array(1));
  expect(warm.code).toBe(ResponseCode.SUCCESS);
  const rssBefore = rss(broker.pid);
  let probes = 0;
  let maxProbeMs = 0;
  const probe = async () => {
    const t0 = performance.now();
    const [b, n, native] = await Promise.all([
      brokerProbe.request(RequestCode.GET_MAX_OFFSET, { topic: "fz", queueId: 0 }, undefined, PROBE_TIMEOUT_MS),
      nsProbe.request(RequestCode.GET_BROKER_CLUSTER_INFO, {}, undefined, PROBE_TIMEOUT_MS),
      nativeProbe.request(RequestCode.GET_MAX_OFFSET, { topic: "fz", queueId: 0 }, undefined, PROBE_TIMEOUT_MS),
    ]);
    expect([b.code, n.code, native.code]).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
    maxProbeMs = Math.max(maxProbeMs, performance.now() - t0);
    probes++;
  };
  const { generated, slow, kinds } = await runFuzzCases({
    cases: CASES, concurrency: CONCURRENCY, random: rng, nameServerShare: 0.25, ports: { broker: broker.port, nameServer: nameServer.port },
    commandCase, badCase, probe, probeEvery: PROBE_EVERY,
  });
  await probe();
  const rssAfter = rss(broker.pid);
  console.log(
    `remoting fuzz: ${generated} cases in ${((performance.now() - started) / 1000).toFixed(1)} s; ${probes} probes, slowest ${maxProbeMs.toFixed(0)} ms; ` +
      `slow closes ${slow}; broker RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB; kinds ${JSON.stringify(Object.fromEntries(kinds))}`,
  );
  const running = await Promise.race([broker.exited, nameServer.exited, new Promise((resolve) => setTimeout(() => resolve("running"), 50))]);
  expect(running).toBe("running");
  expect(slow).toBe(0);
  expect(rssAfter - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  // Malformed frames are reported as such (the first bytes, a header length, bad JSON), never as a crash.
  expect(broker.output()).toMatch(/closed: Bad frame from 127\.0\.0\.1:\d+: (Remoting|ROCKETMQ|First bytes|Frame length)/);
  expect(broker.output()).not.toMatch(/panic|Segmentation fault|Maximum call stack/);
  // No processor threw: every hostile request was refused with a field error or a domain code.
  expect(broker.output().match(/Request \d+ failed.*/)?.[0]).toBeUndefined();
  expect(nameServer.output().match(/Request \d+ failed.*/)?.[0]).toBeUndefined();
  brokerProbe.close();
  nsProbe.close();
  nativeProbe.close();
  const roundtrip = start(BUN, ["tests/_fixtures/client_roundtrip.ts", `127.0.0.1:${nameServer.port}`, "rfuzz_roundtrip", "200"]);
  expect(await roundtrip.exited).toBe(0);
  expect(roundtrip.output()).toContain("ROUNDTRIP OK 200");
  await stop(broker);
  await stop(nameServer);
  expect(await broker.exited).toBe(0);
  expect(await nameServer.exited).toBe(0);
}
