import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import { dial } from "../../client/bun/connect.ts";
import { encodeFrame, FrameDecoder } from "../../core/codec/frame.ts";
import type { Command } from "../../core/protocol/command.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type Broker, startBroker } from "../../server/broker/broker.ts";
import { listen } from "../../server/bun/listen.ts";
import { dial as serverDial } from "../../server/bun/connect.ts";
import { replayable } from "../_helpers/random.ts";

let dir: string;
let broker: Broker;
let address: string;

/** Writes raw bytes on a fresh socket; resolves with what came back once the broker closes it. */
function rawExchange(bytes: Uint8Array, waitMs = 2000): Promise<{ closed: boolean; received: number }> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port: broker.port });
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, received });
    }, waitMs);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk) => (received += chunk.length));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, received });
    });
  });
}

async function healthy(): Promise<void> {
  const connection = await connect(dial, address);
  const answer = await connection.request(RequestCode.SEND_MESSAGE, {
    topic: "health",
    queueId: 0,
    bornTimestamp: Date.now(),
  }, new TextEncoder().encode("still alive"));
  expect(answer.code).toBe(ResponseCode.SUCCESS);
  connection.close();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-bad-"));
  broker = await startBroker({
    listen,
    dial: serverDial,
    hostname: "127.0.0.1",
    port: 0,
    dataDir: dir,
    autoCreateTopicEnable: true,
    maxFrameSize: 1024 * 1024,
    log: () => {},
  });
  address = broker.address;
});

afterAll(async () => {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("bad input on a real socket", () => {
  test("random bytes close only that connection", () => replayable(async (random) => {
    const open = await connect(dial, address);
    for (let i = 0; i < 20; i++) {
      // A whole frame of random bytes: the length is right, so the broker parses the body as CBOR
      // and rejects it (its first item is never an array, so it cannot be a command by chance).
      const body = random.bytes(60 + i * 50);
      if (body[0]! >> 5 === 4) body[0]! ^= 0x80;
      const garbage = new Uint8Array(4 + body.length);
      new DataView(garbage.buffer).setUint32(0, body.length);
      garbage.set(body, 4);
      const result = await rawExchange(garbage);
      expect(result).toEqual({ closed: true, received: 0 });
    }
    // A connection opened before the garbage still works.
    const answer = await open.request(RequestCode.GET_MAX_OFFSET, { topic: "health", queueId: 0 });
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    open.close();
    await healthy();
  }));

  test("an oversized length prefix closes the connection without allocating", async () => {
    const result = await rawExchange(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
    expect(result.closed).toBe(true);
    await healthy();
  });

  test("a frame that is CBOR but not a command closes the connection", async () => {
    // length 3, then CBOR text "hi"
    const result = await rawExchange(new Uint8Array([0, 0, 0, 3, 0x62, 0x68, 0x69]));
    expect(result.closed).toBe(true);
    await healthy();
  });

  test("unknown codes and invalid headers are answered and the connection stays open", async () => {
    const connection = await connect(dial, address);
    const unknown = await connection.request(4242, {});
    expect(unknown.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    const invalid = await connection.request(RequestCode.PULL_MESSAGE, { topic: "t", queueId: "zero" });
    expect(invalid.code).toBe(ResponseCode.INVALID_HEADER);
    expect(invalid.remark).toMatch(/Invalid header field/);
    const ok = await connection.request(RequestCode.GET_MAX_OFFSET, { topic: "health", queueId: 0 });
    expect(ok.code).toBe(ResponseCode.SUCCESS);
    connection.close();
  });

  test("a frame split into single bytes is still understood", async () => {
    await healthy(); // the topic "health" holds one message
    const frame = encodeFrame({ code: RequestCode.GET_MAX_OFFSET, id: 7, flags: 0, header: { topic: "health", queueId: 0 } });
    const reply = await new Promise<Command>((resolve, reject) => {
      const socket = netConnect({ host: "127.0.0.1", port: broker.port });
      const decoder = new FrameDecoder();
      socket.on("connect", async () => {
        for (const byte of frame) {
          socket.write(new Uint8Array([byte]));
          await Bun.sleep(1); // one byte per segment
        }
      });
      socket.on("data", (chunk) => {
        const [command] = decoder.push(new Uint8Array(chunk as Buffer));
        if (command === undefined) return;
        socket.destroy();
        resolve(command);
      });
      socket.on("error", reject);
    });
    expect(reply).toMatchObject({ id: 7, code: ResponseCode.SUCCESS });
    expect(reply.header.offset).toBeGreaterThanOrEqual(1);
  });
});
