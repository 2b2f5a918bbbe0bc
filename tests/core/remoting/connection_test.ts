import { describe, expect, test } from "bun:test";
import { Connection } from "../../../core/remoting/connection.ts";
import type { Transport, TransportHandlers } from "../../../core/remoting/transport.ts";
import { ConnectionClosedError, LimitExceededError, ProtocolError, RequestTimeoutError } from "../../../core/errors.ts";
import { encodeFrame } from "../../../core/codec/frame.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { createDispatcher, processor } from "../../../core/remoting/dispatcher.ts";
import * as v from "valibot";
import { replayable } from "../../_helpers/random.ts";

/** Two connections joined by synchronous in-memory transports that count writes. */
function pair(server: ConstructorParameters<typeof Connection>[0] = {}, client: ConstructorParameters<typeof Connection>[0] = {}) {
  const a = new Connection(client);
  const b = new Connection(server);
  const writes = { a: 0, b: 0 };
  const link = (from: "a" | "b", to: TransportHandlers, self: () => TransportHandlers): Transport => {
    let closed = false;
    return {
      remoteAddress: from === "a" ? "127.0.0.1:2" : "127.0.0.1:1",
      bufferedAmount: 0,
      write(data) {
        writes[from]++;
        const copy = data.slice();
        queueMicrotask(() => !closed && to.data(copy));
      },
      close() {
        if (closed) return;
        closed = true;
        queueMicrotask(() => {
          to.close();
          self().close();
        });
      },
    };
  };
  a.attach(link("a", b.handlers, () => a.handlers));
  b.attach(link("b", a.handlers, () => b.handlers));
  return { client: a, server: b, writes };
}

