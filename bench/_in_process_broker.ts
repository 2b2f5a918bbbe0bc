/**
 * A broker in the bench's own process, its one client connection fed by hand: the benches of the
 * broker's request paths (`broker_send_bench.ts`, `broker_pull_bench.ts`) give it frames through
 * the handlers `connect` returns, with no socket, no client and no other process in the way.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Transport, TransportHandlers } from "../core/remoting/transport.ts";
import { type Broker, type BrokerOptions, startBroker } from "../server/broker/broker.ts";

/** The broker and how to reach it. */
export interface InProcessBroker {
  broker: Broker;
  /** Accepts a connection whose writes go to `transport`; feed its requests to the handlers. */
  connect(transport: Transport): TransportHandlers;
  /** Closes the broker and deletes its data. */
  close(): Promise<void>;
}

/**
 * Starts a broker on file storage in a temporary directory, auto-creating topics, not logging.
 *
 * @param options Broker options besides those.
 * @returns The broker.
 */
export async function startInProcessBroker(options: Partial<BrokerOptions> = {}): Promise<InProcessBroker> {
  let accept: ((transport: Transport) => TransportHandlers) | undefined;
  const dir = mkdtempSync(join(tmpdir(), "rmq-bench-"));
  const broker = await startBroker({
    listen: (_options, onAccept) => {
      accept = onAccept;
      return Promise.resolve({ hostname: "memory", port: 1, close: () => Promise.resolve() });
    },
    dial: () => Promise.reject(new Error("No dialing in this bench")),
    dataDir: dir,
    port: 0,
    autoCreateTopicEnable: true,
    log: () => {},
    ...options,
  });
  return {
    broker,
    connect: (transport) => accept!(transport),
    async close() {
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
