/**
 * POP consumption against a real `rmq standalone` process (sync flush, file store), clients in this
 * process over real sockets: consumers outnumbering queues, redelivery after the invisible time,
 * changed invisible times, FIFO message groups, dead letters, bad handles and times, and a broker
 * SIGKILLed with messages in flight.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { SimpleConsumer, type SimpleConsumerOptions } from "../../client/simple_consumer.ts";
import type { ReceivedMessage } from "../../client/_pop.ts";
import { BrokerError, ClientError } from "../../core/errors.ts";
import { dlqTopic } from "../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type StandaloneProcess, startStandaloneProcess } from "../_helpers/standalone_process.ts";
import { until } from "../_helpers/wait.ts";

const decoder = new TextDecoder();
const body = (m: { body: Uint8Array }) => decoder.decode(m.body);

let dir: string;
let server: StandaloneProcess;
let producer: Producer;
const consumers: SimpleConsumer[] = [];

async function consumer(group: string, options: Partial<SimpleConsumerOptions> = {}, topic?: string, expression = "*"): Promise<SimpleConsumer> {
  const c = new SimpleConsumer({
    nameServer: server.nameServer,
    dial,
    group,
    consumeFromWhere: "FIRST_OFFSET",
    awaitDurationMs: 2000,
    log: () => {},
    ...options,
  });
  c.subscribe(topic ?? group, expression);
  await c.start();
  consumers.push(c);
  return c;
}

async function send(topic: string, bodies: string[], extra: { messageGroup?: string } = {}): Promise<void> {
  for (const b of bodies) await producer.send({ topic, body: b, ...extra });
}

/** Receives and acks with every consumer until they got `count` messages together (or 20 s passed). */
async function receiveAll(group: readonly SimpleConsumer[], count: number): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  const deadline = Date.now() + 20_000;
  await Promise.all(group.map(async (c) => {
    while (out.length < count && Date.now() < deadline) {
      const got = await c.receive(32, 30_000);
      for (const m of got) await c.ack(m.receiptHandle);
      out.push(...got);
    }
  }));
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-pop-"));
  server = await startStandaloneProcess(join(dir, "data"), { flags: ["--flush", "sync"] });
  producer = new Producer({ nameServer: server.nameServer, dial });
  await producer.start();
}, 60_000);

