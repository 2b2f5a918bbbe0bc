/**
 * Raw WebSocket clients for tests that send what they like (text, odd splits, half frames) and
 * watch what the server answers and how it closes.
 */
import { FrameDecoder } from "../../core/codec/frame.ts";
import type { Command } from "../../core/protocol/command.ts";

/** A raw WebSocket to a server. */
export interface RawWebSocket {
  readonly socket: WebSocket;
  /** Commands decoded from the server's messages so far. */
  readonly commands: Command[];
  /** Resolves with the close code and reason once closed, by either side. */
  readonly closed: Promise<{ code: number; reason: string }>;
  isClosed(): boolean;
  /** Resolves once `count` commands arrived (rejects if the socket closes first). */
  received(count: number, timeoutMs?: number): Promise<Command[]>;
}

/**
 * Opens a WebSocket and waits until it is open.
 *
 * @param url The server's URL.
 * @returns The open socket.
 */
export async function openRawWebSocket(url: string): Promise<RawWebSocket> {
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const decoder = new FrameDecoder();
  const commands: Command[] = [];
  const waiters = new Set<() => void>();
  let closedFlag = false;
  socket.addEventListener("message", (event) => {
    if (event.data instanceof ArrayBuffer) commands.push(...decoder.push(new Uint8Array(event.data)));
    for (const waiter of waiters) waiter();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.addEventListener("close", (event) => {
      closedFlag = true;
      resolve({ code: event.code, reason: event.reason });
      for (const waiter of waiters) waiter();
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`WebSocket ${url} did not open`)), { once: true });
  });
  return {
    socket,
    commands,
    closed,
    isClosed: () => closedFlag,
    received(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`Timed out waiting for ${count} commands, got ${commands.length}`)), timeoutMs);
        const done = (error?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error === undefined) resolve(commands.slice(0, count));
          else reject(error);
        };
        const check = () => {
          if (commands.length >= count) done();
          else if (closedFlag) done(new Error(`WebSocket closed after ${commands.length} of ${count} commands`));
        };
        waiters.add(check);
        check();
      });
    },
  };
}