describe("Connection", () => {
  test("request() gets its own answer with many in flight answered out of order", () => replayable(async (random) => {
    const { client } = pair({
      onRequest: (req, c) => {
        setTimeout(() => c.respond(req, { code: 0, header: { echo: req.header.n } }), random.int(20));
      },
    });
    const answers = await Promise.all(Array.from({ length: 500 }, (_, n) => client.request(1, { n })));
    expect(answers.map((a) => a.header.echo)).toEqual(Array.from({ length: 500 }, (_, n) => n));
  }));

  test("writes made in one tick leave in one socket write", async () => {
    const { client, writes } = pair({ onRequest: (req, c) => c.respond(req, { code: 0 }) });
    await Promise.all(Array.from({ length: 100 }, () => client.request(1, {})));
    expect(writes.a).toBe(1);
    expect(writes.b).toBe(1);
  });

  test("frames of one tick past 1 MiB leave in several writes from one kept buffer, not one regrown and let go each tick", async () => {
    const buffers: ArrayBufferLike[] = [];
    let bytes = 0;
    const server = new Connection();
    server.attach({
      remoteAddress: "127.0.0.1:2",
      bufferedAmount: 0,
      writeCopies: true,
      write(data) {
        buffers.push(data.buffer);
        bytes += data.length;
      },
      close() {},
    });
    const body = new Uint8Array(600 * 1024).fill(7);
    for (let tick = 0; tick < 3; tick++) {
      for (let id = 1; id <= 4; id++) server.respond({ code: 11, id, flags: 0, header: {} }, { code: 0, body });
      await Promise.resolve();
    }
    expect(bytes).toBeGreaterThan(12 * body.length);
    expect(new Set(buffers).size).toBe(1);
    expect(buffers[0]!.byteLength).toBeLessThanOrEqual(1024 * 1024);
    server.close();
  });

  test("request() times out with RequestTimeoutError", async () => {
    const { client } = pair({ onRequest: () => {} });
    await expect(client.request(1, {}, undefined, 50)).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(client.inFlight).toBe(0);
  });

  test("a short request timeout fires on time behind longer ones and after earlier ones timed out", async () => {
    const { client } = pair({ onRequest: () => {} });
    const long = client.request(1, {}, undefined, 10_000);
    long.catch(() => {});
    // Earlier than every deadline so far: the sweep must not wait for the long one's.
    let began = Date.now();
    await expect(client.request(1, {}, undefined, 40)).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(Date.now() - began).toBeLessThan(1_000);
    // After a sweep that timed one out, the next earliest is found again.
    const first = client.request(1, {}, undefined, 30);
    const second = client.request(1, {}, undefined, 120);
    began = Date.now();
    await expect(first).rejects.toBeInstanceOf(RequestTimeoutError);
    await expect(second).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(client.inFlight).toBe(1);
    client.close();
    await expect(long).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  test("oneway() delivers without an answer", async () => {
    const got: number[] = [];
    const { client } = pair({ onRequest: (req, c) => { got.push(req.header.n as number); c.respond(req, { code: 0 }); } });
    client.oneway(7, { n: 1 });
    client.oneway(7, { n: 2 });
    const answer = await client.request(7, { n: 3 });
    expect(answer.code).toBe(0);
    expect(got).toEqual([1, 2, 3]);
  });

  test("every pending request fails when the connection closes", async () => {
    const { client, server } = pair({ onRequest: () => {} });
    const pending = Array.from({ length: 10 }, () => client.request(1, {}, undefined, 10_000));
    await Bun.sleep(5);
    server.close();
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionClosedError);
    }
    expect(client.closed).toBe(true);
    await expect(client.request(1, {})).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  test("a bad frame closes only that connection with a ProtocolError", async () => {
    let closeError: Error | undefined;
    const server = new Connection({ onClose: (_c, e) => (closeError = e) });
    let closed = false;
    server.attach({ remoteAddress: "x:1", bufferedAmount: 0, write() {}, close() { closed = true; } });
    server.handlers.data(new Uint8Array([0, 0, 0, 3, 0xff, 0xff, 0xff]));
    expect(closed).toBe(true);
    expect(closeError).toBeInstanceOf(ProtocolError);
    expect(closeError!.message).toContain("Bad frame");
  });

  test("a handler that throws is answered with SYSTEM_ERROR", async () => {
    const { client } = pair({ onRequest: () => { throw new Error("boom"); } });
    const answer = await client.request(1, {});
    expect(answer.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(answer.remark).toContain("boom");
  });
});

/** A server-side connection on a fake socket that records how it was closed. */
function guarded(options: ConstructorParameters<typeof Connection>[0]) {
  const state = { aborted: false, ended: false, error: undefined as Error | undefined };
  let resolveClosed: (error: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((resolve) => (resolveClosed = resolve));
  const connection = new Connection({
    onRequest: (request, c) => c.respond(request, { code: 0 }),
    ...options,
    onClose: (_c, error) => {
      state.error = error;
      resolveClosed(error);
    },
  });
  connection.attach({
    remoteAddress: "10.0.0.9:5000",
    bufferedAmount: 0,
    write() {},
    close() {
      state.ended = true;
    },
    abort() {
      state.aborted = true;
    },
  });
  return { connection, state, closed };
}

const frame = encodeFrame({ code: 1, id: 1, flags: 0, header: {} }).slice();
/** The length prefix of an 8 MiB frame and its first bytes. */
const bigStart = new Uint8Array([0, 0x80, 0, 0, 0x85, 1, 2, 0, 0xa0]);

describe("Connection limits", () => {
  test("handshakeTimeoutMs cuts a connection that sends no whole frame in time, at once", async () => {
    const { connection, state, closed } = guarded({ handshakeTimeoutMs: 50 });
    const started = Date.now();
    connection.handlers.data(frame.subarray(0, 3));
    const error = await closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(error).toBeInstanceOf(LimitExceededError);
    expect((error as LimitExceededError).limit).toBe("handshakeTimeoutMs");
    expect(error!.message).toBe("No whole frame from 10.0.0.9:5000 within 50 ms of connecting (limit handshakeTimeoutMs)");
    expect([state.aborted, state.ended, connection.closed]).toEqual([true, false, true]);
  });

  test("a whole frame in time stops the handshake timer", async () => {
    const { connection } = guarded({ handshakeTimeoutMs: 30 });
    connection.handlers.data(frame);
    await Bun.sleep(90);
    expect(connection.closed).toBe(false);
    connection.close();
  });

  test("frameReadTimeoutMs cuts a connection whose frame stays incomplete, though bytes keep trickling in", async () => {
    let held = 0;
    const { connection, state, closed } = guarded({
      frameReadTimeoutMs: 80,
      frameBudget: { reserve: (n) => void (held += n), release: (n) => void (held -= n) },
    });
    connection.handlers.data(frame);
    const started = Date.now();
    connection.handlers.data(bigStart);
    const trickle = setInterval(() => connection.handlers.data(new Uint8Array(1)), 10);
    const error = await closed;
    clearInterval(trickle);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect((error as LimitExceededError).limit).toBe("frameReadTimeoutMs");
    expect(error!.message).toMatch(/^A frame from 10\.0\.0\.9:5000 stayed incomplete for over 80 ms \(\d+ bytes of it arrived; limit frameReadTimeoutMs\)$/);
    expect(state.aborted).toBe(true);
    // The incomplete frame's buffer went back to the budget.
    expect(held).toBe(0);
  });

  test("frames that each complete in time are never cut, however long the connection lives", async () => {
    const { connection } = guarded({ frameReadTimeoutMs: 40 });
    const until = Date.now() + 200;
    while (Date.now() < until) {
      connection.handlers.data(frame.subarray(0, 5));
      await Bun.sleep(15);
      connection.handlers.data(frame.subarray(5));
    }
    expect(connection.closed).toBe(false);
    connection.close();
  });

  test("idleTimeoutMs cuts a connection that sent no frame for that long; each frame starts the count again", async () => {
    const { connection, closed } = guarded({ frameReadTimeoutMs: 20, idleTimeoutMs: 100 });
    // Frames every 40 ms: never 100 ms without one.
    const busyUntil = Date.now() + 300;
    let lastFrameAt = 0;
    while (Date.now() < busyUntil) {
      connection.handlers.data(frame);
      lastFrameAt = Date.now();
      await Bun.sleep(40);
    }
    expect(connection.closed).toBe(false);
    const error = await closed;
    expect(Date.now() - lastFrameAt).toBeGreaterThanOrEqual(95);
    expect((error as LimitExceededError).limit).toBe("idleTimeoutMs");
    expect(error!.message).toMatch(/^No frame from 10\.0\.0\.9:5000 for \d+ ms \(limit idleTimeoutMs\)$/);
  });

  test("handlers.data() lets the transport reuse a chunk only when no command points into it", () => {
    const { connection } = guarded({});
    expect(connection.handlers.data(frame.subarray(0, 5))).toBe(true);
    // The frame's end completes a frame assembled in the decoder's own buffer: the chunk is free.
    expect(connection.handlers.data(frame.subarray(5))).toBe(true);
    // A frame whole in the chunk is decoded in place: its command may point into the chunk.
    expect(connection.handlers.data(frame)).toBe(false);
    const two = new Uint8Array(2 * frame.length);
    two.set(frame);
    two.set(frame, frame.length);
    expect(connection.handlers.data(two.subarray(0, 5))).toBe(true);
    expect(connection.handlers.data(two.subarray(5))).toBe(false);
    connection.close();
  });

  test("a budget's refusal cuts the connection with its error and every reserved byte comes back", () => {
    let held = 0;
    const refusal = new LimitExceededError("maxPendingFrameBytesPerIp", "Too much");
    const { connection, state } = guarded({
      frameBudget: {
        reserve: (n) => {
          if (held + n > 100_000) throw refusal;
          held += n;
        },
        release: (n) => void (held -= n),
      },
    });
    connection.handlers.data(bigStart);
    connection.handlers.data(new Uint8Array(1000));
    expect(held).toBe(65_536);
    expect(connection.closed).toBe(false);
    connection.handlers.data(new Uint8Array(70_000));
    expect(connection.closed).toBe(true);
    expect(state.error).toBe(refusal);
    expect([state.aborted, held]).toEqual([true, 0]);
  });
});

describe("Connection.writable()", () => {
  test("waits while the socket holds more than the high-water mark and resumes on drain", async () => {
    let buffered = 0;
    const connection = new Connection();
    connection.attach({ remoteAddress: "x:1", get bufferedAmount() { return buffered; }, write(data) { buffered += data.length; }, close() {} });
    expect(await connection.writable(100)).toBeUndefined();
    connection.oneway(1, {}, new Uint8Array(500));
    await Promise.resolve();
    let resumed = false;
    const waiting = connection.writable(100).then(() => (resumed = true));
    await Bun.sleep(5);
    expect(resumed).toBe(false);
    buffered = 0;
    connection.handlers.drain!();
    await waiting;
    expect(resumed).toBe(true);
  });

  test("rejects waiters when the connection closes", async () => {
    const connection = new Connection();
    connection.attach({ remoteAddress: "x:1", bufferedAmount: 10_000, write() {}, close() {} });
    const waiting = connection.writable(100);
    connection.close();
    await expect(waiting).rejects.toBeInstanceOf(ConnectionClosedError);
  });
});

describe("createDispatcher()", () => {
  const dispatcher = createDispatcher({
    5: processor(v.object({ topic: v.string() }), (h) => ({ code: 0, header: { got: h.topic } })),
    6: processor(v.object({}), async () => { throw new Error("store is down"); }),
  });

  test("answers REQUEST_CODE_NOT_SUPPORTED for an unknown code", async () => {
    const { client } = pair({ onRequest: dispatcher });
    const answer = await client.request(999, {});
    expect(answer.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    expect(answer.remark).toBe("Request code 999 is not supported");
  });

  test("answers INVALID_HEADER naming the bad field", async () => {
    const { client } = pair({ onRequest: dispatcher });
    const answer = await client.request(5, { topic: 42 });
    expect(answer.code).toBe(ResponseCode.INVALID_HEADER);
    expect(answer.remark).toContain('"topic"');
    expect((await client.request(5, { topic: "ok" })).header.got).toBe("ok");
  });

  test("answers SYSTEM_ERROR when a processor rejects", async () => {
    const { client } = pair({ onRequest: dispatcher });
    const answer = await client.request(6, {});
    expect(answer.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(answer.remark).toContain("store is down");
  });

  test("a reply's written is called once, after its body was written: memory it gives back may be reused at once", async () => {
    const shared = new Uint8Array([1, 2, 3, 4]);
    let written = 0;
    const lending = createDispatcher({
      7: processor(v.object({}), () => ({
        code: 0,
        body: shared,
        written: () => {
          written++;
          shared.fill(0);
        },
      })),
    });
    const { client } = pair({ onRequest: lending });
    const answer = await client.request(7, {});
    expect(answer.body).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(written).toBe(1);
  });

  test("track hears every processed request enter, and leave once it is answered, whether it answered at once, later, or failed", async () => {
    const events: string[] = [];
    let release = () => {};
    const tracking = createDispatcher({
      8: processor(v.object({}), () => ({ code: 0, remark: "now" })),
      9: processor(v.object({}), () => new Promise((resolve) => (release = () => resolve({ code: 0, remark: "later" })))),
      10: processor(v.object({}), () => {
        throw new Error("broken");
      }),
      11: processor(v.object({}), () => Promise.reject(new Error("rejected"))),
      12: processor(v.object({ topic: v.string() }), () => ({ code: 0 })),
    }, {
      track: { enter: () => events.push("enter"), leave: () => events.push("leave") },
    });
    const server = new Connection({ onRequest: tracking });
    const client = new Connection();
    server.attach({
      remoteAddress: "client",
      bufferedAmount: 0,
      write: (data) => {
        events.push("written");
        const copy = data.slice();
        queueMicrotask(() => client.handlers.data(copy));
      },
      close() {},
    });
    client.attach({
      remoteAddress: "server",
      bufferedAmount: 0,
      write: (data) => {
        const copy = data.slice();
        queueMicrotask(() => server.handlers.data(copy));
      },
      close() {},
    });
    expect((await client.request(8, {})).remark).toBe("now");
    expect(events).toEqual(["enter", "leave", "written"]);
    events.length = 0;
    const later = client.request(9, {});
    await Bun.sleep(0);
    expect(events).toEqual(["enter"]);
    release();
    expect((await later).remark).toBe("later");
    expect(events).toEqual(["enter", "leave", "written"]);
    events.length = 0;
    expect((await client.request(10, {})).code).toBe(ResponseCode.SYSTEM_ERROR);
    expect((await client.request(11, {})).code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(events).toEqual(["enter", "leave", "written", "enter", "leave", "written"]);
    events.length = 0;
    // Refused before any processor ran: not counted.
    expect((await client.request(12, { topic: 1 })).code).toBe(ResponseCode.INVALID_HEADER);
    expect((await client.request(99, {})).code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    expect(events).toEqual(["written", "written"]);
  });
});
