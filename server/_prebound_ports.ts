/**
 * Ports bound before their servers' code is loaded: the server commands listen on the NameServer's
 * and broker's ports as soon as the configuration is read, hold the connections that arrive (with
 * the bytes they send) while the broker's and NameServer's modules load, and hand each port, with
 * what it held, to the server that then listens on it. A client that connects early is served once
 * that server runs, instead of being refused.
 *
 * @module
 */
import type { Listen, Listener, ListenOptions, Transport, TransportHandlers } from "../core/remoting/transport.ts";

/** A port to bind early. */
export interface PrebindTarget {
  /** Address to bind. @default "0.0.0.0" */
  hostname?: string;
  /** The port; 0 (a free port) is never prebound, since the server could not ask for it again. */
  port: number;
}

/** Options of `prebindPorts`. */
export interface PrebindOptions {
  /** Connections held at most, over all ports; more are closed on arrival. @default 1024 */
  maxHeldConnections?: number;
  /** Bytes held at most, over all held connections; the connection whose bytes pass it is closed. @default 16 MiB */
  maxHeldBytes?: number;
  /** Told of a port that could not be bound early (its server's own listen reports why). */
  onBindError?: (target: PrebindTarget, error: unknown) => void;
}

/** The ports bound early. */
export interface PreboundPorts {
  /**
   * Listens like the wrapped adapter; a plain TCP listen on a prebound address gets that port, and
   * the connections it held are accepted first, their bytes replayed in order.
   */
  readonly listen: Listen;
  /** The ports bound, as `host:port`. */
  readonly bound: readonly string[];
  /** Closes the ports no server took, and the connections they hold. */
  release(): Promise<void>;
}

interface Held {
  readonly transport: Transport;
  chunks: Uint8Array[];
  bytes: number;
  /** Set once the port's server took the connection. */
  handlers?: TransportHandlers;
  closed: boolean;
}

interface Port {
  readonly key: string;
  listener?: Listener;
  held: Set<Held>;
  /** The server's accept, once one took the port. */
  accept?: (transport: Transport) => TransportHandlers;
}

const keyOf = (hostname: string | undefined, port: number) => `${hostname ?? "0.0.0.0"}:${port}`;

function drop(transport: Transport): void {
  if (transport.abort !== undefined) transport.abort();
  else transport.close();
}

/**
 * Binds `targets` with `listen` at once, holding their connections until a server listens there.
 *
 * @param listen The runtime's TCP adapter.
 * @param targets The ports (plain TCP; ports of 0 are skipped).
 * @param options Limits of what is held.
 * @returns The bound ports and a `Listen` that hands them over.
 */
export async function prebindPorts(listen: Listen, targets: readonly PrebindTarget[], options: PrebindOptions = {}): Promise<PreboundPorts> {
  const { maxHeldConnections = 1024, maxHeldBytes = 16 * 1024 * 1024 } = options;
  const ports = new Map<string, Port>();
  let heldConnections = 0;
  let heldBytes = 0;
  const forget = (held: Held) => {
    heldConnections--;
    heldBytes -= held.bytes;
    held.chunks = [];
    held.bytes = 0;
  };

  const bind = async (target: PrebindTarget) => {
    const key = keyOf(target.hostname, target.port);
    if (target.port === 0 || ports.has(key)) return;
    const port: Port = { key, held: new Set() };
    const accept = (transport: Transport): TransportHandlers => {
      if (port.accept !== undefined) return port.accept(transport);
      if (heldConnections >= maxHeldConnections) {
        drop(transport);
        return { data: () => true, close: () => {} };
      }
      const held: Held = { transport, chunks: [], bytes: 0, closed: false };
      heldConnections++;
      port.held.add(held);
      return {
        data(chunk) {
          if (held.handlers !== undefined) return held.handlers.data(chunk);
          if (held.closed) return true;
          if (heldBytes + chunk.length > maxHeldBytes) {
            held.closed = true;
            port.held.delete(held);
            forget(held);
            drop(transport);
            return true;
          }
          held.chunks.push(chunk.slice());
          held.bytes += chunk.length;
          heldBytes += chunk.length;
          return true;
        },
        close(error) {
          if (held.handlers !== undefined) return held.handlers.close(error);
          if (held.closed) return;
          held.closed = true;
          if (port.held.delete(held)) forget(held);
        },
        drain() {
          held.handlers?.drain?.();
        },
      };
    };
    try {
      port.listener = await listen({ hostname: target.hostname ?? "0.0.0.0", port: target.port }, accept);
      ports.set(key, port);
    } catch (error) {
      options.onBindError?.(target, error);
    }
  };
  await Promise.all(targets.map(bind));

  const claim = (port: Port, accept: (transport: Transport) => TransportHandlers): Listener => {
    port.accept = accept;
    ports.delete(port.key);
    for (const held of port.held) {
      const chunks = held.chunks;
      forget(held);
      const handlers = accept(held.transport);
      held.handlers = handlers;
      for (const chunk of chunks) handlers.data(chunk);
    }
    port.held.clear();
    return port.listener!;
  };

  const wrapped: Listen = (listenOptions: ListenOptions, accept) => {
    const port = listenOptions.tls === undefined ? ports.get(keyOf(listenOptions.hostname, listenOptions.port)) : undefined;
    return port === undefined ? listen(listenOptions, accept) : Promise.resolve(claim(port, accept));
  };

  return {
    listen: wrapped,
    bound: [...ports.keys()],
    async release() {
      const unclaimed = [...ports.values()];
      ports.clear();
      for (const port of unclaimed) {
        for (const held of port.held) {
          held.closed = true;
          forget(held);
          drop(held.transport);
        }
        port.held.clear();
      }
      await Promise.all(unclaimed.map((port) => port.listener!.close()));
    },
  };
}
