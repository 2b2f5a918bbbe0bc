/**
 * The HTTP/2 server connection, fed raw bytes: preface and frame checks end the connection with
 * GOAWAY, a header block split over CONTINUATION is read, flow control holds data until the peer
 * grants window, output held for a peer that grants none is bounded (its stream is reset), streams
 * past the limit are refused, PING and SETTINGS are acknowledged. Then over TCP on the gRPC port:
 * garbage gets GOAWAY and closes that connection only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeHeaders, HpackDecoder } from "../../../server/grpc/hpack.ts";
import { ErrorCode, Flag, frame, FrameType, type Http2ConnectionOptions, Http2ServerConnection, type Http2Stream, PREFACE, Setting } from "../../../server/grpc/http2.ts";
import type { Transport } from "../../../core/remoting/transport.ts";
import { QueryRouteRequestSchema } from "../../../server/grpc/gen/apache/rocketmq/v2/service_pb.ts";
import { concat, type Frame, parseFrames } from "./_h2_frames.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

function settings(values: [number, number][] = []): Uint8Array {
  const payload = new Uint8Array(values.length * 6);
  const view = new DataView(payload.buffer);
  values.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}


const REQUEST = encodeHeaders([[":method", "POST"], [":scheme", "http"], [":path", "/test"], [":authority", "x"], ["content-type", "application/grpc"]]);

/** A connection on a transport that keeps what is written; each stream is answered `answer` bytes of data, then ends. */
function harness(options: Partial<Http2ConnectionOptions> & { answer?: number } = {}) {
  const written: Uint8Array[] = [];
  let closed = false;
  const transport: Transport = {
    remoteAddress: "127.0.0.1:1",
    bufferedAmount: 0,
    writeCopies: true,
    write: (bytes) => void written.push(bytes.slice()),
    close: () => void (closed = true),
  };
  const streams: Http2Stream[] = [];
  const resets: number[] = [];
  const received: string[] = [];
  const connection = new Http2ServerConnection(transport, {
    onStream(stream, headers) {
      streams.push(stream);
      received.push(headers.headers.map(([n, v]) => `${n}=${v}`).join(","));
      return {
        data: () => {},
        end: () => {
          stream.headers(encodeHeaders([[":status", "200"]]));
          stream.data(new Uint8Array(options.answer ?? 10), true);
        },
        reset: (code) => resets.push(code),
      };
    },
    prefaceTimeoutMs: 60_000,
    ...options,
  });
  return {
    connection,
    streams,
    resets,
    received,
    get closed() {
      return closed;
    },
    send(...bytes: Uint8Array[]) {
      connection.handlers.data(concat(...bytes));
    },
    /** Frames written since the last call, once the connection flushed. */
    async frames(): Promise<Frame[]> {
      await Promise.resolve();
      await Promise.resolve();
      const bytes = concat(...written.splice(0));
      return parseFrames(bytes);
    },
  };
}

function request(id: number, endStream = true): Uint8Array {
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id, REQUEST);
}

