/**
 * Adapts a Web Streams `Duplex` (a Deno connection, Cloudflare `connect()`, an in-memory pair) to the
 * push-style `Transport`.
 *
 * @module
 */
import type { Duplex, Transport, TransportHandlers } from "./transport.ts";

/**
 * Drives a duplex: reads its readable into `handlers.data` and writes through its writable.
 *
 * @param duplex The stream pair.
 * @param handlers Where incoming bytes and the close go.
 * @param remoteAddress The peer, for logs and records.
 * @returns A transport writing to the duplex.
 */
export function duplexTransport(duplex: Duplex, handlers: TransportHandlers, remoteAddress: string): Transport {
  const writer = duplex.writable.getWriter();
  let closed = false;
  let buffered = 0;
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    // The writer holds the writable's lock, so end the stream through it.
    writer.close().catch(() => {});
    duplex.close().catch(() => {});
    handlers.close(error);
  };
  (async () => {
    const reader = duplex.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        handlers.data(value);
      }
      finish();
    } catch (error) {
      finish(error instanceof Error ? error : new Error(String(error)));
    }
  })();
  return {
    remoteAddress,
    get bufferedAmount() {
      return buffered;
    },
    write(data) {
      if (closed) return;
      buffered += data.length;
      writer.write(data).then(
        () => {
          buffered -= data.length;
          if (buffered === 0) handlers.drain?.();
        },
        (error) => finish(error instanceof Error ? error : new Error(String(error))),
      );
    },
    close() {
      finish();
    },
  };
}
