/**
 * The gRPC port counts its connections with the remoting port's against `maxConnectionsPerIp`:
 * past it a new connection is closed at once, before it costs the broker an HTTP/2 session, and a
 * slot frees when one closes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket } from "node:net";
import { dial } from "../../../client/bun/connect.ts";
import { connect } from "../../../core/remoting/connection.ts";
import { until } from "../../_helpers/wait.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/** An empty SETTINGS frame. */
const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);

let server: GrpcStandalone;

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc-conn-limit", { maxConnectionsPerIp: 3 });
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
