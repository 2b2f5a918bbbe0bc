import { describe, expect, test } from "bun:test";
import { FrameDecoder } from "../../../core/codec/frame.ts";
import { LimitExceededError } from "../../../core/errors.ts";
import { ConnectionGuard } from "../../../core/remoting/connection_guard.ts";

const KiB = 1024;
/** The length prefix of an 8 MiB frame. */
const announce = new Uint8Array([0, 0x80, 0, 0]);

/** A decoder paid for by `guard` as a connection from `ip`, fed an 8 MiB prefix and `bytes` of its body. */
function partial(guard: ConnectionGuard, ip: string, bytes: number) {
  const limits = guard.open(ip);
  const decoder = new FrameDecoder({ budget: limits.options.frameBudget });
  decoder.push(announce);
  decoder.push(new Uint8Array(bytes));
  return { decoder, limits };
}

describe("ConnectionGuard", () => {
  test("an IP's incomplete frames are refused past its share; other IPs keep theirs", () => {
    const guard = new ConnectionGuard({ maxPendingFrameBytesPerIp: 300 * KiB, maxPendingFrameBytes: 10_000 * KiB });
    const a = partial(guard, "10.0.0.1", 100);
    partial(guard, "10.0.0.1", 100);
    expect(guard.pendingFrameBytesOf("10.0.0.1")).toBe(128 * KiB);
    // Growing to 256 KiB would put 10.0.0.1 at 320 KiB.
    let refusal: unknown;
    try {
      a.decoder.push(new Uint8Array(64 * KiB));
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(LimitExceededError);
    expect((refusal as LimitExceededError).limit).toBe("maxPendingFrameBytesPerIp");
    expect((refusal as Error).message).toBe(
      "Incomplete frames from 10.0.0.1 would hold 0.3 MiB, past the 0.3 MiB allowed per IP (limit maxPendingFrameBytesPerIp)",
    );
    expect(guard.pendingFrameBytesOf("10.0.0.1")).toBe(128 * KiB);
    const other = partial(guard, "10.0.0.2", 100);
    other.decoder.push(new Uint8Array(64 * KiB));
    expect(guard.pendingFrameBytesOf("10.0.0.2")).toBe(256 * KiB);
    expect(guard.pendingFrameBytes).toEqual({ untrusted: 384 * KiB, trusted: 0 });
  });

  test("all untrusted connections together are refused past maxPendingFrameBytes", () => {
    const guard = new ConnectionGuard({ maxPendingFrameBytes: 200 * KiB });
    partial(guard, "10.0.0.1", 100);
    partial(guard, "10.0.0.2", 100);
    partial(guard, "10.0.0.3", 100);
    expect(() => partial(guard, "10.0.0.4", 100)).toThrow(
      "Incomplete frames of unauthenticated connections would hold 0.3 MiB, past the 0.2 MiB allowed in all (limit maxPendingFrameBytes)",
    );
    expect(guard.pendingFrameBytes.untrusted).toBe(192 * KiB);
  });

  test("a completed or dropped frame gives its share back", () => {
    const guard = new ConnectionGuard();
    const { decoder } = partial(guard, "10.0.0.1", 1000);
    const other = partial(guard, "10.0.0.1", 1000);
    expect(guard.pendingFrameBytesOf("10.0.0.1")).toBe(128 * KiB);
    decoder.reset();
    other.decoder.reset();
    expect(guard.pendingFrameBytesOf("10.0.0.1")).toBe(0);
    expect(guard.pendingFrameBytes).toEqual({ untrusted: 0, trusted: 0 });
  });

  test("a trusted connection's frames count apart and are never refused by the untrusted limits", () => {
    const guard = new ConnectionGuard({ maxPendingFrameBytesPerIp: 100 * KiB, maxPendingFrameBytes: 100 * KiB });
    const hostile = partial(guard, "10.0.0.1", 100);
    const { decoder, limits } = partial(guard, "10.0.0.1", 0);
    limits.trust();
    decoder.push(new Uint8Array(1024 * KiB));
    expect(guard.pendingFrameBytes).toEqual({ untrusted: 64 * KiB, trusted: 1024 * KiB });
    expect(guard.pendingFrameBytesOf("10.0.0.1")).toBe(64 * KiB);
    decoder.reset();
    hostile.decoder.reset();
    expect(guard.pendingFrameBytes).toEqual({ untrusted: 0, trusted: 0 });
  });

  test("trusting a connection moves what it already holds out of its IP's share", () => {
    const guard = new ConnectionGuard();
    const { decoder, limits } = partial(guard, "10.0.0.1", 100);
    limits.trust();
    expect(guard.pendingFrameBytesOf("10.0.0.1")).toBe(0);
    expect(guard.pendingFrameBytes).toEqual({ untrusted: 0, trusted: 64 * KiB });
    decoder.reset();
    expect(guard.pendingFrameBytes).toEqual({ untrusted: 0, trusted: 0 });
  });

  test("closed() counts connections cut by each limit and logs at most one line per IP and limit every 10 s", () => {
    const lines: string[] = [];
    const guard = new ConnectionGuard({ log: (line) => lines.push(line) });
    const cut = (limit: string) => new LimitExceededError(limit, `Too slow (limit ${limit})`);
    const closed = (ip: string, port: number, error?: Error) => guard.open(ip).closed(`${ip}:${port}`, error);
    expect(closed("10.0.0.1", 1, new Error("Reset by peer"))).toBe(false);
    expect(closed("10.0.0.1", 1)).toBe(false);
    for (let i = 0; i < 5; i++) expect(closed("10.0.0.1", i, cut("frameReadTimeoutMs"))).toBe(true);
    closed("10.0.0.1", 9, cut("handshakeTimeoutMs"));
    closed("10.0.0.2", 9, cut("handshakeTimeoutMs"));
    expect(lines).toEqual([
      "Connection 10.0.0.1:0 cut: Too slow (limit frameReadTimeoutMs)",
      "Connection 10.0.0.1:9 cut: Too slow (limit handshakeTimeoutMs)",
      "Connection 10.0.0.2:9 cut: Too slow (limit handshakeTimeoutMs)",
    ]);
    expect(Object.fromEntries(guard.cuts)).toEqual({ frameReadTimeoutMs: 5, handshakeTimeoutMs: 2 });
  });

  test("invalid limits are refused", () => {
    expect(() => new ConnectionGuard({ maxPendingFrameBytes: 0 })).toThrow('Invalid maxPendingFrameBytes "0": expected an integer of at least 1');
    expect(() => new ConnectionGuard({ handshakeTimeoutMs: 1.5 })).toThrow(/handshakeTimeoutMs "1.5"/);
  });
});
