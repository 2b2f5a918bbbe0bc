/**
 * The gRPC port's keepalive and idle limit: a peer silent for a period is sent a PING, and one that
 * answers nothing by the next look is cut (a host gone without a FIN holds no connection slot); a
 * connection with no call open past `grpcIdleTimeoutMs` is sent GOAWAY and closed. A peer that
 * answers its PINGs and keeps a call open stays, and Apache's RocketMQ 5 Node.js client sends
 * across several keepalive periods on its connection.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket } from "node:net";
import { encodeHeaders } from "../../../server/grpc/hpack.ts";
import { ErrorCode, Flag, frame, FrameType } from "../../../server/grpc/http2.ts";
import { until } from "../../_helpers/wait.ts";
import { concat, type Frame, parseFrames } from "./_h2_frames.ts";
import { runNodeScript } from "./_node_script.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);
const KEEPALIVE_MS = 100;
const IDLE_MS = 400;

let server: GrpcStandalone;

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc-keepalive", { grpcKeepaliveMs: KEEPALIVE_MS, grpcIdleTimeoutMs: IDLE_MS });
});

afterAll(async () => {
  await server?.close();
});

interface Peer {
  socket: Socket;
  /** Every frame the server sent so far. */
  frames(): Frame[];
  isClosed(): boolean;
}

/** A raw HTTP/2 client; `answerPings` makes it ACK the server's PINGs as any HTTP/2 client must. */
function h2(answerPings: boolean): Promise<Peer> {
  const at = server.endpoint.lastIndexOf(":");
  const chunks: Uint8Array[] = [];
  let closed = false;
  let seen = 0;
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(server.endpoint.slice(at + 1)), server.endpoint.slice(0, at), () => {
      socket.write(PREFACE);
      socket.write(SETTINGS);
      resolve({ socket, frames: () => parseFrames(concat(...chunks)), isClosed: () => closed });
    });
    socket.on("data", (d: Uint8Array) => {
      chunks.push(new Uint8Array(d));
      const frames = parseFrames(concat(...chunks));
      for (; seen < frames.length; seen++) {
        const f = frames[seen]!;
        if (answerPings && f.type === FrameType.PING && (f.flags & Flag.ACK) === 0) socket.write(frame(FrameType.PING, Flag.ACK, 0, f.payload));
      }
    });
    socket.on("close", () => (closed = true));
    socket.on("error", () => {});
    socket.once("error", reject);
  });
}

const pings = (peer: Peer) => peer.frames().filter((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) === 0);
const goAways = (peer: Peer) => peer.frames().filter((f) => f.type === FrameType.GOAWAY);

test("a peer that answers no keepalive PING is cut, without waiting for the idle limit", async () => {
  const started = Date.now();
  const peer = await h2(false);
  await until(() => peer.isClosed(), 5000, "the silent peer to be cut");
  expect(pings(peer).length).toBeGreaterThanOrEqual(1);
  // Cut by the keepalive (2-3 periods), before the idle limit could send its GOAWAY.
  expect(goAways(peer)).toHaveLength(0);
  expect(Date.now() - started).toBeLessThan(IDLE_MS + 4 * KEEPALIVE_MS);
});

test("a peer that answers its PINGs and keeps a call open stays connected", async () => {
  const peer = await h2(true);
  const headers = encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/apache.rocketmq.v2.MessagingService/QueryRoute"],
    [":authority", "x"],
    ["content-type", "application/grpc"],
  ]);
  // A call whose request message has not come yet (no END_STREAM): open as long as the peer likes.
  peer.socket.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headers));
  await new Promise((r) => setTimeout(r, IDLE_MS + 10 * KEEPALIVE_MS));
  expect(pings(peer).length).toBeGreaterThanOrEqual(3);
  expect(peer.isClosed()).toBe(false);
  expect(goAways(peer)).toHaveLength(0);
  peer.socket.destroy();
});

test("a connection with no call open past the idle limit gets GOAWAY (NO_ERROR), then is closed", async () => {
  const peer = await h2(true);
  await until(() => peer.isClosed(), 5000, "the idle connection to be closed");
  const [goAway] = goAways(peer);
  expect(goAway).toBeDefined();
  expect(new DataView(goAway!.payload.buffer, goAway!.payload.byteOffset).getUint32(4)).toBe(ErrorCode.NO_ERROR);
  expect(new TextDecoder().decode(goAway!.payload.subarray(8))).toBe("idle");
});

test("Apache's RocketMQ 5 Node.js client sends across many keepalive periods", async () => {
  const lines = await runNodeScript("producer.cjs", [server.endpoint, "grpc-keepalive", "pause"]);
  expect(lines).toHaveLength(2);
  expect(lines.map((l) => typeof l.messageId)).toEqual(["string", "string"]);
}, 60_000);
