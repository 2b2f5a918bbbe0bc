import { describe, expect, test } from "bun:test";
import { connect } from "../../../core/remoting/connection.ts";
import { duplexDialer, duplexTransport } from "../../../core/remoting/duplex.ts";
import type { Duplex } from "../../../core/remoting/transport.ts";

/** A sink whose writes complete only when the test says so, and a readable the test feeds. */
function controlledDuplex() {
  const written: Uint8Array[] = [];
  const pendingWrites: Array<{ resolve(): void; reject(error: Error): void }> = [];
  let closedSink = false;
  let closedSocket = 0;
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  const duplex: Duplex = {
    readable: new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) }),
    writable: new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          pendingWrites.push({
            resolve: () => {
              written.push(chunk);
              resolve();
            },
            reject,
          });
        }),
      close: () => void (closedSink = true),
    }),
    close() {
      closedSocket++;
    },
  };
  return {
    duplex,
    written,
    /** Completes the oldest write in flight. */
    async complete(): Promise<void> {
      const next = pendingWrites.shift();
      if (next === undefined) throw new Error("no write in flight");
      next.resolve();
      await tick();
    },
    fail(error: Error) {
      pendingWrites.shift()!.reject(error);
    },
    inFlight: () => pendingWrites.length,
    feed: () => feed,
    sinkClosed: () => closedSink,
    socketCloses: () => closedSocket,
  };
}

/** Lets promise callbacks run. */
async function tick(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

function recorder() {
  const events: string[] = [];
  let closeError: Error | undefined;
  const data: Uint8Array[] = [];
  return {
    events,
    data,
    closeError: () => closeError,
    handlers: {
      data: (chunk: Uint8Array) => void data.push(chunk),
      close: (error?: Error) => {
        closeError = error;
        events.push("close");
      },
      drain: () => void events.push("drain"),
    },
  };
}

describe("duplexTransport", () => {
  test("writes made while one is in flight leave together in the next write, in order", async () => {
    const io = controlledDuplex();
    const transport = duplexTransport(io.duplex, recorder().handlers, "peer:1");
    transport.write(new Uint8Array([1]));
    transport.write(new Uint8Array([2, 3]));
    transport.write(new Uint8Array([4]));
    await tick();
    expect(io.inFlight()).toBe(1);
    await io.complete();
    expect(io.inFlight()).toBe(1);
    await io.complete();
    expect(io.written.map((chunk) => [...chunk])).toEqual([[1], [2, 3, 4]]);
  });

  test("bufferedAmount counts what the socket has not taken; drain follows when it is all taken", async () => {
    const io = controlledDuplex();
    const record = recorder();
    const transport = duplexTransport(io.duplex, record.handlers, "peer:1");
    transport.write(new Uint8Array(100));
    transport.write(new Uint8Array(50));
    expect(transport.bufferedAmount).toBe(150);
    await tick();
    await io.complete();
    expect(transport.bufferedAmount).toBe(50);
    expect(record.events).toEqual([]);
    await io.complete();
    expect(transport.bufferedAmount).toBe(0);
    expect(record.events).toEqual(["drain"]);
  });

  test("close() lets written bytes leave, then ends the stream and closes the socket; later writes are dropped", async () => {
    const io = controlledDuplex();
    const record = recorder();
    const transport = duplexTransport(io.duplex, record.handlers, "peer:1");
    transport.write(new Uint8Array([1]));
    transport.write(new Uint8Array([2]));
    transport.close();
    transport.write(new Uint8Array([9]));
    await tick();
    expect(io.sinkClosed()).toBe(false);
    expect(io.socketCloses()).toBe(0);
    await io.complete();
    await io.complete();
    expect(io.written.map((chunk) => [...chunk])).toEqual([[1], [2]]);
    expect(io.sinkClosed()).toBe(true);
    expect(io.socketCloses()).toBe(1);
    expect(record.events).toEqual(["close"]);
    expect(record.closeError()).toBeUndefined();
  });

  test("abort() drops what waits and closes the socket at once", async () => {
    const io = controlledDuplex();
    const record = recorder();
    const transport = duplexTransport(io.duplex, record.handlers, "peer:1");
    transport.write(new Uint8Array([1]));
    transport.write(new Uint8Array([2]));
    transport.abort!();
    await tick();
    expect(io.socketCloses()).toBe(1);
    expect(record.events).toEqual(["close"]);
    expect(io.written).toEqual([]);
  });

  test("a failed write closes the transport with its error", async () => {
    const io = controlledDuplex();
    const record = recorder();
    const transport = duplexTransport(io.duplex, record.handlers, "peer:1");
    transport.write(new Uint8Array([1]));
    await tick();
    io.fail(new Error("Broken pipe"));
    await tick();
    expect(record.events).toEqual(["close"]);
    expect(record.closeError()?.message).toBe("Broken pipe");
    expect(io.socketCloses()).toBe(1);
  });

  test("bytes read reach data(); a failed read closes with its error, the peer's end without one", async () => {
    const failing = controlledDuplex();
    const record = recorder();
    duplexTransport(failing.duplex, record.handlers, "peer:1");
    failing.feed().enqueue(new Uint8Array([7, 8]));
    await tick();
    expect(record.data.map((chunk) => [...chunk])).toEqual([[7, 8]]);
    failing.feed().error(new Error("Connection reset"));
    await tick();
    expect(record.closeError()?.message).toBe("Connection reset");

    const ended = controlledDuplex();
    const clean = recorder();
    duplexTransport(ended.duplex, clean.handlers, "peer:2");
    ended.feed().close();
    await tick();
    expect(clean.events).toEqual(["close"]);
    expect(clean.closeError()).toBeUndefined();
    expect(ended.socketCloses()).toBe(1);
  });

  test("Connection.writable() waits while the socket does not take bytes and resumes once it does", async () => {
    const io = controlledDuplex();
    const connection = await connect(duplexDialer(() => io.duplex), "peer:1");
    connection.oneway(1, {}, new Uint8Array(64 * 1024));
    await tick();
    let ready = false;
    const writable = connection.writable(32 * 1024).then(() => (ready = true));
    await tick();
    expect(ready).toBe(false);
    await io.complete();
    await writable;
    expect(ready).toBe(true);
    connection.close();
  });
});

describe("duplexDialer", () => {
  test("resolves once the socket is open and hands it the parsed host and port", async () => {
    const io = controlledDuplex();
    let open!: () => void;
    let target: { host: string; port: number } | undefined;
    const dial = duplexDialer((t) => {
      target = t;
      return { ...io.duplex, close: io.duplex.close, opened: new Promise<void>((resolve) => (open = resolve)) };
    });
    let dialed = false;
    const dialing = dial("[::1]:10911", recorder().handlers).then((transport) => {
      dialed = true;
      return transport;
    });
    await tick();
    expect(target).toEqual({ host: "::1", port: 10911 });
    expect(dialed).toBe(false);
    open();
    expect((await dialing).remoteAddress).toBe("[::1]:10911");
  });

  test("fails the dial when the socket does not open, and closes it", async () => {
    const io = controlledDuplex();
    const dial = duplexDialer(() => ({ ...io.duplex, close: io.duplex.close, opened: Promise.reject(new Error("Connection refused")) }));
    await expect(dial("127.0.0.1:1", recorder().handlers)).rejects.toThrow("Connection refused");
    expect(io.socketCloses()).toBe(1);
  });
});
