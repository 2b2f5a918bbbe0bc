/**
 * An in-memory network: a `Listen` and a `Dialer` that connect through Web Streams pairs, so
 * servers and clients can be wired together in one process without sockets.
 */
import { duplexTransport } from "../../core/remoting/duplex.ts";
import type { Dialer, Duplex, Listen, Transport, TransportHandlers } from "../../core/remoting/transport.ts";

/** Two duplexes joined back to back. */
export function memoryDuplexPair(): [Duplex, Duplex] {
  const a = new TransformStream<Uint8Array, Uint8Array>();
  const b = new TransformStream<Uint8Array, Uint8Array>();
  const end = (stream: TransformStream<Uint8Array, Uint8Array>) => stream.writable.close().catch(() => {});
  return [
    { readable: b.readable, writable: a.writable, close: async () => { await end(a); } },
    { readable: a.readable, writable: b.writable, close: async () => { await end(b); } },
  ];
}

/** A network of in-memory listeners, addressed as `memory:<port>`. */
export class MemoryNetwork {
  #listeners = new Map<number, (transport: Transport) => TransportHandlers>();
  #nextPort = 1;
  #clientPort = 40000;

  listen: Listen = (options, accept) => {
    const port = options.port === 0 ? this.#nextPort++ : options.port;
    if (this.#listeners.has(port)) return Promise.reject(new Error(`Port ${port} is in use`));
    this.#listeners.set(port, accept);
    return Promise.resolve({
      hostname: "memory",
      port,
      close: () => {
        this.#listeners.delete(port);
        return Promise.resolve();
      },
    });
  };

  dial: Dialer = (address, handlers) => {
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    const accept = this.#listeners.get(port);
    if (accept === undefined) return Promise.reject(new Error(`Connection refused: ${address}`));
    const [client, server] = memoryDuplexPair();
    const clientAddress = `127.0.0.1:${this.#clientPort++}`;
    let serverHandlers: TransportHandlers | undefined;
    const serverTransport = duplexTransport(server, {
      data: (chunk) => serverHandlers!.data(chunk),
      close: (error) => serverHandlers!.close(error),
    }, clientAddress);
    serverHandlers = accept(serverTransport);
    return Promise.resolve(duplexTransport(client, handlers, address));
  };
}
