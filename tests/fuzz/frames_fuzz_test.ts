/**
 * Frame fuzzing against a live broker and a live NameServer (child processes on real sockets):
 * random, mutated, truncated, oversized, deeply nested and wrongly typed frames, and every request
 * schema's header mutated, on many connections. Asserts no crash, no hang (a normal client's probe
 * is answered in time every PROBE_EVERY cases), bounded broker memory, and that a normal producer
 * and consumer still work afterwards.
 *
 * FUZZ_CASES (default 100000) and TEST_SEED (default: fixed under CI=true, else random; printed, and
 * named in a failure; FUZZ_SEED is read too) tune a run:
 *   FUZZ_CASES=20000 TEST_SEED=42 bun test tests/fuzz/frames_fuzz_test.ts
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Connection, connect } from "../../core/remoting/connection.ts";
import { BUN, type Server, start, startServer, stop } from "../_helpers/process.ts";
import { replayable, runSeed, seeded } from "../_helpers/random.ts";
import { rss, runFuzzCases } from "../_helpers/fuzz_driver.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
// CI runs one fixed sequence (reproducible, never flaky); elsewhere every run explores a new one.
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : runSeed();
/** Sockets writing cases at once. */
const CONCURRENCY = 32;
/** A probe request on a normal connection after every this many cases. */
const PROBE_EVERY = 2_000;
/** A probe must be answered within this. */
const PROBE_TIMEOUT_MS = 2_000;
/** Broker RSS may grow by at most this over the run. */
const MAX_RSS_GROWTH = 160 * 1024 * 1024;
/** The broker's frame limit in this test (small, so oversized cases are cheap). */
const MAX_FRAME_SIZE = 1024 * 1024;

// ---- deterministic randomness -------------------------------------------------------------------

const rng = seeded(SEED);
const { int, pick, chance } = rng;
const randomBytes = rng.bytes;

// ---- a CBOR writer that can also write what a well-behaved encoder never would ------------------

