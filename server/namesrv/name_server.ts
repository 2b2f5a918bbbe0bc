/**
 * The NameServer: serves the route table over the native protocol and expires silent brokers
 * (RocketMQ's `NamesrvController` with its `BrokerHousekeepingService`). NameServers keep no
 * state on disk and never talk to each other; brokers register with every one of them.
 *
 * @module
 */
import { Connection } from "../../core/remoting/connection.ts";
import { createDispatcher } from "../../core/remoting/dispatcher.ts";
import { isLoopbackHost, type Listen, type TlsServerOptions } from "../../core/remoting/transport.ts";
import { createNameServerProcessors } from "./processors.ts";
import { guardRegistration } from "./registration_guard.ts";
import { RouteTable } from "./route_table.ts";
import type { AclGuard } from "../acl/acl_guard.ts";
import type { Log } from "../logger.ts";
import {
  type ConnectionGuard,
  connectionGuardOf,
  type ConnectionLimits,
  type GuardedConnection,
} from "../../core/remoting/connection_guard.ts";
import { hostOf } from "../broker/connections_per_ip.ts";
import type { ControllerAccess } from "../../core/protocol/controller.ts";
import { Controller } from "../controller/controller.ts";
import { createControllerProcessors } from "../controller/controller_processors.ts";
import { EtcdClient } from "../controller/etcd.ts";
import { remotingWire } from "../../core/remoting/remoting_wire.ts";
import { detectProtocol } from "../../core/remoting/wire.ts";
import { createRemotingDispatcher } from "../remoting/remoting_dispatcher.ts";
import { NAME_SERVER_MAPPINGS, NAME_SERVER_UNSUPPORTED } from "../remoting/name_server_mappings.ts";
import { listenForClients, type WebSocketServerOptions } from "../_client_listener.ts";

/** Options of `startNameServer`. */
export interface NameServerOptions extends ConnectionLimits, WebSocketServerOptions {
  /** The runtime's listen adapter (`server/bun/listen.ts`, `server/deno/listen.ts`, or an in-memory one). */
  listen: Listen;
  /** Address to bind. @default "0.0.0.0" */
  hostname?: string;
  /** Port to bind; 0 picks a free one. @default 9876 */
  port?: number;
  /** A broker silent for longer than this is dropped. @default 120000 */
  brokerExpiryMs?: number;
  /** Most topics one broker may register; a larger registration is refused with a remark saying so. @default 100000 */
  maxTopicsPerBroker?: number;
  /** How often silent brokers are looked for. @default 10000 */
  scanIntervalMs?: number;
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
  /** Where broker arrivals and departures and unexpected failures are reported. @default nowhere */
  log?: Log;
  /** Checks every request against an ACL (see `server/acl/`). @default none: ACL off */
  acl?: AclGuard;
  /** Serve over TLS with this certificate and key (PEM). @default plain TCP */
  tls?: TlsServerOptions;
  /**
   * Bounds what unauthenticated connections may buffer in incomplete frames (per IP and in all) and
   * how long they may take to send frames; share one between the servers of a process (the limits
   * among these options are then not read).
   * @default a guard with the limits among these options, logging to `log`
   */
  connectionGuard?: ConnectionGuard;
  /**
   * The cluster secret: `REGISTER_BROKER`/`UNREGISTER_BROKER` must be signed with it (or, with ACL,
   * by an admin account). @default none
   */
  clusterSecret?: string;
  /**
   * Listen beyond loopback although neither ACL nor a cluster secret protects registration (anyone
   * could then register a fake broker). Without it such a NameServer refuses to start. @default false
   */
  allowOpenRegistration?: boolean;
  /**
   * Run a controller beside this NameServer (controller mode, automatic failover), keeping its
   * state in the etcd cluster at these endpoints (`http://host:port` each). @default none: no controller
   */
  controllerEtcdEndpoints?: string[];
  /** Controller: key prefix in etcd. @default "/rocketmq" */
  controllerEtcdPrefix?: string;
  /** Controller: the etcd user to authenticate as (etcd auth enabled), with `controllerEtcdPassword`. @default none */
  controllerEtcdUsername?: string;
  /** Controller: the password of `controllerEtcdUsername`. @default none */
  controllerEtcdPassword?: string;
  /** Controller: a broker's lease time to live in seconds; a master silent this long is replaced. @default 2 */
  controllerLeaseTtlSeconds?: number;
  /**
   * Also answer RocketMQ 4.x remoting clients (route queries of ali-ons, Java, Go) on the port:
   * each connection's first bytes tell which protocol it speaks. @default true
   */
  remotingEnabled?: boolean;
}