describe("HTTP/2 connection", () => {
  test("bytes that are not the preface get GOAWAY PROTOCOL_ERROR and the connection closes", async () => {
    const h = harness();
    h.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const goAway = (await h.frames()).find((f) => f.type === FrameType.GOAWAY);
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(h.closed).toBe(true);
  });

  test("a preface not followed by SETTINGS is a protocol error", async () => {
    const h = harness();
    h.send(PREFACE, frame(FrameType.PING, 0, 0, new Uint8Array(8)));
    const goAway = (await h.frames()).find((f) => f.type === FrameType.GOAWAY);
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(h.closed).toBe(true);
  });

  test("a frame over the 16 KiB limit gets GOAWAY FRAME_SIZE_ERROR before its payload is read", async () => {
    const h = harness();
    const header = new Uint8Array([0x00, 0x40, 0x01, FrameType.DATA, 0, 0, 0, 0, 1]);
    h.send(PREFACE, settings(), header);
    const goAway = (await h.frames()).find((f) => f.type === FrameType.GOAWAY);
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.FRAME_SIZE_ERROR);
    expect(h.closed).toBe(true);
  });

  test("SETTINGS and PING are acknowledged; the server's own SETTINGS come first", async () => {
    const h = harness();
    const ping = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    h.send(PREFACE, settings(), frame(FrameType.PING, 0, 0, ping));
    const frames = await h.frames();
    expect(frames[0]!.type).toBe(FrameType.SETTINGS);
    expect(frames[0]!.flags).toBe(0);
    expect(frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK)).toBe(true);
    const pong = frames.find((f) => f.type === FrameType.PING)!;
    expect(pong.flags).toBe(Flag.ACK);
    expect([...pong.payload]).toEqual([...ping]);
  });

  test("a header block split over CONTINUATION frames is read whole", async () => {
    const h = harness();
    const block = encodeHeaders([[":method", "POST"], [":path", "/split"], ["x-long", "v".repeat(300)]]);
    h.send(
      PREFACE,
      settings(),
      frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 10)),
      frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 200)),
      frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(200)),
    );
    expect(h.received).toEqual([`:method=POST,:path=/split,x-long=${"v".repeat(300)}`]);
    const frames = await h.frames();
    expect(frames.some((f) => f.type === FrameType.DATA && f.stream === 1 && (f.flags & Flag.END_STREAM) !== 0)).toBe(true);
  });

  test("a header block in too many CONTINUATION frames ends the connection (ENHANCE_YOUR_CALM)", async () => {
    const h = harness();
    const empties = Array.from({ length: 100 }, () => frame(FrameType.CONTINUATION, 0, 1, new Uint8Array(0)));
    h.send(PREFACE, settings(), frame(FrameType.HEADERS, 0, 1, REQUEST.subarray(0, 5)), ...empties);
    const goAway = (await h.frames()).find((f) => f.type === FrameType.GOAWAY);
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(h.closed).toBe(true);
  });

  test("a frame of another stream inside a header block is a protocol error", async () => {
    const h = harness();
    h.send(PREFACE, settings(), frame(FrameType.HEADERS, Flag.END_STREAM, 1, REQUEST.subarray(0, 5)), request(3));
    const goAway = (await h.frames()).find((f) => f.type === FrameType.GOAWAY);
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  test("padded HEADERS and DATA are read without their padding", async () => {
    const chunks: number[] = [];
    const h = harness();
    h.send(PREFACE, settings());
    const padded = concat(Uint8Array.of(4), REQUEST, new Uint8Array(4));
    h.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, padded));
    h.streams[0]!.handlers = { data: (b) => chunks.push(b.length), end: () => {}, reset: () => {} };
    h.send(frame(FrameType.DATA, Flag.PADDED, 1, concat(Uint8Array.of(3), new Uint8Array(7), new Uint8Array(3))));
    expect(chunks).toEqual([7]);
  });

  test("data waits for the peer's window and goes out as WINDOW_UPDATEs grant it", async () => {
    const h = harness({ answer: 100 });
    h.send(PREFACE, settings([[Setting.INITIAL_WINDOW_SIZE, 30]]), request(1));
    let frames = await h.frames();
    const data = () => frames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload.length);
    expect(data()).toEqual([30]);
    h.send(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(50)));
    frames = await h.frames();
    expect(data()).toEqual([50]);
    h.send(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(1000)));
    frames = await h.frames();
    expect(data()).toEqual([20]);
    expect(frames.find((f) => f.type === FrameType.DATA)!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
    expect(h.connection.streamCount).toBe(0);
  });

  test("a peer that never grants window gets its streams reset once the held output reaches the bound", async () => {
    const h = harness({ answer: 1000, maxPendingOutput: 4000 });
    h.send(PREFACE, settings([[Setting.INITIAL_WINDOW_SIZE, 0]]));
    for (let id = 1; id <= 19; id += 2) h.send(request(id));
    const frames = await h.frames();
    const resets = frames.filter((f) => f.type === FrameType.RST_STREAM);
    // Four answers of 1000 bytes fit in the bound; the other six streams are reset.
    expect(resets.map((f) => f.stream)).toEqual([9, 11, 13, 15, 17, 19]);
    expect(resets.every((f) => new DataView(f.payload.buffer).getUint32(0) === ErrorCode.ENHANCE_YOUR_CALM)).toBe(true);
    expect(h.connection.streamCount).toBe(4);
    expect(h.closed).toBe(false);
  });

  test("streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused (REFUSED_STREAM)", async () => {
    const h = harness({ maxConcurrentStreams: 3 });
    h.send(PREFACE, settings());
    // Open streams that do not end: they stay open.
    for (let id = 1; id <= 9; id += 2) h.send(request(id, false));
    const frames = await h.frames();
    const refused = frames.filter((f) => f.type === FrameType.RST_STREAM);
    expect(refused.map((f) => [f.stream, new DataView(f.payload.buffer).getUint32(0)])).toEqual([[7, ErrorCode.REFUSED_STREAM], [9, ErrorCode.REFUSED_STREAM]]);
    expect(h.connection.streamCount).toBe(3);
    expect(h.closed).toBe(false);
  });

  test("DATA past the connection's receive window is a flow-control error", async () => {
    const h = harness({ connectionWindow: 65535, streamWindow: 1 << 20 });
    h.send(PREFACE, settings(), request(1, false));
    // In one read: no WINDOW_UPDATE can have gone out between the frames.
    h.send(...Array.from({ length: 5 }, () => frame(FrameType.DATA, 0, 1, new Uint8Array(16384))));
    const goAway = (await h.frames()).find((f) => f.type === FrameType.GOAWAY);
    expect(new DataView(goAway!.payload.buffer).getUint32(4)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
  });

  test("RST_STREAM from the peer resets the stream", async () => {
    const h = harness();
    h.send(PREFACE, settings(), request(1, false));
    h.send(frame(FrameType.RST_STREAM, 0, 1, u32(ErrorCode.CANCEL)));
    expect(h.resets).toEqual([ErrorCode.CANCEL]);
    expect(h.connection.streamCount).toBe(0);
  });
});