class Bytes {
  buf = new Uint8Array(256);
  len = 0;
  push(...bytes: number[]): void {
    this.room(bytes.length);
    for (const b of bytes) this.buf[this.len++] = b & 0xff;
  }
  append(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  take(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function head(out: Bytes, major: number, n: number | bigint): void {
  const m = major << 5;
  const v = BigInt(n);
  if (v < 24n) out.push(m | Number(v));
  else if (v < 0x100n) out.push(m | 24, Number(v));
  else if (v < 0x10000n) out.push(m | 25, Number(v >> 8n), Number(v));
  else if (v < 0x100000000n) out.push(m | 26, Number(v >> 24n), Number(v >> 16n), Number(v >> 8n), Number(v));
  else {
    out.push(m | 27);
    for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((v >> shift) & 0xffn));
  }
}

const TEXT = new TextEncoder();
/** Marks a value written as raw CBOR bytes. */
class Raw {
  constructor(readonly bytes: Uint8Array) {}
}

function cbor(out: Bytes, value: unknown): void {
  if (value instanceof Raw) out.append(value.bytes);
  else if (value === null) out.push(0xf6);
  else if (value === undefined) out.push(0xf7);
  else if (value === true) out.push(0xf5);
  else if (value === false) out.push(0xf4);
  else if (typeof value === "bigint") head(out, value < 0n ? 1 : 0, value < 0n ? -1n - value : value);
  else if (typeof value === "number") {
    if (Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER) head(out, value < 0 ? 1 : 0, value < 0 ? -1 - value : value);
    else {
      const b = new Uint8Array(9);
      b[0] = 0xfb;
      new DataView(b.buffer).setFloat64(1, value);
      out.append(b);
    }
  } else if (typeof value === "string") {
    const bytes = TEXT.encode(value);
    head(out, 3, bytes.length);
    out.append(bytes);
  } else if (value instanceof Uint8Array) {
    head(out, 2, value.length);
    out.append(value);
  } else if (Array.isArray(value)) {
    head(out, 4, value.length);
    for (const item of value) cbor(out, item);
  } else if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    head(out, 5, entries.length);
    for (const [k, v] of entries) {
      cbor(out, k);
      cbor(out, v);
    }
  }
}

function frame(item: unknown): Uint8Array {
  const out = new Bytes();
  out.push(0, 0, 0, 0);
  cbor(out, item);
  const bytes = out.take();
  new DataView(bytes.buffer).setUint32(0, bytes.length - 4);
  return bytes;
}

// ---- hostile values -------------------------------------------------------------------------------

const STRINGS = [
  "", "fz", "%RETRY%fz", "a".repeat(128), "b".repeat(300), "bad name", "x\u0000y", "日本語", "\u{1F600}", "*", "TagA || TagB",
  "||||", "(a+)+$", "-1", "NaN", "__proto__", "constructor", "prototype", "%DLQ%", "fz@g", "127.0.0.1:1", ":", "[::1]:0",
  "\u0001key\u0002value\u0001", "DELAY\u000199\u0002", "\ud800", "c".repeat(5000),
];
const NUMBERS = [0, 1, -1, 2, 7, 1024, 1025, 4096, 65535, 0x7fffffff, 0x80000000, -0x80000001, 2 ** 53, -(2 ** 53), 1.5, NaN, Infinity, -Infinity, -0, 1e308];
const BIGINTS = [2n ** 63n, 2n ** 64n - 1n, -(2n ** 64n)];

/** Sets a key as an own property, even "__proto__". */
function setKey(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function randomValue(depth = 0): unknown {
  switch (int(depth > 3 ? 7 : 10)) {
    case 0:
      return pick(NUMBERS);
    case 1:
      return chance(0.3) ? pick(BIGINTS) : int(2 ** 31) - 2 ** 30;
    case 2:
      return pick(STRINGS);
    case 3:
      return chance(0.5) ? randomBytes(int(64)) : new Uint8Array(0);
    case 4:
      return pick([true, false, null, undefined]);
    case 5:
      return new Raw(pick(ODD_ITEMS)());
    case 6:
      return Array.from({ length: int(5) }, () => String.fromCharCode(32 + int(95))).join("");
    case 7:
      return Array.from({ length: int(6) }, () => randomValue(depth + 1));
    case 8:
    case 9: {
      const map: Record<string, unknown> = {};
      for (let i = int(6); i > 0; i--) setKey(map, pick(STRINGS), randomValue(depth + 1));
      return map;
    }
  }
  return null;
}

/** Items a well-behaved encoder never writes: tags, odd simple values, indefinite lengths, heads that lie. */
const ODD_ITEMS: (() => Uint8Array)[] = [
  () => new Uint8Array([0xd8, 0x1b, 0x82, 0x66, ...TEXT.encode("RegExp"), 0x66, ...TEXT.encode("(a+)+$")]), // tag 27
  () => new Uint8Array([0xd8, 0x1b, 0x82, 0x64, ...TEXT.encode("eval"), 0x61, 0x31]),
  () => new Uint8Array([0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00]), // shared reference to itself
  () => new Uint8Array([0xd8, 0x1d, 0x1a, 0x7f, 0xff, 0xff, 0xff]), // reference to nothing
  () => new Uint8Array([0xd9, 0x01, 0x02, 0x82, 0x01, 0x01]), // set
  () => new Uint8Array([0xd9, 0x01, 0x03, 0xa1, 0x01, 0x02]), // map tag
  () => new Uint8Array([0xd8, 0x40 + int(24), 0x43, 1, 2, 3]), // typed arrays with odd lengths
  () => new Uint8Array([0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]), // bignum
  () => new Uint8Array([0xc1, 0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), // epoch date of NaN
  () => new Uint8Array([0xf0 + int(8)]), // unassigned simple values
  () => new Uint8Array([0xf8, int(256)]),
  () => new Uint8Array([0xf9, int(256), int(256)]), // float16
  () => new Uint8Array([0xfa, 0x7f, 0xc0, 0, 0]), // float32 NaN
  () => new Uint8Array([0xff]), // a lone break
  () => new Uint8Array([0x9f, 0x01, 0x02]), // indefinite array with no break
  () => new Uint8Array([0xbf, 0x61, 0x61, 0x01, 0xff]), // indefinite map
  () => new Uint8Array([0x5f, 0x41, 0x01, 0x41, 0x02, 0xff]), // indefinite byte string
  () => new Uint8Array([0x7f, 0x61, 0x61, 0x42, 0x01, 0x02, 0xff]), // chunk of the wrong type
  () => new Uint8Array([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // array of 2^64-1 items
  () => new Uint8Array([0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]), // map of 2^32 entries
  () => new Uint8Array([0x9a, 0x7f, 0xff, 0xff, 0xff, 0x00]), // array of 2^31-1 items
  () => new Uint8Array([0x7b, 0x00, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff]), // 2 GiB text
  () => new Uint8Array([0x5a, 0xff, 0xff, 0xff, 0xff]), // 4 GiB bytes
  () => new Uint8Array([0x1c]), // reserved additional info
  () => new Uint8Array([0x62, 0xc3, 0x28]), // invalid UTF-8
  () => new Uint8Array([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]), // duplicate keys
  () => new Uint8Array([0xa1, 0x81, 0x01, 0x02]), // array as a map key
  () => new Uint8Array([0xa1, 0xa0, 0x01]), // map as a map key
];

// ---- request templates: a valid header of every schema, then mutated ------------------------------

const TEMPLATES: { code: number; header: () => Record<string, unknown>; body?: () => Uint8Array; nameserver?: boolean }[] = [
  { code: RequestCode.SEND_MESSAGE, header: () => ({ topic: "fz", queueId: int(4) - 1, bornTimestamp: Date.now(), properties: "KEYS\u0001k\u0002", flag: 0 }), body: () => randomBytes(int(200)) },
  { code: RequestCode.SEND_BATCH_MESSAGE, header: () => ({ topic: "fz", queueId: 0, bornTimestamp: 1, messages: [{ size: 2 }, { size: 1, properties: "" }] }), body: () => randomBytes(3) },
  { code: RequestCode.PULL_MESSAGE, header: () => ({ consumerGroup: "g", topic: "fz", queueId: 0, queueOffset: int(50), maxMsgNums: 32, sysFlag: int(8), suspendTimeoutMillis: int(2) * 200, subscription: "*" }) },
  { code: RequestCode.GET_MAX_OFFSET, header: () => ({ topic: "fz", queueId: 0 }) },
  { code: RequestCode.GET_MIN_OFFSET, header: () => ({ topic: "fz", queueId: 1 }) },
  { code: RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, header: () => ({ topic: "fz", queueId: 0, timestamp: Date.now() }) },
  { code: RequestCode.QUERY_CONSUMER_OFFSET, header: () => ({ consumerGroup: "g", topic: "fz", queueId: 0 }) },
  { code: RequestCode.UPDATE_CONSUMER_OFFSET, header: () => ({ consumerGroup: "g", topic: "fz", queueId: 0, commitOffset: int(100) }) },
  { code: RequestCode.UPDATE_AND_CREATE_TOPIC, header: () => ({ topic: "fz", readQueueNums: 4, writeQueueNums: 4, perm: 6 }) },
  { code: RequestCode.DELETE_TOPIC_IN_BROKER, header: () => ({ topic: "fz_gone" }) },
  { code: RequestCode.GET_ALL_TOPIC_CONFIG, header: () => ({}) },
  { code: RequestCode.VIEW_MESSAGE_BY_ID, header: () => ({ offset: int(100_000) }) },
  { code: RequestCode.QUERY_MESSAGE, header: () => ({ topic: "fz", key: `k${int(8)}`, maxNum: 1 + int(64), beginTimestamp: int(2) * Date.now(), endTimestamp: Number.MAX_SAFE_INTEGER }) },
  { code: RequestCode.GET_BROKER_RUNTIME_INFO, header: () => ({}) },
  { code: RequestCode.HEART_BEAT, header: () => ({ clientId: "fuzz", consumers: [{ group: "g", consumeType: "PUSH", messageModel: "CLUSTERING", subscriptions: [{ topic: "fz", expression: "*" }] }] }) },
  { code: RequestCode.UNREGISTER_CLIENT, header: () => ({ clientId: "fuzz", consumerGroup: "g" }) },
  { code: RequestCode.GET_CONSUMER_LIST_BY_GROUP, header: () => ({ consumerGroup: "g" }) },
  { code: RequestCode.CONSUMER_SEND_MSG_BACK, header: () => ({ consumerGroup: "g", offset: int(10_000), delayLevel: int(3) - 1 }) },
  { code: RequestCode.LOCK_BATCH_MQ, header: () => ({ consumerGroup: "g", clientId: "fuzz", mqs: [{ topic: "fz", brokerName: "broker-a", queueId: 0 }] }) },
  { code: RequestCode.UNLOCK_BATCH_MQ, header: () => ({ consumerGroup: "g", clientId: "fuzz", mqs: [{ topic: "fz", brokerName: "broker-a", queueId: 0 }] }) },
  { code: RequestCode.REGISTER_BROKER, nameserver: true, header: () => ({ clusterName: "FuzzCluster", brokerName: "fuzz-broker", brokerAddr: "127.0.0.1:1", brokerId: 0, topicConfigs: { fz: { topicName: "fz", readQueueNums: 4, writeQueueNums: 4, perm: 6 } } }) },
  { code: RequestCode.UNREGISTER_BROKER, nameserver: true, header: () => ({ clusterName: "FuzzCluster", brokerName: "fuzz-broker", brokerAddr: "127.0.0.1:1", brokerId: 0 }) },
  { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, nameserver: true, header: () => ({ topic: "fz" }) },
  { code: RequestCode.GET_BROKER_CLUSTER_INFO, nameserver: true, header: () => ({}) },
  { code: RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, nameserver: true, header: () => ({}) },
  { code: RequestCode.DELETE_TOPIC_IN_NAMESRV, nameserver: true, header: () => ({ topic: "fz_gone" }) },
];

function mutateHeader(header: Record<string, unknown>): unknown {
  for (let n = int(3); n >= 0; n--) {
    const keys = Object.keys(header);
    switch (int(6)) {
      case 0:
      case 1:
      case 2:
        if (keys.length > 0) setKey(header, pick(keys), randomValue());
        break;
      case 3:
        if (keys.length > 0) delete header[pick(keys)];
        break;
      case 4:
        setKey(header, pick(STRINGS), randomValue());
        break;
      case 5:
        if (chance(0.2)) return randomValue(); // not a map at all
        break;
    }
  }
  return header;
}

let nextId = 1;

/** A well-framed command: a template's header (mutated most of the time) or a random code. */
function commandCase(toNameServer: boolean): Uint8Array {
  const templates = TEMPLATES.filter((t) => (t.nameserver ?? false) === toNameServer);
  const template = pick(templates);
  const code = chance(0.05) ? int(70_000) - 100 : template.code;
  const header = chance(0.1) ? template.header() : mutateHeader(template.header());
  const item: unknown[] = [code, nextId++, chance(0.9) ? 0 : pick([1, 2, 3, int(2 ** 31)]), header];
  if (template.body !== undefined || chance(0.1)) item.push(chance(0.9) ? (template.body?.() ?? randomBytes(int(100))) : randomValue());
  if (chance(0.03)) item.push(randomValue());
  return frame(item);
}

/** Frames that are malformed: the server closes the connection after one of these. */
function badCase(toNameServer: boolean): { bytes: Uint8Array; kind: string } {
  switch (int(9)) {
    case 0: { // bit flips
      const bytes = commandCase(toNameServer);
      for (let i = 1 + int(8); i > 0; i--) bytes[int(bytes.length)]! ^= 1 << int(8);
      return { bytes, kind: "bitflip" };
    }
    case 1: { // truncated
      const bytes = commandCase(toNameServer);
      return { bytes: bytes.subarray(0, int(bytes.length)), kind: "truncated" };
    }
    case 2: { // length prefix past the limit, or 0
      const length = pick([0, MAX_FRAME_SIZE + 1, 0x7fffffff, 0xffffffff, MAX_FRAME_SIZE + int(1 << 20)]);
      const bytes = new Uint8Array(4 + int(16));
      new DataView(bytes.buffer).setUint32(0, length >>> 0);
      return { bytes, kind: "huge-length" };
    }
    case 3: { // CBOR that is not a command
      const shapes: unknown[] = [
        randomValue(),
        [String(RequestCode.SEND_MESSAGE), 1, 0, {}],
        [10, "id", 0, {}],
        [10, 1, 0.5, {}],
        [10, 1, 0, []],
        [10, 1, 0, new Uint8Array(3)],
        [10, 1, 0, {}, "body as text"],
        [10, 1, 0, {}, null, 42],
        [10, 1, 0],
        [10, 1, 0, {}, null, "r", "seventh"],
        [2n ** 64n - 1n, 1, 0, {}],
        [NaN, 1, 0, {}],
      ];
      return { bytes: frame(pick(shapes)), kind: "wrong-shape" };
    }
    case 4: { // deep nesting inside the header
      const depth = pick([64, 500, 5_000, 50_000, 200_000]);
      const opener = pick([[0x81], [0xa1, 0x61, 0x61], [0xc6], [0x9f]]);
      const out = new Bytes();
      out.push(0, 0, 0, 0, 0x84, 0x0a, 0x01, 0x00);
      for (let i = 0; i < depth; i++) out.push(...opener);
      out.push(0x00);
      const bytes = out.take();
      new DataView(bytes.buffer).setUint32(0, bytes.length - 4);
      return { bytes, kind: "deep" };
    }
    case 5: // heads declaring huge arrays, maps, strings
    case 6: { // odd items (tags, simple values, indefinite lengths) in the header or as the item
      const odd = new Raw(pick(ODD_ITEMS)());
      const item = chance(0.3) ? odd : [RequestCode.GET_MAX_OFFSET, 1, 0, chance(0.5) ? odd : { topic: odd, queueId: 0 }];
      return { bytes: frame(item), kind: "odd-cbor" };
    }
    case 7: { // random bytes under a plausible length
      const body = randomBytes(1 + int(300));
      const bytes = new Uint8Array(4 + body.length);
      new DataView(bytes.buffer).setUint32(0, body.length);
      bytes.set(body, 4);
      return { bytes, kind: "random" };
    }
    default: // random bytes, length prefix included
      return { bytes: randomBytes(1 + int(64)), kind: "noise" };
  }
}

// ---- processes, probes ----------------------------------------------------------------------------

let dataDir: string;
let nameServer: Server;
let broker: Server;
let nsAddress: string;
let brokerAddress: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "rmq-fuzz-"));
  nameServer = await startServer(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", "0"]);
  nsAddress = `127.0.0.1:${nameServer.port}`;
  broker = await startServer(BUN, [
    "run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "-n", nsAddress, "--data-dir", dataDir,
    "--auto-create-topic", "--max-frame-size", String(MAX_FRAME_SIZE),
  ]);
  brokerAddress = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  if (broker !== undefined) await stop(broker);
  if (nameServer !== undefined) await stop(nameServer);
  rmSync(dataDir, { recursive: true, force: true });
});

test(`frame fuzzing: ${CASES} cases leave the broker and NameServer alive, responsive and bounded`, () => replayable(fuzz, rng), 180_000);

async function fuzz(): Promise<void> {
  const started = performance.now();
  console.log(`fuzz: ${CASES} cases, seed ${SEED} (TEST_SEED=${SEED} reproduces the case sequence)`);
  const brokerPort = Number(brokerAddress.split(":")[1]);
  const nsPort = Number(nsAddress.split(":")[1]);
  const brokerProbe: Connection = await connect(dial, brokerAddress);
  const nsProbe: Connection = await connect(dial, nsAddress);
  // Warm up, then take the memory baseline.
  expect((await brokerProbe.request(RequestCode.SEND_MESSAGE, { topic: "fz", queueId: 0, bornTimestamp: 1 }, new Uint8Array(1))).code).toBe(ResponseCode.SUCCESS);
  const rssBefore = rss(broker.pid);

  let maxProbeMs = 0;
  let probes = 0;
  const probe = async () => {
    const t0 = performance.now();
    const [b, n] = await Promise.all([
      brokerProbe.request(RequestCode.GET_MAX_OFFSET, { topic: "fz", queueId: 0 }, undefined, PROBE_TIMEOUT_MS),
      nsProbe.request(RequestCode.GET_BROKER_CLUSTER_INFO, {}, undefined, PROBE_TIMEOUT_MS),
    ]);
    expect([b.code, n.code]).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
    maxProbeMs = Math.max(maxProbeMs, performance.now() - t0);
    probes++;
  };

  // A connection carries a few well-framed commands (answered; the connection stays up), then
  // usually one malformed frame, after which the server closes it.
  const { generated, connections, slow, kinds } = await runFuzzCases({
    cases: CASES, concurrency: CONCURRENCY, random: rng, nameServerShare: 0.3, ports: { broker: brokerPort, nameServer: nsPort },
    commandCase, badCase, probe, probeEvery: PROBE_EVERY,
  });
  await probe();

  // No crash: both processes still run (no exit code).
  const exitedYet = await Promise.race([broker.exited, nameServer.exited, new Promise((resolve) => setTimeout(() => resolve("running"), 50))]);
  expect(exitedYet).toBe("running");
  expect(brokerProbe.closed || nsProbe.closed).toBe(false);

  const rssAfter = rss(broker.pid);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `fuzz: ${generated} cases on ${connections} connections in ${seconds.toFixed(1)} s; crashes 0; ` +
      `${probes} probes, slowest ${maxProbeMs.toFixed(0)} ms; slow closes ${slow}; ` +
      `broker RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB; ` +
      `kinds ${JSON.stringify(Object.fromEntries(kinds))}`,
  );
  expect(generated).toBe(CASES);
  // No hang: the server closed every connection after its malformed frame or the client's end.
  expect(slow).toBe(0);
  expect(rssAfter - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  // A normal producer and consumer still work, routed through the fuzzed NameServer.
  const created = await brokerProbe.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "fuzz_roundtrip", readQueueNums: 4, writeQueueNums: 4 });
  expect(created.code).toBe(ResponseCode.SUCCESS);
  const routeDeadline = Date.now() + 10_000;
  while ((await nsProbe.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "fuzz_roundtrip" })).code !== ResponseCode.SUCCESS) {
    expect(Date.now()).toBeLessThan(routeDeadline);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  brokerProbe.close();
  nsProbe.close();
  const roundtrip = start(BUN, ["tests/_fixtures/client_roundtrip.ts", nsAddress, "fuzz_roundtrip", "200"]);
  const code = await roundtrip.exited;
  expect(roundtrip.output()).toContain("ROUNDTRIP OK 200");
  expect(code).toBe(0);
  expect(broker.output()).not.toMatch(/panic|Segmentation fault|RangeError: Maximum call stack/);
  // No processor threw: every hostile header was refused with INVALID_HEADER or a domain code, never
  // an unexpected SYSTEM_ERROR (logged as "Request <code> failed").
  expect(broker.output().match(/Request \d+ failed.*/)?.[0]).toBeUndefined();
  expect(nameServer.output().match(/Request \d+ failed.*/)?.[0]).toBeUndefined();
  if (process.env.FUZZ_DUMP) console.log(`${broker.output()}\n${nameServer.output()}`);
  // And both still shut down cleanly.
  await stop(broker);
  await stop(nameServer);
  expect(await broker.exited).toBe(0);
  expect(await nameServer.exited).toBe(0);
}
