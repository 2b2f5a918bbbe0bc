/**
 * Trace records in RocketMQ's trace text: our records round-trip, records RocketMQ writes decode
 * field by field, and hostile bodies decode to what is well-formed in them without throwing.
 */
import { describe, expect, test } from "bun:test";
import { decodeTraceData, encodeTraceRecord, traceKeys, type TraceRecord } from "../../../core/model/trace.ts";

const F = "\u0001";
const R = "\u0002";

const records: TraceRecord[] = [
  {
    type: "Pub", timestamp: 1_700_000_000_000, regionId: "DefaultRegion", group: "pg", topic: "orders", msgId: "7F0000010000AAAA0000000000000001",
    tags: "created", keys: "order-1 order-2", storeHost: "127.0.0.1:10911", bodyLength: 12, costMs: 3, msgType: 0,
    offsetMsgId: "7F00000100002A9F0000000000000000", success: true, clientId: "client-a",
  },
  {
    type: "SubBefore", timestamp: 1_700_000_000_010, regionId: "DefaultRegion", group: "cg", requestId: "R1", msgId: "7F0000010000AAAA0000000000000001",
    retryTimes: 2, keys: "order-1", clientId: "client-b", topic: "orders",
  },
  {
    type: "SubAfter", requestId: "R1", msgId: "7F0000010000AAAA0000000000000001", costMs: 5, success: false, keys: "order-1", contextCode: 4,
    timestamp: 1_700_000_000_015, group: "cg", clientId: "client-b", topic: "orders", retryTimes: 2,
  },
  {
    type: "EndTransaction", timestamp: 1_700_000_000_020, regionId: "DefaultRegion", group: "tx", topic: "orders", msgId: "AB", tags: "", keys: "",
    storeHost: "127.0.0.1:10911", msgType: 2, transactionId: "AB", transactionState: "ROLLBACK_MESSAGE", fromTransactionCheck: true,
  },
  {
    type: "DeadLetter", timestamp: 1_700_000_000_030, regionId: "DefaultRegion", group: "cg", topic: "orders", msgId: "CD", tags: "t", keys: "k",
    storeHost: "127.0.0.1:10911", retryTimes: 3, dlqTopic: "%DLQ%cg", offsetMsgId: "EF",
  },
];

describe("trace records", () => {
  test("every record type round-trips through RocketMQ's trace text", () => {
    const text = records.map(encodeTraceRecord).join("");
    expect(text.split(R).length).toBe(records.length + 1);
    expect(decodeTraceData(text)).toEqual(records);
  });

  test("Pub, SubBefore and SubAfter lay their fields out in RocketMQ's order, ours appended", () => {
    expect(encodeTraceRecord(records[0]!).split(F)).toEqual([
      "Pub", "1700000000000", "DefaultRegion", "pg", "orders", "7F0000010000AAAA0000000000000001", "created", "order-1 order-2",
      "127.0.0.1:10911", "12", "3", "0", "7F00000100002A9F0000000000000000", "true", `client-a${R}`,
    ]);
    expect(encodeTraceRecord(records[2]!).split(F).slice(0, 9)).toEqual([
      "SubAfter", "R1", "7F0000010000AAAA0000000000000001", "5", "false", "order-1", "4", "1700000000015", "cg",
    ]);
  });

  test("records as RocketMQ's client writes them decode (14-field Pub, 9-field SubAfter, 8-field SubBefore)", () => {
    const pub = ["Pub", "1", "DefaultRegion", "g", "T", "ID", "tag", "k1", "10.0.0.1:10911", "5", "2", "0", "OFF", "true"].join(F) + R;
    const before = ["SubBefore", "2", "DefaultRegion", "cg", "REQ", "ID", "0", "k1"].join(F) + R;
    const after = ["SubAfter", "REQ", "ID", "7", "true", "k1", "0", "3", "cg"].join(F) + R;
    const [p, b, a] = decodeTraceData(pub + before + after);
    expect(p).toMatchObject({ type: "Pub", timestamp: 1, topic: "T", msgId: "ID", offsetMsgId: "OFF", success: true, clientId: "" });
    expect(b).toMatchObject({ type: "SubBefore", timestamp: 2, requestId: "REQ", retryTimes: 0, keys: "k1", clientId: "", topic: "" });
    expect(a).toMatchObject({ type: "SubAfter", requestId: "REQ", costMs: 7, success: true, timestamp: 3, group: "cg" });
  });

  test("keys are every record's message id and keys, once each", () => {
    expect(traceKeys(records.slice(0, 3)).sort()).toEqual(["7F0000010000AAAA0000000000000001", "order-1", "order-2"]);
  });

  test("separators inside values cannot split a record", () => {
    const sneaky = { ...records[4]!, keys: `a${F}b${R}c` } as TraceRecord;
    const [decoded] = decodeTraceData(encodeTraceRecord(sneaky));
    expect(decoded).toMatchObject({ type: "DeadLetter", keys: "abc", dlqTopic: "%DLQ%cg" });
  });

  test("hostile bodies: unknown types, short lines and bad numbers are skipped, never thrown", () => {
    const good = encodeTraceRecord(records[1]!);
    const junk = [
      "", "Pub", `Pub${F}notanumber${F}x`, `EndTransaction${F}1${F}r${F}g${F}t${F}m${F}${F}${F}h${F}0${F}id${F}MAYBE${F}false`,
      `Recall${F}1${F}r${F}g${F}t${F}m${F}true`, "\u0001".repeat(10_000), `SubBefore${F}${"9".repeat(40)}${F}a${F}b${F}c${F}d${F}e${F}f`,
    ].join(R);
    expect(decodeTraceData(junk + R + good)).toEqual([records[1]!]);
  });
});
