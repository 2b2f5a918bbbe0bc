import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { AckResult, ChangeInvisibleResult, ErrorBody, OffsetsResult, ReceiveResult } from "../../../../server/admin/gateway/_schemas.ts";
import { until } from "../../../_helpers/wait.ts";
import { type AdminFixture, startAdminFixture } from "../_admin_fixture.ts";

let f: AdminFixture;

beforeEach(async () => {
  f = await startAdminFixture();
  expect((await f.call("POST", "/api/topics", { topic: "jobs", queueNums: 2 })).status).toBe(201);
});

afterEach(async () => {
  await f.close();
});

async function produce(...bodies: string[]) {
  const r = await f.call("POST", "/api/gateway/topics/jobs/messages/batch", { messages: bodies.map((body) => ({ body })) });
  expect(r.status).toBe(201);
}

async function receive(body: Record<string, unknown> = {}, group = "workers") {
  const r = await f.call("POST", `/api/gateway/groups/${group}/topics/jobs/receive`, body);
  expect(r.status).toBe(200);
  return v.parse(ReceiveResult, r.json).messages;
}

function ack(handles: string | string[], group = "workers") {
  return f.call("POST", `/api/gateway/groups/${group}/topics/jobs/ack`, Array.isArray(handles) ? { receiptHandles: handles } : { receiptHandle: handles });
}