describe("HTTP/2 on the gRPC port", () => {
  let server: GrpcStandalone;
  beforeAll(async () => {
    server = await startGrpcStandalone("rmq-grpc-h2");
  });
  afterAll(async () => {
    await server?.close();
  });

  function open(): Promise<{ socket: Socket; frames: () => Frame[]; closed: Promise<void> }> {
    const [host, port] = server.endpoint.split(":");
    return new Promise((resolve) => {
      const chunks: Uint8Array[] = [];
      let closedResolve!: () => void;
      const closed = new Promise<void>((r) => (closedResolve = r));
      const socket = tcpConnect(Number(port), host!, () => resolve({ socket, frames: () => parseFrames(concat(...chunks)), closed }));
      socket.on("data", (d: Buffer) => chunks.push(new Uint8Array(d)));
      socket.on("close", () => closedResolve());
      socket.on("error", () => {});
    });
  }

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  test("garbage after the preface gets GOAWAY and closes that connection; another one keeps being answered", async () => {
    const good = await open();
    const bad = await open();
    good.socket.write(concat(PREFACE, settings()));
    bad.socket.write(concat(PREFACE, settings(), new TextEncoder().encode("garbage garbage garbage garbage")));
    await bad.closed;
    expect(bad.frames().some((f) => f.type === FrameType.GOAWAY)).toBe(true);
    const headers = encodeHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/apache.rocketmq.v2.MessagingService/QueryRoute"],
      [":authority", "x"],
      ["content-type", "application/grpc"],
      ["x-mq-client-id", "h2-test"],
    ]);
    const message = toBinary(QueryRouteRequestSchema, create(QueryRouteRequestSchema, { topic: { name: "h2-test" } }));
    const prefixed = concat(Uint8Array.of(0), u32(message.length), message);
    good.socket.write(concat(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headers), frame(FrameType.DATA, Flag.END_STREAM, 1, prefixed)));
    await until(() => good.frames().some((f) => f.stream === 1 && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0));
    const answer = good.frames().filter((f) => f.stream === 1);
    expect(answer.map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.DATA, FrameType.HEADERS]);
    expect(new TextDecoder().decode(answer[2]!.payload)).toContain("grpc-status");
    good.socket.destroy();
  });

  test("a status message is percent-encoded outside printable ASCII, and its percent signs too", async () => {
    const c = await open();
    const headers = encodeHeaders([[":method", "POST"], [":scheme", "http"], [":path", "/nö%41"], [":authority", "x"], ["content-type", "application/grpc"]]);
    c.socket.write(concat(PREFACE, settings(), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, headers)));
    await until(() => c.frames().some((f) => f.stream === 1 && f.type === FrameType.HEADERS));
    const answer = new HpackDecoder().decode(c.frames().find((f) => f.stream === 1 && f.type === FrameType.HEADERS)!.payload).headers;
    expect(answer).toContainEqual(["grpc-status", "12"]);
    expect(answer).toContainEqual(["grpc-message", 'Method "/n%C3%B6%2541" is not implemented']);
    c.socket.destroy();
  });
});
