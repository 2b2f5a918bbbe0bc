import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import { dial } from "../../client/bun/connect.ts";
import { encodeFrame } from "../../core/codec/frame.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type Broker, startBroker } from "../../server/broker/broker.ts";
import { listen } from "../../server/bun/listen.ts";
import { dial as serverDial } from "../../server/bun/connect.ts";

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
  test("random bytes close only that connection", async () => {
    const open = await connect(dial, address);
    for (let i = 0; i < 20; i++) {
      const garbage = crypto.getRandomValues(new Uint8Array(64 + i * 50));
      garbage[0] = 0; // a plausible small length, so the body is parsed as CBOR and rejected
      const result = await rawExchange(garbage, 300);
      expect(result.received).toBe(0);
    }
    // A connection opened before the garbage still works.
    const answer = await open.request(RequestCode.GET_MAX_OFFSET, { topic: "health", queueId: 0 });
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    open.close();
    await healthy();
  });

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
    const frame = encodeFrame({ code: RequestCode.GET_MAX_OFFSET, id: 1, flags: 0, header: { topic: "health", queueId: 0 } });
    const got = await new Promise<number>((resolve) => {
      const socket = netConnect({ host: "127.0.0.1", port: broker.port });
      let received = 0;
      socket.on("connect", async () => {
        for (const byte of frame) {
          socket.write(new Uint8Array([byte]));
          await Bun.sleep(1);
        }
      });
      socket.on("data", (chunk) => {
        received += chunk.length;
        socket.destroy();
        resolve(received);
      });
    });
    expect(got).toBeGreaterThan(4);
  });
});