/** A running NameServer. */
export interface NameServer {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port (the one picked when 0 was asked for). */
  readonly port: number;
  /** The WebSocket port clients may also connect to, when `webSocketPort` was set. */
  readonly webSocketPort?: number;
  /** The options it was started with. */
  readonly options: Readonly<NameServerOptions>;
  /** The live route table. */
  readonly routeTable: RouteTable;
  /** Limits on unauthenticated connections (incomplete frames, timeouts) and the cuts made. */
  readonly connectionGuard: ConnectionGuard;
  /** The controller it runs (`controllerEtcdEndpoints`), if any. */
  readonly controller?: ControllerAccess;
  /** Stops listening, stops the expiry scan and closes every connection. */
  close(): Promise<void>;
}

/** The NameServer's default port. */
export const DEFAULT_NAME_SERVER_PORT = 9876;

/**
 * Starts a NameServer.
 *
 * @param options The listen adapter, address, expiry and clock.
 * @returns The running NameServer.
 *
 * @example Starting a NameServer on a free port
 * ```ts
 * import { startNameServer } from "./name_server.ts";
 * import { listen } from "../bun/listen.ts";
 *
 * const nameServer = await startNameServer({ listen, hostname: "127.0.0.1", port: 0 });
 * console.log(`NameServer on ${nameServer.hostname}:${nameServer.port}`);
 * await nameServer.close();
 * ```
 */
