/**
 * Standalone mode: a NameServer and one Broker in one process, the quickest way to run rocketmq-ts.
 *
 * @module
 */
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import { type Broker, type BrokerOptions, startBroker } from "./broker/broker.ts";
import { type NameServer, startNameServer } from "./namesrv/name_server.ts";

/** Options of `startStandalone`. */
export interface StandaloneOptions extends Omit<BrokerOptions, "nameServers" | "listen" | "dial"> {
  listen: Listen;
  dial: Dialer;
  /** NameServer port; 0 picks a free one. @default 9876 */
  nameServerPort?: number;
}

/** A running standalone system. */
export interface Standalone {
  nameServer: NameServer;
  broker: Broker;
  /** `host:port` of the NameServer, for clients. */
  nameServerAddress: string;
  /** `host:port` of the broker. */
  brokerAddress: string;
  /** Stops the broker, then the NameServer. */
  close(): Promise<void>;
}

/**
 * Starts a NameServer and a Broker registered with it. Topics are auto-created on first send
 * unless `autoCreateTopicEnable` is false. `acl` and `tls` apply to both listeners; with TLS, pass
 * a `dial` that speaks TLS, since the broker registers with the NameServer over it.
 *
 * @param options Ports, data directory and broker settings.
 * @returns The running pair.
 */
export async function startStandalone(options: StandaloneOptions): Promise<Standalone> {
  const hostname = options.hostname ?? "0.0.0.0";
  const nameServer = await startNameServer({
    listen: options.listen,
    hostname,
    port: options.nameServerPort ?? 9876,
    log: options.log,
    ...(options.acl === undefined ? {} : { acl: options.acl }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const nsHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  const nameServerAddress = `${nsHost}:${nameServer.port}`;
  let broker: Broker;
  try {
    broker = await startBroker({
      ...options,
      autoCreateTopicEnable: options.autoCreateTopicEnable ?? true,
      nameServers: [nameServerAddress],
    });
  } catch (error) {
    await nameServer.close();
    throw error;
  }
  return {
    nameServer,
    broker,
    nameServerAddress,
    brokerAddress: broker.address,
    async close() {
      await broker.close();
      await nameServer.close();
    },
  };
}
