/**
 * Request-reply across real processes and sockets: a NameServer, a broker, a replier
 * (`tests/_fixtures/replier.ts`) and requesters, each in its own process (the test process is one
 * requester). Replies find their requests by correlation id, a request nobody answers in time
 * times out, and a reply to a requester that gave up or died is refused without harm.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Producer } from "../../client/producer.ts";
import { RequestTimeoutError } from "../../core/errors.ts";
import { MessageConst } from "../../core/model/message.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { dial } from "../../client/bun/connect.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";
import { startTestBroker, startTestNameServer } from "../faults/_common.ts";

const TOPIC = "rr_prices";
const decoder = new TextDecoder();

let dir: string;
let nameServer: Child;
let broker: Child;
let replier: Child;
let namesrv: string;
let brokerAddress: string;
let requester: Producer;
let raw: Connection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-rr-"));
  const namesrvPort = await freePort();
  nameServer = await startTestNameServer(namesrvPort);
  namesrv = `127.0.0.1:${namesrvPort}`;
  const port = await freePort();
  broker = await startTestBroker({ dataDir: join(dir, "broker"), port, flush: "async", namesrv: [namesrv] });
  brokerAddress = `127.0.0.1:${port}`;
  requester = new Producer({ nameServer: namesrv, group: "rr_requesters", log: () => {} });
  await requester.start();
  // The topic exists before the replier starts, so the replier reads it from the first request.
  await requester.send({ topic: TOPIC, body: "created" });
  replier = start(BUN, ["tests/_fixtures/replier.ts", namesrv, "rr_pricers", TOPIC]);
  await replier.waitFor("READY", 20_000);
  await replier.waitFor("REPLIED created ERROR", 20_000);
  raw = await connect(dial, brokerAddress);
}, 60_000);

afterAll(async () => {
  raw?.close();
  await requester?.shutdown();
  for (const child of [replier, broker, nameServer]) if (child !== undefined) await stop(child, 2000);
  rmSync(dir, { recursive: true, force: true });
});

function replied(body: string): string[] | undefined {
  return replier.output().split("\n").find((l) => l.startsWith(`REPLIED ${body} `))?.split(" ");
}

describe("request-reply across processes", () => {
  test("a message that is not a request cannot be replied to", () => {
    expect(replier.output()).toMatch(/REPLIED created ERROR - Message [0-9A-F]+ is not a request: it has no "CLUSTER" property/);
  });

  test("concurrent requests each get their own reply from the replier process", async () => {
    const asked = Array.from({ length: 50 }, (_, i) => `q-${i}`);
    const answers = await Promise.all(asked.map((body) => requester.request({ topic: TOPIC, body }, 10_000)));
    expect(answers.map((r) => decoder.decode(r.body))).toEqual(asked.map((body) => `echo:${body}`));
    expect(answers.every((r) => r.properties[MessageConst.REPLY_TO_CLIENT] === requester.clientId)).toBe(true);
    expect(new Set(answers.map((r) => r.properties[MessageConst.CORRELATION_ID])).size).toBe(50);
    // The replier hears the broker's answer just after the requester got the reply.
    await until(() => asked.every((body) => replied(body) !== undefined), 10_000, "the replier's confirmations");
    for (const body of asked) expect(replied(body)?.[2]).toBe("OK");
  }, 30_000);

  test("a request answered too late times out; the late reply is refused and the next request works", async () => {
    const started = Date.now();
    const error = await requester.request({ topic: TOPIC, body: "slow:1500:late" }, 500).catch((e) => e);
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(waited).toBeGreaterThanOrEqual(500);
    expect(waited).toBeLessThan(1500);
    await replier.waitFor("REPLIED slow:1500:late ", 10_000);
    const late = replied("slow:1500:late")!;
    expect(late.slice(2, 4)).toEqual(["ERROR", String(ResponseCode.REPLY_NOT_DELIVERED)]);
    expect(late.join(" ")).toContain("No request waits for a reply with correlation id");
    expect(decoder.decode((await requester.request({ topic: TOPIC, body: "after-late" }, 10_000)).body)).toBe("echo:after-late");
  }, 30_000);

  test("a reply to a requester SIGKILLed while waiting is refused: it is not connected any more", async () => {
    const before = (await drainQueue(raw, TOPIC, 0)).length + (await drainQueue(raw, TOPIC, 1)).length +
      (await drainQueue(raw, TOPIC, 2)).length + (await drainQueue(raw, TOPIC, 3)).length;
    const doomed = start(BUN, ["tests/_fixtures/requester.ts", namesrv, TOPIC, "slow:2000:orphan", "30000"]);
    await doomed.waitFor("ASKED", 20_000);
    await until(async () => {
      let n = 0;
      for (let q = 0; q < 4; q++) n += (await drainQueue(raw, TOPIC, q)).length;
      return n > before;
    }, 10_000, "the request to be stored");
    doomed.kill("SIGKILL");
    await doomed.exited;
    await replier.waitFor("REPLIED slow:2000:orphan ", 10_000);
    const orphan = replied("slow:2000:orphan")!;
    expect(orphan.slice(2, 4)).toEqual(["ERROR", String(ResponseCode.REPLY_NOT_DELIVERED)]);
    expect(orphan.join(" ")).toMatch(/Requester ".+" is not connected to broker "broker-a"/);
    expect(decoder.decode((await requester.request({ topic: TOPIC, body: "after-orphan" }, 10_000)).body)).toBe("echo:after-orphan");
  }, 30_000);
});
