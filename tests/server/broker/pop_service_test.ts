/**
 * The POP state the broker keeps while writing its revive log equals the state rebuilt from that
 * log (what a restart does), after random pops, acks, changes of invisible time, expiries,
 * redeliveries and dead letters (at expiry and forwarded by a consumer), for plain and FIFO groups;
 * a forwarded dead letter is stored at once and spends its handle; and receipt handles are bound to the
 * broker's key, the group and the topic.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { dlqTopic } from "../../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { JsonFile } from "../../../server/store/json_file.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { PopService } from "../../../server/broker/pop/pop_service.ts";
import type { PopSnapshot } from "../../../server/broker/pop/pop_state.ts";
import { ReceiptHandleError, ReceiptHandles } from "../../../server/broker/pop/receipt_handle.ts";
import { reviveTopic } from "../../../server/broker/pop/pop_records.ts";
import { BrokerFixture, send } from "./_fixture.ts";
import { replayable } from "../../_helpers/random.ts";
import { until } from "../../_helpers/wait.ts";

let fixture: BrokerFixture | undefined;
afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

/** The state as a comparable value: queues sorted, FIFO deliveries past their time counted as waiting (the timer's move). */
function normalized(snapshot: PopSnapshot, now: number): unknown {
  return snapshot.queues.map((q) => {
    const inflight = q.i.filter(([, , pt, it]) => !(q.f && pt + it <= now));
    const expired = q.i.filter(([, , pt, it]) => q.f && pt + it <= now).map(([o, , , , a]) => [o, a] as [number, number]);
    return {
      key: `${q.g}@${q.t}@${q.q}`,
      frontier: q.fr,
      inflight: inflight.map(([o, ck, , , a]) => [o, ck, a]).sort((a, b) => a[0]! - b[0]!),
      waiting: [...q.w, ...expired].sort((a, b) => a[0] - b[0]),
    };
  }).sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe("PopService", () => {
  test("the state kept while writing equals the state replayed from the revive log, after random work", () =>
    replayable(async (random) => {
      fixture = new BrokerFixture();
      const broker = await fixture.start({ offsetPersistIntervalMs: 600_000 });
      const ctx = broker.context;
      const client = await fixture.client();
      for (const topic of ["plain", "fifo"]) {
        await client.connection.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 2, writeQueueNums: 2 });
      }
      await ctx.groups.update("gf", { consumeMessageOrderly: true, retryMaxTimes: 1 });
      await ctx.groups.update("gp", { retryMaxTimes: 1 });
      for (let i = 0; i < 60; i++) {
        await send(client.connection, "plain", `p${i}`, { TAGS: random.pick(["a", "b"]) }, { queueId: i % 2 });
        await send(client.connection, "fifo", `f${i}`, { __SHARDINGKEY: `g${random.int(4)}` }, { queueId: i % 2 });
      }
      const held: { group: string; topic: string; handle: string }[] = [];
      for (let step = 0; step < 120; step++) {
        const [group, topic] = random.pick([["gp", "plain"], ["gf", "fifo"]] as const);
        const roll = random.next();
        if (roll < 0.5 || held.length === 0) {
          const popped = await ctx.pop.pop({
            group,
            topic,
            queueId: random.chance(0.3) ? random.int(2) : -1,
            maxMsgNums: 1 + random.int(6),
            invisibleTime: random.pick([100, 150, 60_000]),
            initMode: 0,
            filter: {},
          });
          for (const handle of popped.handles) held.push({ group, topic, handle });
        } else if (roll < 0.8) {
          const [h] = held.splice(random.int(held.length), 1);
          await ctx.pop.ack(h!.group, h!.topic, [h!.handle]);
        } else if (roll < 0.88) {
          const [h] = held.splice(random.int(held.length), 1);
          await ctx.pop.deadLetter(h!.group, h!.topic, h!.handle).catch(() => undefined);
        } else {
          const h = held[random.int(held.length)]!;
          const changed = await ctx.pop.changeInvisibleTime(h.group, h.topic, h.handle, random.pick([100, 60_000])).catch(() => undefined);
          if (changed !== undefined) h.handle = changed.handle;
        }
        if (random.chance(0.1)) await new Promise((r) => setTimeout(r, 120 + random.int(150)));
      }
      // Let every short invisible time run out and its revive (copy, dead letter, ack record) finish.
      await new Promise((r) => setTimeout(r, 400));
      await until(() => {
        const now = Date.now();
        for (const q of ctx.pop.state.queues.values()) {
          for (const d of q.inflight.values()) if (d.busy || d.ck < 0 || (!q.fifo && d.popTime + d.invisibleTime <= now + 50)) return false;
        }
        return true;
      }, 10_000, "the revives to finish");
      const now = Date.now();
      const live = normalized(ctx.pop.state.snapshot(), now);
      const rebuilt = new PopService({
        store: ctx.store,
        topics: ctx.topics,
        offsets: ctx.offsets,
        holds: ctx.holds,
        groups: ctx.groups,
        brokerName: ctx.brokerName,
        reviveTopic: reviveTopic(ctx.clusterName),
        handles: new ReceiptHandles(new Uint8Array(32)),
        snapshot: new JsonFile<PopSnapshot>("/none/pop_state.json", { storage: new MemorySegmentStorage() }),
        ensureTopic: () => Promise.reject(new Error("not used")),
        deadLettered: () => {},
        log: () => {},
      });
      rebuilt.open();
      expect(normalized(rebuilt.state.snapshot(), now)).toEqual(live);
      // Some of everything happened.
      expect(ctx.pop.counters.acked).toBeGreaterThan(0);
      expect(ctx.pop.counters.revived + ctx.pop.counters.deadLettered).toBeGreaterThan(0);
    }), 60_000);

  test("a delivery forwarded to the dead-letter topic is stored there at once, its handle spent, the group's offset past it", async () => {
    fixture = new BrokerFixture();
    const broker = await fixture.start();
    const ctx = broker.context;
    const client = await fixture.client();
    await client.connection.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "forward", readQueueNums: 1, writeQueueNums: 1 });
    await send(client.connection, "forward", "give up on me", {}, { queueId: 0 });
    const popped = await ctx.pop.pop({ group: "gd", topic: "forward", queueId: -1, maxMsgNums: 1, invisibleTime: 60_000, initMode: 0, filter: {} });
    expect(popped.handles.length).toBe(1);
    await ctx.pop.deadLetter("gd", "forward", popped.handles[0]);
    const dead = ctx.store.getMessage(dlqTopic("gd"), 0, 0, 1);
    expect(dead.count).toBe(1);
    expect(new TextDecoder().decode(dead.body!)).toContain("give up on me");
    expect(ctx.pop.counters.deadLettered).toBe(1);
    expect(ctx.offsets.query("gd", "forward", 0)).toBe(1);
    await expect(ctx.pop.deadLetter("gd", "forward", popped.handles[0])).rejects.toThrow("has expired");
    expect((await ctx.pop.ack("gd", "forward", [popped.handles[0]]))[0]!.ok).toBe(false);
  });

  test("a receipt handle fails under another key, another group or another topic, and when any field is changed", () => {
    const key = new Uint8Array(32).fill(7);
    const handles = new ReceiptHandles(key);
    const fields = { ckOffset: 12, popTime: 1_700_000_000_000, invisibleTime: 30_000, reviveQueueId: 0, retry: false, brokerName: "broker a", queueId: 3, queueOffset: 99 };
    const text = handles.issue("g", "t", fields);
    expect(handles.verify("g", "t", text)).toEqual(fields);
    expect(() => new ReceiptHandles(new Uint8Array(32).fill(8)).verify("g", "t", text)).toThrow(ReceiptHandleError);
    expect(() => handles.verify("other", "t", text)).toThrow('for group "other" and topic "t"');
    expect(() => handles.verify("g", "t2", text)).toThrow(ReceiptHandleError);
    const parts = text.split(" ");
    for (let i = 0; i < parts.length - 1; i++) {
      const changed = [...parts];
      changed[i] = changed[i] === "0" ? "1" : `${changed[i]}0`;
      expect(() => handles.verify("g", "t", changed.join(" "))).toThrow(ReceiptHandleError);
    }
    expect(() => handles.verify("g", "t", "")).toThrow("Receipt handle is empty");
    expect(() => handles.verify("g", "t", "1 2 3")).toThrow("nine fields");
    expect(() => handles.verify("g", "t", 42)).toThrow(ReceiptHandleError);
    expect(ResponseCode.INVALID_RECEIPT_HANDLE).not.toBe(ResponseCode.RECEIPT_HANDLE_EXPIRED);
  });

  test("a checkpoint's handles each name their own offset, and verify after a restart and after their checkpoint left the cache", () => {
    const key = new Uint8Array(32).fill(7);
    const handles = new ReceiptHandles(key);
    const shared = { ckOffset: 40, popTime: 1_700_000_000_000, invisibleTime: 60_000, reviveQueueId: 999, retry: true, brokerName: "broker-a", queueId: 1 };
    const offsets = [5, 6, 7, 2 ** 40];
    const texts = handles.issueAll("g", "t", shared, offsets);
    expect(texts.map((text) => handles.verify("g", "t", text))).toEqual(offsets.map((queueOffset) => ({ ...shared, queueOffset })));
    expect(handles.issue("g", "t", { ...shared, queueOffset: 6 })).toBe(texts[1]!);
    // One offset's tag does not vouch for another offset of the same checkpoint.
    const tag = (text: string) => text.slice(text.lastIndexOf(" ") + 1);
    expect(() => handles.verify("g", "t", texts[0]!.replace(/\S+$/, tag(texts[1]!)))).toThrow("was not issued by this broker");
    // A broker restarted with the same key (nothing cached) accepts them; a forged one it tried first changes nothing.
    const restarted = new ReceiptHandles(key);
    expect(() => restarted.verify("g", "t", texts[2]!.replace(/ 7 /, " 8 "))).toThrow(ReceiptHandleError);
    expect(restarted.verify("g", "t", texts[2]!).queueOffset).toBe(7);
    // 5,000 later checkpoints push this one out of the cache: its handles still verify, and forgeries still fail.
    for (let ck = 1000; ck < 6000; ck++) handles.issueAll("g", "t", { ...shared, ckOffset: ck }, [ck]);
    expect(handles.verify("g", "t", texts[3]!).queueOffset).toBe(2 ** 40);
    expect(() => handles.verify("g", "t", texts[3]!.replace(/ 1 (\d+) /, " 2 $1 "))).toThrow(ReceiptHandleError);
    expect(() => handles.verify("g", "t", `${texts[0]!.slice(0, -1)}`)).toThrow(ReceiptHandleError);
  });
});
