/**
 * Standalone mode: a NameServer and one Broker in one process, the quickest way to run rocketmq-ts.
 *
 * @module
 */
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import { generateClusterSecret, standaloneClusterSecret } from "./_cluster_secret.ts";
import { type Broker, type BrokerOptions, startBroker } from "./broker/broker.ts";
import { type NameServer, type NameServerOptions, startNameServer } from "./namesrv/name_server.ts";
import { connectionGuardOf, type ConnectionLimits } from "../core/remoting/connection_guard.ts";
import { createLogger } from "./logger.ts";

/** Options of `startStandalone`. */
export interface StandaloneOptions extends Omit<BrokerOptions, "nameServers" | "listen" | "dial"> {
  listen: Listen;
  dial: Dialer;
  /** NameServer port; 0 picks a free one. @default 9876 */
  nameServerPort?: number;
  /** The rest of the NameServer's options (its address defaults to the broker's `hostname`). */
  nameServer?: Omit<NameServerOptions, "listen" | "port" | "acl" | "tls" | "connectionGuard" | "clusterSecret" | keyof ConnectionLimits>;
}

/**
 * The `host:port` a co-located broker or client reaches a NameServer at: its bound address, with a
 * wildcard one (`0.0.0.0`, `::`) as 127.0.0.1.
 *
 * @param nameServer The running NameServer.
 * @returns The address.
 */
export function nameServerAddressOf(nameServer: Pick<NameServer, "hostname" | "port">): string {
  const host = nameServer.hostname === "0.0.0.0" || nameServer.hostname === "::" ? "127.0.0.1" : nameServer.hostname;
  return `${host.includes(":") ? `[${host}]` : host}:${nameServer.port}`;
}

/** A running standalone system. */
export interface Standalone {
  nameServer: NameServer;
  broker: Broker;
  /** `host:port` of the NameServer, for clients. */
  nameServerAddress: string;
  /** `host:port` of the broker. */
  brokerAddress: string;
  /** The cluster secret other brokers joining this NameServer must be given (`clusterSecret`). */
  clusterSecret: string;
  /** Stops the broker, then the NameServer. */
  close(): Promise<void>;
}

/**
 * Starts a NameServer and a Broker registered with it. Topics are auto-created on first send
 * unless `autoCreateTopicEnable` is false. `acl` and `tls` apply to both listeners; with TLS, pass
 * a `dial` that speaks TLS, since the broker registers with the NameServer over it. Both servers
 * share one `connectionGuard` (by default one with the broker's limits), so its limits are the
 * process's.
 *
 * Broker registration is protected by the cluster secret: `clusterSecret` when given, else the one
 * in `<dataDir>/cluster.secret` (created with mode 0600 on first start; with a `storage` of its
 * own, such as memory, a fresh secret per start). Brokers joining this NameServer need it.
 *
 * @param options Ports, data directory and broker settings.
 * @returns The running pair.
 */
export async function startStandalone(options: StandaloneOptions): Promise<Standalone> {
  const { nameServer: nameServerOptions, nameServerPort, ...brokerOptions } = options;
  const log = options.log ?? createLogger({ component: "standalone" });
  const connectionGuard = options.connectionGuard ?? connectionGuardOf(brokerOptions, (line) => log(line, "warn"));
  const clusterSecret = options.clusterSecret ??
    (options.storage !== undefined ? generateClusterSecret() : standaloneClusterSecret(options.dataDir, log));
  const nameServer = await startNameServer({
    hostname: options.hostname ?? "0.0.0.0",
    log: options.log,
    // One switch for both ports: a RocketMQ client asks the NameServer first.
    ...(options.remotingEnabled === undefined ? {} : { remotingEnabled: options.remotingEnabled }),
    ...(options.listenWebSocket === undefined ? {} : { listenWebSocket: options.listenWebSocket }),
    ...nameServerOptions,
    listen: options.listen,
    port: nameServerPort ?? 9876,
    connectionGuard,
    clusterSecret,
    ...(options.acl === undefined ? {} : { acl: options.acl }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const nameServerAddress = nameServerAddressOf(nameServer);
  let broker: Broker;
  try {
    broker = await startBroker({
      ...brokerOptions,
      connectionGuard,
      clusterSecret,
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
    clusterSecret,
    async close() {
      await broker.close();
      await nameServer.close();
    },
  };
}
