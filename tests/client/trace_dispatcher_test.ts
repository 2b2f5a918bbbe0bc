/**
 * The trace dispatcher: batches records, never waits, and drops (counting) what a full buffer
 * cannot take; failed trace sends are counted and not retried.
 */
import { describe, expect, test } from "bun:test";
import { decodeTraceData, type TraceRecord } from "../../core/model/trace.ts";
import { TraceDispatcher } from "../../client/_trace_dispatcher.ts";

function pub(i: number): TraceRecord {
  return {
    type: "Pub", timestamp: i, regionId: "DefaultRegion", group: "g", topic: "t", msgId: `ID${i}`, tags: "", keys: `k${i}`,
    storeHost: "h", bodyLength: 1, costMs: 0, msgType: 0, offsetMsgId: "", success: true, clientId: "c",
  };
}

describe("TraceDispatcher", () => {
  test("records leave in batches of at most 20, with every record's id and keys as the message keys", async () => {
    const sent: { body: string; keys: string[] }[] = [];
    const d = new TraceDispatcher({ send: async (body, keys) => void sent.push({ body, keys }), flushDelayMs: 10_000 });
    for (let i = 0; i < 45; i++) d.append(pub(i));
    await d.flush();
    expect(sent.map((s) => decodeTraceData(s.body).length)).toEqual([20, 20, 5]);
    expect(sent[2]!.keys).toEqual(["ID40", "k40", "ID41", "k41", "ID42", "k42", "ID43", "k43", "ID44", "k44"]);
    expect(d.stats).toEqual({ recorded: 45, dropped: 0, sent: 45, failed: 0, buffered: 0 });
  });

  test("a partial batch leaves after the flush delay without a flush call", async () => {
    let resolveSent!: (body: string) => void;
    const arrived = new Promise<string>((resolve) => (resolveSent = resolve));
    const d = new TraceDispatcher({ send: async (body) => resolveSent(body), flushDelayMs: 5 });
    d.append(pub(1));
    expect(decodeTraceData(await arrived)).toEqual([pub(1)]);
  });

  test("a full buffer drops and counts new records at once while trace sends hang; nothing waits", async () => {
    const hanging: (() => void)[] = [];
    const d = new TraceDispatcher({
      send: () => new Promise<void>((resolve) => hanging.push(resolve)),
      maxBuffered: 100,
      maxInFlight: 2,
      flushDelayMs: 0,
    });
    const started = performance.now();
    let taken = 0;
    for (let i = 0; i < 10_000; i++) if (d.append(pub(i))) taken++;
    const elapsed = performance.now() - started;
    // Two batches of 20 left for the hung sends, 100 wait in the buffer; the rest were dropped.
    expect(taken).toBe(140);
    expect(d.stats).toMatchObject({ recorded: 140, dropped: 9860, buffered: 100, sent: 0 });
    expect(hanging.length).toBe(2);
    expect(elapsed).toBeLessThan(1000);
    for (const resolve of hanging.splice(0)) resolve();
    const flushed = d.flush();
    // Sends released as the hung ones finish: release each new one until the buffer is empty.
    while (d.stats.buffered > 0 || hanging.length > 0) {
      await Promise.resolve();
      for (const resolve of hanging.splice(0)) resolve();
      await new Promise((r) => setTimeout(r, 0));
    }
    await flushed;
    expect(d.stats).toMatchObject({ recorded: 140, dropped: 9860, sent: 140, buffered: 0 });
  });

  test("failed trace sends (thrown or rejected) are counted, logged once per 10 s, and not sent again", async () => {
    const lines: string[] = [];
    let calls = 0;
    const d = new TraceDispatcher({
      send: (): Promise<void> => {
        calls++;
        if (calls === 1) throw new Error("no route");
        return Promise.reject(new Error("broker gone"));
      },
      batchSize: 5,
      log: (line) => lines.push(line),
    });
    for (let i = 0; i < 15; i++) d.append(pub(i));
    await d.flush();
    expect(calls).toBe(3);
    expect(d.stats).toMatchObject({ recorded: 15, sent: 0, failed: 15, buffered: 0 });
    expect(lines).toEqual(["Sending 5 trace records failed (5 so far): no route"]);
  });

  test("after shutdown records are dropped and counted", async () => {
    const d = new TraceDispatcher({ send: async () => {} });
    d.append(pub(1));
    await d.shutdown();
    expect(d.append(pub(2))).toBe(false);
    expect(d.stats).toMatchObject({ recorded: 1, sent: 1, dropped: 1 });
  });
});
