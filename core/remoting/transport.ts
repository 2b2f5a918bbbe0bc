/**
 * The seams between the runtime-neutral remoting layer and runtime sockets.
 *
 * @module
 */

/**
 * A two-way byte channel in Web Streams form: what Deno's `connect`, Cloudflare's `connect()` and a
 * WebSocket stream wrapper give. Every runtime socket can be adapted to this.
 */
export interface Duplex {
  /** Bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes both directions (Deno's `Conn` returns nothing, Cloudflare's socket a promise). */
  close(): void | Promise<void>;
  /** Settles once the socket is connected (Cloudflare's `socket.opened`); connected at once when absent. */
  readonly opened?: Promise<unknown>;
}

/**
 * A push-style socket: the light interface hot paths use. The adapter owns buffering: `write`
 * accepts every chunk (keeping what the socket did not take yet) and takes ownership of it.
 */
export interface Transport {
  /** Queues bytes for the peer. */
  write(data: Uint8Array): void;
  /** Closes the socket; `TransportHandlers.close` follows. */
  close(): void;
  /**
   * Closes the socket at once, dropping what `write` still holds (for a peer that is cut off, which
   * may not be reading); `close` is used where absent.
   */
  abort?(): void;
  /** The peer as `host:port`. */
  readonly remoteAddress: string;
  /** Bytes accepted by `write` but not yet taken by the socket. */
  readonly bufferedAmount: number;
  /**
   * True when `write` is done with its bytes once it returns (it copies what the socket did not
   * take), so the caller may reuse them; otherwise `write` takes ownership of the array.
   */
  readonly writeCopies?: boolean;
}

/** What an adapter calls as bytes arrive and when the socket ends. */
export interface TransportHandlers {
  /**
   * Bytes from the peer. Returns true when it kept no reference to `chunk` (it copied what it
   * needed), so the adapter may read into that memory again; otherwise the adapter must not reuse
   * `chunk`.
   */
  data(chunk: Uint8Array): boolean | void;
  /** The socket closed (with the error that closed it, if any). Called once. */
  close(error?: Error): void;
  /** The socket took all buffered bytes (optional). */
  drain?(): void;
}

/** Opens a client connection to `host:port`. */
export type Dialer = (address: string, handlers: TransportHandlers) => Promise<Transport>;

/** Options of a runtime's `createDialer`. */
export interface DialOptions {
  /** Dial TLS, checking the server this way; plain TCP when absent. */
  tls?: TlsClientOptions;
}

/** Options of a `Listen` call. */
export interface ListenOptions {
  /** Address to bind. @default "0.0.0.0" */
  hostname?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Serve TLS with this certificate and key (PEM text) instead of plain TCP. */
  tls?: TlsServerOptions;
  /** With `tls`: the protocols offered in ALPN, preferred first (HTTP/2 needs "h2"). @default none */
  alpnProtocols?: readonly string[];
  /**
   * Told of each connection whose TLS handshake failed (with `tls.clientCa`: a client certificate
   * missing or not signed by it); the connection is closed. @default none
   */
  onTlsError?: (remoteAddress: string, error: Error) => void;
}

/** A certificate chain and its private key (PEM text). */
export interface TlsIdentity {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** A server's TLS identity, and whether it requires clients to present one of their own. */
export interface TlsServerOptions extends TlsIdentity {
  /**
   * Mutual TLS: require every client to present a certificate signed by this CA (PEM) and close
   * the connection of one that does not. @default none: clients present no certificate
   */
  clientCa?: string;
}

/** How a client checks a TLS server. */
export interface TlsClientOptions {
  /** Trusted CA certificates (PEM); the runtime's roots when absent. */
  ca?: string;
  /** Refuse servers whose certificate does not check out. Deno cannot turn this off. @default true */
  rejectUnauthorized?: boolean;
  /** The name the certificate must carry. @default the host dialed */
  serverName?: string;
  /** The certificate and key to present when the server asks for one (mutual TLS). @default none */
  identity?: TlsIdentity;
  /**
   * A TLS handshake not done this long after the TCP connection opened fails the dial and closes
   * the socket (a server that accepts and never answers would hold it forever).
   * @default DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS
   */
  handshakeTimeoutMs?: number;
}

/** How long a dialer waits for a TLS handshake by default. */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A listening server socket. */
export interface Listener {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting connections (open connections stay). */
  close(): Promise<void>;
}

/** Starts accepting connections; `accept` returns the handlers for each new one. */
export type Listen = (
  options: ListenOptions,
  accept: (transport: Transport) => TransportHandlers,
) => Promise<Listener>;

/**
 * Splits `host:port` (IPv6 hosts in brackets or bare) into its parts.
 *
 * @param address The address text.
 * @returns Host and port.
 * @throws {TypeError} When the text has no valid port.
 */
export function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Address "${address}" is not host:port`);
  }
  let host = address.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return { host, port };
}

/**
 * Whether a listen or dial host is a loopback address (reachable only from this machine).
 *
 * @param host A hostname or IP address, IPv6 with or without brackets.
 * @returns True for `localhost`, `127.0.0.0/8` and `::1`.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) || /^::ffff:127\./i.test(bare);
}