export async function startNameServer(options: NameServerOptions): Promise<NameServer> {
  const scanIntervalMs = options.scanIntervalMs ?? 10_000;
  if (!(scanIntervalMs > 0)) throw new RangeError(`Scan interval must be above 0 ms, got ${scanIntervalMs}`);
  const log = options.log;
  const hostname = options.hostname ?? "0.0.0.0";
  const open = options.acl === undefined && options.clusterSecret === undefined;
  if (open && !isLoopbackHost(hostname) && options.allowOpenRegistration !== true) {
    throw new Error(
      `Broker registration would be open to anyone who reaches ${hostname} (neither ACL nor a cluster secret is set), so any host ` +
        "could register a fake broker and take over a broker's routes: set a cluster secret (--cluster-secret-file, cluster.secretFile), " +
        "turn on ACL (--acl), listen on 127.0.0.1, or accept the risk with --allow-open-registration (nameserver.allowOpenRegistration)",
    );
  }
  const etcdUser = options.controllerEtcdUsername;
  const etcdPassword = options.controllerEtcdPassword;
  if ((etcdUser === undefined) !== (etcdPassword === undefined)) {
    throw new Error(`etcd auth needs both controller.etcdUsername and controller.etcdPassword; only ${etcdUser === undefined ? "the password" : "the user name"} is set`);
  }
  const routeTable = new RouteTable({ now: options.now, brokerExpiryMs: options.brokerExpiryMs, maxTopicsPerBroker: options.maxTopicsPerBroker });
  const controller = options.controllerEtcdEndpoints === undefined || options.controllerEtcdEndpoints.length === 0
    ? undefined
    : new Controller({
      etcd: new EtcdClient({
        endpoints: options.controllerEtcdEndpoints,
        ...(etcdUser === undefined || etcdPassword === undefined ? {} : { credentials: { username: etcdUser, password: etcdPassword } }),
      }),
      ...(options.controllerEtcdPrefix === undefined ? {} : { prefix: options.controllerEtcdPrefix }),
      ...(options.controllerLeaseTtlSeconds === undefined ? {} : { leaseTtlSeconds: options.controllerLeaseTtlSeconds }),
      ...(log === undefined ? {} : { log }),
    });
  const processors = createDispatcher({
    ...createNameServerProcessors(routeTable, { log }),
    ...(controller === undefined ? {} : createControllerProcessors(controller)),
  }, {
    onError: (error, request) => log?.(`Request ${request.code} failed: ${error instanceof Error ? error.message : String(error)}`, "error"),
  });
  const guard = options.connectionGuard ?? connectionGuardOf(options, (line) => log?.(line, "warn"));
  const guarded = new WeakMap<Connection, GuardedConnection>();
  // A request that passed the ACL or the cluster secret proves its connection's peer: its frames no
  // longer count as unauthenticated.
  const dispatcher = guardRegistration(processors, {
    ...(options.clusterSecret === undefined ? {} : { clusterSecret: options.clusterSecret }),
    ...(options.acl === undefined ? {} : { acl: options.acl }),
    ...(log === undefined ? {} : { log }),
    onAuthenticated: (connection) => guarded.get(connection)?.trust(),
  });

  const remoting = createRemotingDispatcher(NAME_SERVER_MAPPINGS, dispatcher, { unsupported: NAME_SERVER_UNSUPPORTED });
  const wire = options.remotingEnabled === false ? {} : { wire: detectProtocol(remotingWire) };

  const connections = new Set<Connection>();
  const listener = await listenForClients(
    options.listen,
    { hostname, port: options.port ?? DEFAULT_NAME_SERVER_PORT, ...(options.tls === undefined ? {} : { tls: options.tls }) },
    options,
    (transport) => {
      const ip = hostOf(transport.remoteAddress);
      const limits = guard.open(ip);
      const connection = new Connection({
        ...limits.options,
        ...wire,
        onRequest: (request, c) => (c.protocol === "remoting" ? remoting : dispatcher)(request, c),
        onClose: (c, error) => {
          limits.closed(c.remoteAddress, error);
          connections.delete(c);
          for (const addr of routeTable.dropSession(c)) {
            log?.(`Broker at ${addr} dropped: its connection from ${c.remoteAddress} closed`, "warn");
          }
        },
      });
      guarded.set(connection, limits);
      connections.add(connection);
      connection.attach(transport);
      return connection.handlers;
    },
  );

  if (open) {
    log?.(
      isLoopbackHost(hostname)
        ? `Warning: broker registration is open (neither ACL nor a cluster secret is set): any process on this machine can register ` +
          "or unregister brokers and take over their routes"
        : `WARNING: broker registration is open to anyone who reaches ${hostname}:${listener.port} (--allow-open-registration, no ACL, ` +
          "no cluster secret): any host can register a fake broker and receive producers' messages",
      "warn",
    );
  }

  const scanner = setInterval(() => {
    for (const { brokerAddr, info } of routeTable.scanExpired()) {
      log?.(`Broker "${info.brokerName}" at ${brokerAddr} expired: silent for more than ${routeTable.brokerExpiryMs} ms`, "warn");
    }
  }, scanIntervalMs);

  let closing: Promise<void> | undefined;
  return {
    hostname: listener.hostname,
    port: listener.port,
    webSocketPort: listener.webSocket?.port,
    options,
    routeTable,
    connectionGuard: guard,
    ...(controller === undefined ? {} : { controller }),
    close() {
      closing ??= (async () => {
        clearInterval(scanner);
        controller?.close();
        await listener.close();
        for (const connection of [...connections]) connection.close();
      })();
      return closing;
    },
  };
}