describe("HTTP gateway consume (POP)", () => {
  test("receive hands out each message once per group with a receipt handle; acked ones are settled and the offsets follow", async () => {
    await produce("a", "b", "c");
    const got = await receive({ maxMessages: 32 });
    expect(got.map((m) => m.body).sort()).toEqual(["a", "b", "c"]);
    for (const m of got) expect(m).toMatchObject({ deliveryAttempt: 1, topic: "jobs", bodyEncoding: "utf8" });
    expect(await receive()).toEqual([]);
    // Another group gets them too.
    expect((await receive({}, "auditors")).length).toBe(3);

    const one = await ack(got[0]!.receiptHandle);
    expect(one.status).toBe(200);
    expect(v.parse(AckResult, one.json)).toEqual({ acked: 1, failed: [] });
    const rest = await ack(got.slice(1).map((m) => m.receiptHandle));
    expect(v.parse(AckResult, rest.json)).toEqual({ acked: 2, failed: [] });

    const offsets = await f.call("GET", "/api/gateway/groups/workers/offsets?topic=jobs");
    expect(offsets.status).toBe(200);
    const progress = v.parse(OffsetsResult, offsets.json);
    expect(progress).toMatchObject({ group: "workers", totalLag: 0, inflight: 0 });
    expect(progress.queues.map((q) => q.consumerOffset).reduce((a, b) => a + b, 0)).toBe(3);
    const other = v.parse(OffsetsResult, (await f.call("GET", "/api/gateway/groups/auditors/offsets")).json);
    expect(other.inflight).toBe(3);
    expect(other.totalLag).toBe(3);
  });

  test("a message not acked within its invisible time is delivered again, attempt 2, and its old handle is refused as expired", async () => {
    await produce("retry me");
    const [first] = await receive({ invisibleTimeMs: 300 });
    expect(first!.deliveryAttempt).toBe(1);
    expect(first!.invisibleUntil).toBeGreaterThan(Date.now());
    const again = await receive({ waitMs: 10_000 });
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ body: "retry me", deliveryAttempt: 2, topic: "jobs", msgId: expect.any(String) });
    expect(Date.now()).toBeGreaterThanOrEqual(first!.invisibleUntil);
    const stale = await ack(first!.receiptHandle);
    expect(stale.status).toBe(410);
    expect(v.parse(ErrorBody, stale.json).error.code).toBe("RECEIPT_HANDLE_EXPIRED");
    expect((await ack(again[0]!.receiptHandle)).status).toBe(200);
    expect(await receive({ waitMs: 600 })).toEqual([]);
  });

  test("changing the invisible time keeps the message away; the new handle acks it and the old one is stale", async () => {
    await produce("slow work");
    const [m] = await receive({ invisibleTimeMs: 300 });
    const changed = await f.call("POST", "/api/gateway/groups/workers/topics/jobs/invisible-time", { receiptHandle: m!.receiptHandle, invisibleTimeMs: 60_000 });
    expect(changed.status).toBe(200);
    const next = v.parse(ChangeInvisibleResult, changed.json);
    expect(next.receiptHandle).not.toBe(m!.receiptHandle);
    expect(next.invisibleUntil).toBeGreaterThan(Date.now() + 50_000);
    // Past the first invisible time, still away.
    expect(await receive({ waitMs: 800 })).toEqual([]);
    expect((await ack(m!.receiptHandle)).status).toBe(410);
    expect((await ack(next.receiptHandle)).status).toBe(200);
  });

  test("a long-polled receive answers as soon as a message arrives", async () => {
    const started = Date.now();
    const waiting = receive({ waitMs: 20_000 });
    await until(() => f.system.broker.context.holds.size === 1, 5000, "the receive to park");
    await produce("wake up");
    const got = await waiting;
    expect(got.map((m) => m.body)).toEqual(["wake up"]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("a receive whose HTTP client went away takes no message: its parked pop is dropped", async () => {
    const holds = f.system.broker.context.holds;
    const abort = new AbortController();
    const gone = Promise.resolve(f.app.request("/api/gateway/groups/workers/topics/jobs/receive", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ waitMs: 20_000 }),
      signal: abort.signal,
    })).catch(() => undefined);
    await until(() => holds.size === 1, 5000, "the receive to park");
    abort.abort();
    await gone;
    await produce("for a live client");
    await until(() => holds.size === 0, 5000, "the parked pop to be released");
    const got = await receive({ waitMs: 5000 });
    expect(got.map((m) => [m.body, m.deliveryAttempt])).toEqual([["for a live client", 1]]);
  });

  test("handles not issued for the group and topic are refused; a batch ack settles the good ones and names the others", async () => {
    await produce("x", "y");
    const got = await receive();
    const forged = got[0]!.receiptHandle.replace(/\S+$/, "AAAAAAAAAAAAAAAAAAAAAA");
    const bad = await ack(forged);
    expect(bad.status).toBe(400);
    expect(v.parse(ErrorBody, bad.json).error.code).toBe("RECEIPT_HANDLE_INVALID");
    expect((await ack(got[0]!.receiptHandle, "another-group")).status).toBe(400);
    const batch = await ack([got[0]!.receiptHandle, "garbage", got[1]!.receiptHandle, got[0]!.receiptHandle]);
    expect(batch.status).toBe(200);
    const result = v.parse(AckResult, batch.json);
    expect(result.acked).toBe(2);
    expect(result.failed.map((x) => [x.index, x.code])).toEqual([[1, "RECEIPT_HANDLE_INVALID"], [3, "RECEIPT_HANDLE_EXPIRED"]]);
  });

  test("a tag filter gives only matching messages; bad consume input is refused with 400 and the error shape", async () => {
    for (const tags of ["red", "blue", "red"]) expect((await f.call("POST", "/api/gateway/topics/jobs/messages", { body: tags, tags })).status).toBe(201);
    const red = await receive({ filter: { expression: "red" } });
    expect(red.map((m) => m.tags)).toEqual(["red", "red"]);

    const cases: Array<[string, unknown, RegExp]> = [
      ["receive", { maxMessages: 0 }, /maxMessages/],
      ["receive", { maxMessages: 33 }, /maxMessages/],
      ["receive", { invisibleTimeMs: 50 }, /invisibleTimeMs/],
      ["receive", { waitMs: 30_001 }, /waitMs/],
      ["receive", { filter: { type: "REGEX" } }, /filter\.type/],
      ["receive", { filter: { type: "SQL92", expression: "a >" } }, /filter/i],
      ["receive", { from: "middle" }, /from/],
      ["ack", {}, /receiptHandle or receiptHandles/],
      ["ack", { receiptHandle: "a", receiptHandles: ["b"] }, /one of them/],
      ["ack", { receiptHandles: [] }, /receiptHandles/],
      ["invisible-time", { receiptHandle: "x" }, /invisibleTimeMs/],
      ["invisible-time", { receiptHandle: "x", invisibleTimeMs: 43_200_001 }, /invisibleTimeMs/],
    ];
    for (const [verb, body, message] of cases) {
      const r = await f.call("POST", `/api/gateway/groups/workers/topics/jobs/${verb}`, body);
      expect({ verb, body, status: r.status }).toEqual({ verb, body, status: 400 });
      expect(v.parse(ErrorBody, r.json).error.message).toMatch(message);
    }
    const badGroup = await f.call("POST", "/api/gateway/groups/no%20spaces/topics/jobs/receive", {});
    expect(badGroup.status).toBe(400);
    expect(badGroup.json.error.message).toMatch(/path field "group"/);
    const missing = await f.call("POST", "/api/gateway/groups/workers/topics/nothing-here/receive", {});
    expect(missing.status).toBe(404);
    expect((await f.call("GET", "/api/gateway/groups/workers/offsets?topic=nothing-here")).status).toBe(404);
  });
});
