/**
 * Plain gRPC's port listens when the broker starts and its server loads on the first connection:
 * that connection waits for it and is answered; a broker closed before any client, or while the
 * server loads, lets the port go.
 */
import { expect, test } from "bun:test";
import { dial } from "../../../client/bun/connect.ts";
import type { Listen, ListenOptions } from "../../../core/remoting/transport.ts";
import { listen } from "../../../server/bun/listen.ts";
import { parseFrames } from "./_h2_frames.ts";
import { startGrpcStandalone } from "./_standalone.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** An empty SETTINGS frame. */
const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** Listens like Bun's adapter, counting the listens on each port. */
function countingListen(): { listen: Listen; calls: ListenOptions[] } {
  const calls: ListenOptions[] = [];
  return { calls, listen: (options, accept) => (calls.push(options), listen(options, accept)) };
}

/** Connects to the gRPC port and resolves with the first frames the server sends. */
async function firstFrames(endpoint: string): Promise<{ frames: ReturnType<typeof parseFrames>; close(): void }> {
  let got!: (bytes: Uint8Array) => void;
  const received = new Promise<Uint8Array>((resolve) => (got = resolve));
  const transport = await dial(endpoint, { data: (chunk) => got(chunk.slice()), close: () => {} });
  transport.write(PREFACE);
  transport.write(SETTINGS);
  return { frames: parseFrames(await received), close: () => transport.close() };
}

test("the first gRPC connection waits for the server to load and gets its SETTINGS; the port is listened on once", async () => {
  const counting = countingListen();
  const system = await startGrpcStandalone("rmq-grpc-lazy", { listen: counting.listen });
  try {
    const port = system.standalone.broker.grpcPort!;
    expect(system.endpoint).toBe(`127.0.0.1:${port}`);
    const client = await firstFrames(system.endpoint);
    expect(client.frames[0]?.type).toBe(4); // SETTINGS
    client.close();
    const second = await firstFrames(system.endpoint);
    expect(second.frames[0]?.type).toBe(4);
    second.close();
    // The server took the port bound at the start: it did not listen again.
    expect(counting.calls.filter((options) => options.port === port)).toEqual([]);
  } finally {
    await system.close();
  }
});

test("a broker closed before any gRPC client, or while the gRPC server loads, lets the port go", async () => {
  for (const connectFirst of [false, true]) {
    const system = await startGrpcStandalone("rmq-grpc-lazy-close");
    const port = system.standalone.broker.grpcPort!;
    if (connectFirst) {
      const transport = await dial(system.endpoint, { data: () => {}, close: () => {} });
      transport.write(PREFACE);
    }
    await system.close();
    const again = await listen({ hostname: "127.0.0.1", port }, () => ({ data: () => true, close: () => {} }));
    expect(again.port).toBe(port);
    await again.close();
  }
});
