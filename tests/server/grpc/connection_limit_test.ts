/**
 * The gRPC port counts its connections with the remoting port's against `maxConnectionsPerIp`:
 * past it a new connection is closed at once, before it costs the broker an HTTP/2 session, and a
 * slot frees when one closes. The request messages it is still receiving are paid for from the
 * connection guard's budget (`maxPendingFrameBytesPerIp`), from their length prefix on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket } from "node:net";
import { dial } from "../../../client/bun/connect.ts";
import { connect } from "../../../core/remoting/connection.ts";
import { encodeHeaders, HpackDecoder } from "../../../server/grpc/hpack.ts";
import { Flag, frame, FrameType } from "../../../server/grpc/http2.ts";
import { until } from "../../_helpers/wait.ts";
import { concat, parseFrames } from "./_h2_frames.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/** An empty SETTINGS frame. */
const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);

let server: GrpcStandalone;

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc-conn-limit", { maxConnectionsPerIp: 3, maxPendingFrameBytesPerIp: 1024 * 1024 });
});

afterAll(async () => {
  await server?.close();
});

/** An HTTP/2 client connection (preface and SETTINGS sent) and whether the server closed it. */
function h2(): Promise<{ socket: Socket; closed: Promise<void>; answered: Promise<void> }> {
  const [host, port] = [server.endpoint.slice(0, server.endpoint.lastIndexOf(":")), Number(server.endpoint.slice(server.endpoint.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, host, () => {
      socket.write(PREFACE);
      socket.write(SETTINGS);
      resolve({ socket, closed, answered });
    });
    const closed = new Promise<void>((done) => socket.on("close", () => done()));
    // The server's SETTINGS frame: the connection was taken.
    const answered = new Promise<void>((done) => socket.once("data", () => done()));
    socket.on("error", () => {});
    socket.once("error", reject);
  });
}

test("connections to the gRPC port past maxConnectionsPerIp are closed; remoting ones count too; a slot frees on close", async () => {
  const remoting = await connect(dial, server.standalone.broker.address);
  const first = await h2();
  const second = await h2();
  await Promise.all([first.answered, second.answered]);
  // One remoting and two gRPC connections: the fourth, on either port, is one too many.
  const third = await h2();
  const timeout = new Promise<string>((done) => setTimeout(() => done("still open after 5 s"), 5000));
  expect(await Promise.race([third.closed.then(() => "closed"), timeout])).toBe("closed");
  first.socket.destroy();
  await first.closed;
  // Once the broker has counted the close, a new gRPC connection is taken.
  let again = await h2();
  await until(async () => {
    const outcome = await Promise.race([again.answered.then(() => "taken"), again.closed.then(() => "closed")]);
    if (outcome === "taken") return true;
    again = await h2();
    return false;
  }, 5000, "a gRPC connection to be taken after one closed");
  for (const c of [second, again]) c.socket.destroy();
  remoting.close();
});

test("request messages still arriving are paid for from the per-IP budget: past it a call is RESOURCE_EXHAUSTED; a reset call gives its share back", async () => {
  const connection = await h2();
  const chunks: Uint8Array[] = [];
  connection.socket.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
  const statusOf = (stream: number) => {
    const trailers = parseFrames(concat(...chunks)).find((f) => f.stream === stream && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0);
    return trailers === undefined ? undefined : new HpackDecoder().decode(trailers.payload).headers;
  };
  const headers = encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/apache.rocketmq.v2.MessagingService/QueryRoute"],
    [":authority", "x"],
    ["content-type", "application/grpc"],
    ["x-mq-client-id", "budget-test"],
  ]);
  const SIZE = 600 * 1024;
  // A 5-byte prefix announcing 600 KiB: the server reserves it before any of it arrives.
  const announce = (stream: number) => {
    const prefix = Uint8Array.of(0, (SIZE >>> 24) & 255, (SIZE >>> 16) & 255, (SIZE >>> 8) & 255, SIZE & 255);
    connection.socket.write(frame(FrameType.HEADERS, Flag.END_HEADERS, stream, headers));
    connection.socket.write(frame(FrameType.DATA, 0, stream, prefix));
  };
  announce(1);
  announce(3);
  await until(() => statusOf(3) !== undefined, 5000, "the second call to be refused");
  expect(statusOf(3)).toContainEqual(["grpc-status", "8"]);
  expect(statusOf(3)!.find(([name]) => name === "grpc-message")![1]).toContain("maxPendingFrameBytesPerIp");
  expect(statusOf(1)).toBeUndefined();
  // The first call is cancelled: its 600 KiB go back, so a third may announce as much, and send it.
  connection.socket.write(frame(FrameType.RST_STREAM, 0, 1, Uint8Array.of(0, 0, 0, 8)));
  announce(5);
  for (let sent = 0; sent < SIZE; sent += 16384) {
    const last = sent + 16384 >= SIZE;
    connection.socket.write(frame(FrameType.DATA, last ? Flag.END_STREAM : 0, 5, new Uint8Array(Math.min(16384, SIZE - sent))));
  }
  await until(() => statusOf(5) !== undefined, 5000, "the third call to be answered");
  // Its message arrived whole (600 KiB of zeros are no QueryRouteRequest): not refused for budget.
  expect(statusOf(5)).toContainEqual(["grpc-status", "13"]);
  connection.socket.destroy();
});
