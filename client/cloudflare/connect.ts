/**
 * The Cloudflare Workers dialer: TCP through `connect()` of `cloudflare:sockets`, whose sockets are
 * Web Streams pairs. The Worker passes `connect` in (the module exists only inside workerd), so this
 * file imports nothing a bundler or type checker elsewhere cannot resolve.
 *
 * @module
 */
import { duplexDialer } from "../../core/remoting/duplex.ts";
import type { Dialer } from "../../core/remoting/transport.ts";

/** A socket of `cloudflare:sockets`, as far as the dialer uses it. */
export interface CloudflareSocket {
  /** Bytes from the server. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the server. */
  readonly writable: WritableStream<Uint8Array>;
  /** Settles once connected (rejects when the connection fails). */
  readonly opened: Promise<unknown>;
  /** Closes both directions. */
  close(): Promise<void>;
}

/** `connect()` of `cloudflare:sockets`, as far as the dialer uses it. */
export type CloudflareConnect = (
  address: { hostname: string; port: number },
  options: { secureTransport: "on" | "off"; allowHalfOpen: boolean },
) => CloudflareSocket;

/** Options of `cloudflareDialer`. */
export interface CloudflareDialerOptions {
  /** Dial TLS (`secureTransport: "on"`; Cloudflare checks the certificate against public roots). @default false */
  tls?: boolean;
}

/**
 * Makes a dialer on Cloudflare's `connect()`.
 *
 * @param connect `connect` from `cloudflare:sockets`.
 * @param options TLS or plain TCP.
 * @returns The dialer, for the `dial` option of every client.
 *
 * @example A Worker that sends a message
 * ```ts ignore
 * import { connect } from "cloudflare:sockets";
 * import { cloudflareDialer, Producer } from "@rocketmq-ts/rocketmq-ts/edge";
 *
 * export default {
 *   async fetch(request: Request): Promise<Response> {
 *     const producer = new Producer({ nameServer: "mq.example.com:9876", dial: cloudflareDialer(connect) });
 *     await producer.start();
 *     try {
 *       const sent = await producer.send({ topic: "orders", body: await request.text() });
 *       return Response.json({ msgId: sent.msgId });
 *     } finally {
 *       await producer.shutdown();
 *     }
 *   },
 * };
 * ```
 */
export function cloudflareDialer(connect: CloudflareConnect, options: CloudflareDialerOptions = {}): Dialer {
  const secureTransport = options.tls === true ? "on" : "off";
  return duplexDialer(({ host, port }) => connect({ hostname: host, port }, { secureTransport, allowHalfOpen: false }));
}