afterAll(async () => {
  for (const c of consumers) await c.shutdown().catch(() => {});
  await producer?.shutdown();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("POP over a real broker process", () => {
  test("five consumers on a two-queue topic each get messages at once, and none gets a message another holds", async () => {
    await server.createTopic("pop_share", 2);
    await send("pop_share", Array.from({ length: 100 }, (_, i) => `m${i}`));
    const five = await Promise.all(Array.from({ length: 5 }, () => consumer("pop_share", { awaitDurationMs: 300 })));
    // Each holds what it received (no ack): the others must get other messages meanwhile.
    const held = await Promise.all(five.map((c) => c.receive(4, 60_000)));
    for (const got of held) expect(got.length).toBeGreaterThan(0);
    const ids = held.flat().map((m) => m.msgId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, got] of held.entries()) for (const m of got) await five[i]!.ack(m.receiptHandle);
    const rest = await receiveAll(five, 100 - ids.length);
    const all = [...held.flat(), ...rest].map(body);
    expect(new Set(all).size).toBe(100);
    expect(all.length).toBe(100);
  }, 60_000);

  test("a message neither acked nor extended comes back after its invisible time, its delivery attempt one higher, and its old handle is refused", async () => {
    await server.createTopic("pop_expire", 1);
    const c = await consumer("pop_expire");
    await send("pop_expire", ["once"]);
    const [first] = await c.receive(1, 1000);
    expect(first!.deliveryAttempt).toBe(1);
    const receivedAt = Date.now();
    let again: ReceivedMessage[] = [];
    while (again.length === 0) again = await c.receive(1, 30_000);
    const elapsed = Date.now() - receivedAt;
    expect(again[0]!.uniqueKey).toBe(first!.uniqueKey);
    expect(again[0]!.topic).toBe("pop_expire");
    expect(again[0]!.deliveryAttempt).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    const stale = await c.ack(first!.receiptHandle).catch((e) => e);
    expect(stale).toBeInstanceOf(BrokerError);
    expect((stale as BrokerError).code).toBe(ResponseCode.RECEIPT_HANDLE_EXPIRED);
    await c.ack(again[0]!.receiptHandle);
    // Acked: it does not come back.
    expect(await c.receive(1, 1000)).toEqual([]);
  }, 30_000);

  test("changeInvisibleDuration keeps a message away until the new time; the new handle acks, the old one is refused", async () => {
    await server.createTopic("pop_change", 1);
    const c = await consumer("pop_change", { awaitDurationMs: 500 });
    await send("pop_change", ["later"]);
    const [m] = await c.receive(1, 500);
    const extended = await c.changeInvisibleDuration(m!.receiptHandle, 3000);
    // Past the first invisible time, it stays away.
    const start = Date.now();
    while (Date.now() - start < 1500) expect(await c.receive(1, 500)).toEqual([]);
    const old = await c.ack(m!.receiptHandle).catch((e) => e);
    expect((old as BrokerError).code).toBe(ResponseCode.RECEIPT_HANDLE_EXPIRED);
    await c.ack(extended);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await c.receive(1, 500)).toEqual([]);
  }, 30_000);

  test("FIFO group: a message group's messages come one at a time and in order, the next only once the previous is acked; groups run in parallel", async () => {
    await server.createTopic("pop_fifo", 2);
    await server.admin("PUT", "/api/groups/pop_fifo/config", { consumeMessageOrderly: true });
    const groups = ["A", "B", "C", "D"];
    for (let i = 0; i < 6; i++) for (const g of groups) await producer.send({ topic: "pop_fifo", body: `${g}${i}`, messageGroup: g });
    const members = await Promise.all([consumer("pop_fifo"), consumer("pop_fifo")]);
    const seen = new Map<string, number[]>();
    const inFlight = new Map<string, number>();
    let parallel = 0;
    let violations = 0;
    let redelivered = false;
    const done = () => [...seen.values()].reduce((n, list) => n + list.length, 0) >= 24;
    await Promise.all(members.map(async (c) => {
      while (!done()) {
        const got = await c.receive(8, 2000);
        for (const m of got) {
          const g = m.messageGroup!;
          if ((inFlight.get(g) ?? 0) > 0) violations++;
          inFlight.set(g, (inFlight.get(g) ?? 0) + 1);
        }
        parallel = Math.max(parallel, [...inFlight.values()].filter((n) => n > 0).length);
        for (const m of got) {
          const g = m.messageGroup!;
          // Let B2's first delivery run out once: it must come back before B3, in place.
          if (body(m) === "B2" && !redelivered) {
            redelivered = true;
            inFlight.set(g, inFlight.get(g)! - 1);
            continue;
          }
          seen.set(g, [...(seen.get(g) ?? []), Number(body(m).slice(1))]);
          inFlight.set(g, inFlight.get(g)! - 1);
          await c.ack(m.receiptHandle);
        }
      }
    }));
    expect(violations).toBe(0);
    for (const g of groups) expect(seen.get(g)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(parallel).toBeGreaterThanOrEqual(2);
    expect(redelivered).toBe(true);
  }, 60_000);

  test("past the group's retryMaxTimes a message goes to the dead-letter topic after exactly retryMaxTimes + 1 deliveries", async () => {
    await server.createTopic("pop_dlq", 1);
    await server.admin("PUT", "/api/groups/pop_dlq/config", { retryMaxTimes: 2 });
    const c = await consumer("pop_dlq", { awaitDurationMs: 1000 });
    await send("pop_dlq", ["poison"]);
    const attempts: number[] = [];
    const pull = new PullConsumer({ nameServer: server.nameServer, dial, group: "pop_dlq_reader" });
    await pull.start();
    const dlqCount = async () => {
      try {
        const [queue] = await pull.fetchMessageQueues(dlqTopic("pop_dlq"));
        return (await pull.pull(queue!, 0, { maxNums: 10 })).messages;
      } catch {
        return [];
      }
    };
    await until(async () => {
      for (const m of await c.receive(1, 300)) attempts.push(m.deliveryAttempt);
      return (await dlqCount()).length > 0;
    }, 20_000, "the poison message in the dead-letter topic");
    expect(attempts).toEqual([1, 2, 3]);
    const [dead] = await dlqCount();
    expect(body(dead!)).toBe("poison");
    expect(dead!.properties.RETRY_TOPIC).toBe("pop_dlq");
    await pull.shutdown();
    expect(await c.receive(1, 300)).toEqual([]);
  }, 30_000);

  test("bad input: forged, foreign and stale handles and a negative invisible time are refused clearly, and nothing else is affected", async () => {
    await server.createTopic("pop_bad", 1);
    const c = await consumer("pop_bad");
    const other = await consumer("pop_bad_other", {}, "pop_bad");
    await send("pop_bad", ["x", "y"]);
    const [m] = await c.receive(1, 30_000);
    const handle = m!.receiptHandle;
    const forged = { ...handle, value: handle.value.replace(/ (\d+) (\S+)$/, (_, offset, tag) => ` ${Number(offset) + 1} ${tag}`) };
    const refusal = async (p: Promise<unknown>) => (await p.then(() => undefined, (e) => e)) as BrokerError;
    const forgedError = await refusal(c.ack(forged));
    expect(forgedError.code).toBe(ResponseCode.INVALID_RECEIPT_HANDLE);
    expect(forgedError.message).toContain("was not issued by this broker");
    const garbage = await refusal(c.ack({ ...handle, value: "not a handle" }));
    expect(garbage.code).toBe(ResponseCode.INVALID_RECEIPT_HANDLE);
    const foreign = await refusal(other.ack(handle));
    expect(foreign.code).toBe(ResponseCode.INVALID_RECEIPT_HANDLE);
    expect(foreign.message).toContain('group "pop_bad_other"');
    await expect(c.receive(1, -5)).rejects.toThrow(ClientError);
    await expect(c.changeInvisibleDuration(handle, -1)).rejects.toThrow('invisibleDurationMs "-1" must be');
    // The broker refuses a negative invisible time itself, naming the field.
    const raw = await connect(dial, server.broker);
    const answer = await raw.request(RequestCode.POP_MESSAGE, { consumerGroup: "pop_bad", topic: "pop_bad", maxMsgNums: 1, invisibleTime: -1000 });
    expect(answer.code).toBe(ResponseCode.INVALID_HEADER);
    expect(answer.remark).toContain("invisibleTime");
    raw.close();
    // The real handle still works once, then is stale; the other message is untouched.
    await c.ack(handle);
    expect((await refusal(c.ack(handle))).code).toBe(ResponseCode.RECEIPT_HANDLE_EXPIRED);
    const [y] = await c.receive(1, 30_000);
    expect([body(m!), body(y!)].sort()).toEqual(["x", "y"]);
    await c.ack(y!.receiptHandle);
  }, 30_000);

  test("FIFO group: a message past retryMaxTimes goes to the dead-letter topic and its message group moves on", async () => {
    await server.createTopic("pop_fifo_dlq", 1);
    await server.admin("PUT", "/api/groups/pop_fifo_dlq/config", { consumeMessageOrderly: true, retryMaxTimes: 1 });
    for (const b of ["G0", "G1"]) await producer.send({ topic: "pop_fifo_dlq", body: b, messageGroup: "G" });
    const c = await consumer("pop_fifo_dlq", { awaitDurationMs: 1000 });
    const deliveries: string[] = [];
    let next: ReceivedMessage | undefined;
    while (next === undefined) {
      for (const m of await c.receive(4, 300)) {
        deliveries.push(`${body(m)}#${m.deliveryAttempt}`);
        // G0 is never acked: delivered twice (retryMaxTimes 1), then dead-lettered; then G1 comes.
        if (body(m) === "G1") next = m;
      }
    }
    expect(deliveries).toEqual(["G0#1", "G0#2", "G1#1"]);
    await c.ack(next.receiptHandle);
    const pull = new PullConsumer({ nameServer: server.nameServer, dial, group: "pop_fifo_dlq_reader" });
    await pull.start();
    let dead: { body: Uint8Array; reconsumeTimes: number }[] = [];
    await until(async () => {
      const queues = await pull.fetchMessageQueues(dlqTopic("pop_fifo_dlq")).catch(() => []);
      if (queues.length > 0) dead = (await pull.pull(queues[0]!, 0, { maxNums: 10 })).messages;
      return dead.length > 0;
    }, 10_000, "the dead letter");
    await pull.shutdown();
    expect(dead.map(body)).toEqual(["G0"]);
    expect(dead[0]!.reconsumeTimes).toBe(2);
  }, 30_000);

  test("push consumers over POP: four members share a two-queue topic, a failed message comes back after the group's back-off", async () => {
    await server.createTopic("pop_push", 2);
    await server.admin("PUT", "/api/groups/pop_push/config", { retryPolicy: { type: "CUSTOMIZED", backoffMs: [300] } });
    await send("pop_push", Array.from({ length: 400 }, (_, i) => `p${i}`));
    const handled = new Map<string, number[]>();
    const byMember = [0, 0, 0, 0];
    const members = Array.from({ length: 4 }, (_, i) => {
      const member = new PushConsumer({
        nameServer: server.nameServer,
        dial,
        group: "pop_push",
        pop: true,
        consumeFromWhere: "FIRST_OFFSET",
        pullBatchSize: 8,
        suspendMs: 500,
        log: () => {},
      });
      member.subscribe("pop_push");
      member.onMessage(async (m) => {
        await new Promise((r) => setTimeout(r, 2));
        const b = body(m);
        handled.set(b, [...(handled.get(b) ?? []), m.reconsumeTimes]);
        byMember[i]!++;
        // Every tenth message fails once.
        return Number(b.slice(1)) % 10 === 0 && m.reconsumeTimes === 0 ? "RECONSUME_LATER" : "SUCCESS";
      });
      return member;
    });
    await Promise.all(members.map((m) => m.start()));
    try {
      await until(() => handled.size === 400 && [...handled.values()].every((times) => times.at(-1) !== 0 || times.length === 1), 30_000, "400 messages handled");
      await until(() => [...handled].filter(([b]) => Number(b.slice(1)) % 10 === 0).every(([, times]) => times.includes(1)), 30_000, "the failed messages redelivered");
    } finally {
      await Promise.all(members.map((m) => m.shutdown()));
    }
    for (const n of byMember) expect(n).toBeGreaterThan(0);
    for (const [b, times] of handled) {
      if (Number(b.slice(1)) % 10 === 0) expect(times).toEqual([0, 1]);
      else expect(times).toEqual([0]);
    }
  }, 60_000);

  test("request-reply: a SimpleConsumer answers a Producer.request it received, then acks it", async () => {
    await server.createTopic("pop_request", 1);
    const c = await consumer("pop_request", { awaitDurationMs: 5000 });
    const asked = producer.request({ topic: "pop_request", body: "price?" }, 10_000);
    let got: ReceivedMessage[] = [];
    while (got.length === 0) got = await c.receive(1, 30_000);
    await c.reply(got[0]!, "42");
    await c.ack(got[0]!.receiptHandle);
    expect(body(await asked)).toBe("42");
  }, 30_000);

  test("long polling: a receive waiting on an empty topic returns as soon as a message arrives", async () => {
    await server.createTopic("pop_poll", 2);
    const c = await consumer("pop_poll", { awaitDurationMs: 10_000 });
    const waiting = c.receive(1, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const sentAt = Date.now();
    await send("pop_poll", ["wake"]);
    const [m] = await waiting;
    expect(body(m!)).toBe("wake");
    expect(Date.now() - sentAt).toBeLessThan(2000);
    await c.ack(m!.receiptHandle);
  }, 30_000);
});

describe("POP across a broker SIGKILL", () => {
  test("handles issued before the kill ack after the restart, unacked messages come back once, nothing is lost", async () => {
    await server.createTopic("pop_crash", 2);
    await send("pop_crash", Array.from({ length: 40 }, (_, i) => `c${i}`));
    const before = await consumer("pop_crash");
    const inFlight: ReceivedMessage[] = [];
    while (inFlight.length < 20) inFlight.push(...await before.receive(Math.min(8, 20 - inFlight.length), 6000));
    await before.shutdown();
    server.child.kill("SIGKILL");
    expect(await server.child.exited).toBe("SIGKILL");
    server = await startStandaloneProcess(join(dir, "data"), { ports: server.ports, flags: ["--flush", "sync"] });
    await producer.shutdown();
    producer = new Producer({ nameServer: server.nameServer, dial });
    await producer.start();
    expect(server.child.output()).toContain("POP state rebuilt");
    const after = await consumer("pop_crash", { awaitDurationMs: 1000 });
    // Half of the deliveries made before the kill are acked now, with their old handles.
    const acked = inFlight.slice(0, 10);
    for (const m of acked) await after.ack(m.receiptHandle);
    // The other half come back after their invisible time; the 20 never received come once.
    const rest: ReceivedMessage[] = [];
    const deadline = Date.now() + 20_000;
    while (rest.length < 30 && Date.now() < deadline) {
      for (const m of await after.receive(32, 30_000)) {
        rest.push(m);
        await after.ack(m.receiptHandle);
      }
    }
    const ackedBodies = new Set(acked.map(body));
    expect(rest.filter((m) => ackedBodies.has(body(m)))).toEqual([]);
    const all = [...acked, ...rest].map(body);
    expect(new Set(all).size).toBe(40);
    expect(all.length).toBe(40);
    const redelivered = rest.filter((m) => inFlight.slice(10).some((f) => f.uniqueKey === m.uniqueKey));
    expect(redelivered.length).toBe(10);
    for (const m of redelivered) expect(m.deliveryAttempt).toBe(2);
  }, 90_000);
});
