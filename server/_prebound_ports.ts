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
  /** The port; 0 picks a free one (its server must then listen on the port bound, from `bound`). */
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
  /** Told each time a connection is held: a server that loads on its first client starts here. */
  onHold?: () => void;
}

/** The ports bound early. */
export interface PreboundPorts {
  /**
   * Listens like the wrapped adapter; a plain TCP listen on a prebound address gets that port, and
   * the connections it held are accepted first, their bytes replayed in order.
   */
  readonly listen: Listen;
  /** The ports bound, in the order of the targets (a target that could not be bound is left out). */
  readonly bound: readonly { readonly hostname: string; readonly port: number }[];
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
  key: string;
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

  const bind = async (target: PrebindTarget): Promise<Port | undefined> => {
    const port: Port = { key: keyOf(target.hostname, target.port), held: new Set() };
    const accept = (transport: Transport): TransportHandlers => {
      if (port.accept !== undefined) return port.accept(transport);
      if (heldConnections >= maxHeldConnections) {
        drop(transport);
        return { data: () => true, close: () => {} };
      }
      const held: Held = { transport, chunks: [], bytes: 0, closed: false };
      heldConnections++;
      port.held.add(held);
      options.onHold?.();
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
      port.key = keyOf(target.hostname, port.listener.port);
      ports.set(port.key, port);
      return port;
    } catch (error) {
      options.onBindError?.(target, error);
      return undefined;
    }
  };
  const bound = (await Promise.all(targets.map(bind))).flatMap((port) => (port === undefined ? [] : [port.listener!]))
    .map(({ hostname, port }) => ({ hostname, port }));

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
    bound,
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
