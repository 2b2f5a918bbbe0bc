import { describe, expect, test } from "bun:test";
import { encodeFrame } from "../../../core/codec/frame.ts";
import type { HostAddress, MessageExt } from "../../../core/model/message.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { type CorruptRecord, decodeRecords, encodeRecord, PreparedRecord } from "../../../core/model/record.ts";
import { decodeRecordViews } from "../../../core/model/record_view.ts";
import type { Command } from "../../../core/protocol/command.ts";
import { Connection } from "../../../core/remoting/connection.ts";
import { type ReadWriteConn, readWriteTransport } from "../../../core/remoting/read_write.ts";

const FIELDS = [
  "topic", "queueId", "queueOffset", "commitLogOffset", "storeSize", "bodyCRC", "flag", "sysFlag", "bornTimestamp",
  "bornHost", "storeTimestamp", "storeHost", "reconsumeTimes", "preparedTransactionOffset", "body", "properties",
  "msgId", "keys", "tags", "uniqueKey",
] as const;

interface Spec {
  topic?: string;
  properties: Record<string, string>;
  body?: Uint8Array;
  born?: HostAddress;
  store?: HostAddress;
  queueId?: number;
  reconsumeTimes?: number;
}

const V4_BORN = { address: "10.1.2.3", port: 53211 };
const V4_STORE = { address: "127.0.0.1", port: 10911 };

/** Records back to back, with commit log offsets from `physical` on. */
function records(specs: Spec[], physical = 1_000_000, queueOffset = 7): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [i, spec] of specs.entries()) {
    const prepared = new PreparedRecord({
      topic: spec.topic ?? "ViewTopic", queueId: spec.queueId ?? 3, flag: i, sysFlag: 0,
      bornTimestamp: 1_764_650_000_000 + i, bornHost: spec.born ?? V4_BORN, storeHost: spec.store ?? V4_STORE,
      reconsumeTimes: spec.reconsumeTimes ?? 0, preparedTransactionOffset: i * 3,
      body: spec.body ?? new Uint8Array(100 + i).fill(i & 0xff), properties: encodeProperties(spec.properties),
    });
    const bytes = new Uint8Array(prepared.size);
    encodeRecord(prepared, bytes, 0, queueOffset + i, physical, 1_764_650_000_100 + i);
    physical += bytes.length;
    parts.push(bytes);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((pos, p) => (out.set(p, pos), pos + p.length), 0);
  return out;
}

/** Every field of `view` as the eager decoder gives it, own properties of a plain object. */
function fieldsOf(message: MessageExt): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of FIELDS) {
    const value = message[name];
    out[name] = value instanceof Uint8Array ? Array.from(value) : value;
  }
  return out;
}

const SPECS: Spec[] = [
  { properties: {} },
  { properties: { UNIQ_KEY: "7F000001D1A718B4AAC2000000001000" } },
  { properties: { TAGS: "TagA", KEYS: "order-1", UNIQ_KEY: "7F000001D1A718B4AAC2000000001001" } },
  { properties: { TAGS: "TagA", KEYS: " a  b c ", WAIT: "true", custom: "x" } },
  { properties: { TAGS: "", KEYS: "" } },
  { properties: { TAGS: "TagB", "名前": "値 ✓", KEYS: "ключ два" }, born: { address: "::1", port: 1 } },
  { properties: { TAGSX: "no", XTAGS: "no", UNIQ: "no" }, store: { address: "fe80::1:2", port: 10911 } },
  { properties: { RETRY_TOPIC: "Orig", TAGS: "TagA" }, topic: "%RETRY%g", reconsumeTimes: 2, body: new Uint8Array(0) },
  { properties: { TAGS: "TagA" }, queueId: 0 },
];

describe("decodeRecordViews()", () => {
  test("every field equals what decodeRecords() gives, properties, keys, tags, bodies and hosts included", () => {
    const bytes = records(SPECS);
    const eager = decodeRecords(bytes, { copyBody: false });
    const views = decodeRecordViews(bytes);
    expect(views.length).toBe(SPECS.length);
    for (let i = 0; i < views.length; i++) {
      expect(fieldsOf(views[i]!)).toEqual(fieldsOf(eager[i]!));
      expect("tags" in eager[i]! ? eager[i]!.tags : undefined).toBe(views[i]!.tags);
      expect(JSON.stringify(views[i])).toBe(JSON.stringify(eager[i]));
    }
    // Spot checks against the input, so a fault both decoders share shows too.
    expect(views[3]!.keys).toEqual(["a", "b", "c"]);
    expect(views[4]!.tags).toBe("");
    expect(views[5]!.properties["名前"]).toBe("値 ✓");
    expect(views[5]!.bornHost).toEqual({ address: "::1", port: 1 });
    expect(views[6]!.tags).toBeUndefined();
    expect(views[6]!.uniqueKey).toBeUndefined();
    expect(views[6]!.storeHost).toEqual({ address: "fe80::1:2", port: 10911 });
    expect(views[7]!.topic).toBe("%RETRY%g");
  });

  test("message ids stay right across 64 KiB and 4 GiB boundaries and when the store host changes", () => {
    const specs: Spec[] = [];
    for (let i = 0; i < 40; i++) specs.push({ properties: { TAGS: `T${i % 3}` }, body: new Uint8Array(3000), store: i % 7 === 0 ? { address: "10.0.0.2", port: 1 } : V4_STORE });
    const bytes = records(specs, 0x100000000 - 60_000);
    const eager = decodeRecords(bytes);
    const views = decodeRecordViews(bytes);
    // Read in an order other than the records', as a handler might.
    for (let i = views.length - 1; i >= 0; i -= 2) expect(views[i]!.msgId).toBe(eager[i]!.msgId);
    for (let i = 0; i < views.length; i++) expect(fieldsOf(views[i]!)).toEqual(fieldsOf(eager[i]!));
  });

  test("a field set replaces the decoded one, as on a plain object", () => {
    const [view] = decodeRecordViews(records([{ properties: { TAGS: "TagA", KEYS: "k" } }]));
    view!.topic = "Other";
    view!.tags = undefined;
    view!.keys = ["x"];
    view!.properties = { A: "b" };
    view!.body = new Uint8Array([9]);
    expect([view!.topic, view!.tags, view!.keys, view!.properties, Array.from(view!.body)]).toEqual(["Other", undefined, ["x"], { A: "b" }, [9]]);
  });

  test("onCorrupt gets what decodeRecords() reports, and the other records are kept", () => {
    const bytes = records(SPECS.slice(0, 4));
    const second = decodeRecords(bytes)[0]!.storeSize;
    bytes[second + 100] ^= 0xff; // a body byte of the second record
    const eagerCorrupt: CorruptRecord[] = [];
    const viewCorrupt: CorruptRecord[] = [];
    const eager = decodeRecords(bytes, { copyBody: false, onCorrupt: (r) => eagerCorrupt.push(r) });
    const views = decodeRecordViews(bytes, { onCorrupt: (r) => viewCorrupt.push(r) });
    expect(viewCorrupt).toEqual(eagerCorrupt);
    expect(viewCorrupt.length).toBe(1);
    expect(views.map(fieldsOf)).toEqual(eager.map(fieldsOf));
    // A torn tail: reported, the records before it kept.
    const torn = bytes.subarray(0, bytes.length - 5);
    const tornReports: CorruptRecord[] = [];
    expect(decodeRecordViews(torn, { onCorrupt: (r) => tornReports.push(r) }).length).toBe(2);
    expect(tornReports.length).toBe(2);
    expect(() => decodeRecordViews(torn)).toThrow(RangeError);
  });

  test("views of responses read through a reused socket buffer stay valid after the buffer is read over", async () => {
    // Pull answers of several sizes (some whole in one 64 KiB read, some spanning reads), served by
    // a connection whose read loop reuses its buffer whenever the Connection lets it.
    const answers: Uint8Array[] = [];
    let physical = 0;
    for (let i = 0; i < 60; i++) {
      const count = i % 5 === 0 ? 70 : 1 + (i % 4);
      const specs: Spec[] = [];
      for (let j = 0; j < count; j++) {
        specs.push({ properties: { TAGS: `Tag${(i + j) % 3}`, KEYS: `k${i}-${j}`, UNIQ_KEY: `U${i}-${j}` }, body: new Uint8Array(900 + j).fill((i * 7 + j) & 0xff) });
      }
      const body = records(specs, physical, i * 100);
      physical += body.length;
      answers.push(body);
    }
    const wire = new Uint8Array(answers.reduce((n, body, i) => n + encodeFrame({ code: 0, id: i + 1, flags: 0, header: {}, body }).length, 0));
    answers.reduce((pos, body, i) => {
      const frame = encodeFrame({ code: 0, id: i + 1, flags: 0, header: {}, body });
      wire.set(frame, pos);
      return pos + frame.length;
    }, 0);

    async function receive(forceReuse: boolean) {
      const held: { views: MessageExt[]; expected: Record<string, unknown>[] }[] = [];
      let served = 0;
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      const sizes = [700, 64 * 1024, 5000, 30_000, 100, 64 * 1024];
      let turn = 0;
      const conn: ReadWriteConn = {
        read(buffer) {
          if (served >= wire.length) return Promise.resolve(null);
          const n = Math.min(buffer.length, sizes[turn++ % sizes.length]!, wire.length - served);
          buffer.set(wire.subarray(served, served + n));
          served += n;
          return Promise.resolve(n);
        },
        write: (data) => Promise.resolve(data.length),
        close: () => done(),
      };
      const connection = new Connection({
        onRequest: (request: Command) => {
          // Decoded as a consumer does on arrival; the expected fields are read now, the views later.
          const body = request.body!;
          held.push({ views: decodeRecordViews(body), expected: decodeRecords(body).map(fieldsOf) });
        },
      });
      readWriteTransport(conn, "peer:1", (transport) => {
        connection.attach(transport);
        const handlers = connection.handlers;
        return forceReuse ? { ...handlers, data: (chunk) => (handlers.data(chunk), true) } : handlers;
      });
      await finished;
      return held;
    }

    const held = await receive(false);
    expect(held.length).toBe(answers.length);
    for (const { views, expected } of held) expect(views.map(fieldsOf)).toEqual(expected);
    // The check can fail: with the buffer reused regardless, views made earlier read other bytes.
    const damaged = await receive(true);
    expect(damaged.some(({ views, expected }) => JSON.stringify(views.map(fieldsOf)) !== JSON.stringify(expected))).toBe(true);
  });
});
