/**
 * The one start path of the server commands: `rmq standalone|broker|nameserver`, `server/broker.ts`
 * and `server/nameserver.ts` all read their flags and configuration (`_config_layers.ts`) and start
 * their components from it here: the options of each component come from `componentOptions`, so a
 * setting of `SETTINGS` reaches its component on every command that runs it.
 *
 * @module
 */
import process from "node:process";
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import type { WebSocketListen } from "../core/remoting/web_socket.ts";
import { WebSocketListenError } from "./_client_listener.ts";
import { parseServerArgs } from "./_config_layers.ts";
import { listenFailure } from "./_listen_error.ts";
import { prebindPorts } from "./_prebound_ports.ts";
import { defaultDial, defaultListen, defaultListenWebSocket, defaultServe } from "./_runtime.ts";
import type { ServerSecurity } from "./_security.ts";
import type { HttpServer, Serve } from "./admin/serve_types.ts";
import type { Broker, BrokerOptions } from "./broker/broker.ts";
import { type CommandName, commandsOf, componentOptions, type Config, flagName, SETTING_LIST } from "./config.ts";
import { createLogger, type Logger } from "./logger.ts";
import type { NameServer } from "./namesrv/name_server.ts";

/** The runtime's adapters; each is loaded for the current runtime when absent. */
export interface ServerRuntime {
  listen?: Listen;
  /** Loaded only when a `webSocketPort` is set. */
  listenWebSocket?: WebSocketListen;
  dial?: Dialer;
  serve?: Serve;
}

/** The components a server command started. */
export interface RunningServers {
  readonly command: CommandName;
  readonly config: Config;
  readonly logger: Logger;
  readonly security: ServerSecurity;
  readonly nameServer?: NameServer;
  readonly broker?: Broker;
  readonly admin?: HttpServer;
  /** Stops the admin API, the broker, then the NameServer. */
  close(): Promise<void>;
}

/** A component could not start; the message names it and, for a port, the flag that moves it. */
export class StartError extends Error {
  /**
   * @param message What could not start and why.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StartError";
  }
}

/** Options of `startServers`. */
export interface StartServersOptions {
  runtime?: ServerRuntime;
  /** Where log lines go. @default a logger made from the `log` settings */
  logger?: Logger;
  /** `section.key` of the settings a layer gave (from `loadConfigLayers`), to warn about those the command does not use. */
  given?: ReadonlySet<string>;
}

const SECTIONS_RUN: Record<CommandName, readonly string[]> = {
  standalone: ["nameserver", "broker"],
  broker: ["broker"],
  nameserver: ["nameserver"],
};

/**
 * Names a failed listen: the component, the address, why, and the flag and key that move it.
 */
function listenError(what: string, host: string, port: number | undefined, error: unknown, command: CommandName, portKey: string): StartError {
  if (error instanceof WebSocketListenError) {
    const section = portKey.slice(0, portKey.indexOf("."));
    return listenError(`${what}'s WebSocket listener`, host, undefined, error.cause, command, `${section}.webSocketPort`);
  }
  const reason = listenFailure(error);
  if (reason === undefined) return new StartError(`Cannot start ${what}: ${(error as Error).message}`, { cause: error });
  const entry = SETTING_LIST.find((e) => e.path === portKey)!;
  const flag = flagName(entry, command);
  const hint = reason.includes("EADDRNOTAVAIL")
    ? "listen on another address"
    : `pick another port with ${flag === undefined ? "" : `--${flag} or `}${portKey}, or stop what holds it`;
  return new StartError(`Cannot start ${what} on ${host}:${port ?? "?"}: ${reason}; ${hint}`, { cause: error });
}

/**
 * Starts the components a command runs, from the configuration. On a failure, what already runs
 * is stopped before the error is thrown.
 *
 * @param command `standalone` (NameServer, broker, admin API), `broker` or `nameserver` (each with
 *   the admin API when `admin.port` is set).
 * @param config The configuration (`loadConfig({ command })` of `server/load_config.ts`).
 * @param options Runtime adapters, logger, and which keys were given.
 * @returns The running components.
 * @throws {StartError} When a component cannot start.
 */
export async function startServers(command: CommandName, config: Config, options: StartServersOptions = {}): Promise<RunningServers> {
  const logger = options.logger ?? createLogger({ ...componentOptions(config, "log"), component: command });
  for (const path of options.given ?? []) {
    const entry = SETTING_LIST.find((e) => e.path === path)!;
    if (SECTIONS_RUN[command].includes(entry.section) && !commandsOf(entry).includes(command)) {
      logger.warn(`Warning: "${path}" is not used by ${command} (only by ${commandsOf(entry).join(", ")}); ignored`);
    }
  }
  const runtime = options.runtime ?? {};
  const standalone = command === "standalone";
  // The NameServer's and broker's ports listen before their modules load (most of the start-up):
  // connections that arrive meanwhile are held and served once their server runs. Plain TCP on a
  // fixed port only; TLS and free ports (0) listen where their server starts, as before.
  const plainListen = runtime.listen ?? await defaultListen();
  const early = config.tls.cert === undefined && config.tls.key === undefined
    ? [
      ...(command === "broker" ? [] : [componentOptions(config, "nameserver", command)]),
      ...(command === "nameserver" ? [] : [componentOptions(config, "broker", command)]),
    ].flatMap(({ hostname, port }) => (port === undefined || port === 0 ? [] : [{ ...(hostname === undefined ? {} : { hostname }), port }]))
    : [];
  const prebound = await prebindPorts(plainListen, early);
  const listen = prebound.listen;
  // Loaded once the ports listen.
  const [{ loadServerSecurity }, { standaloneClusterSecret }] = await Promise.all([import("./_security.ts"), import("./_cluster_secret.ts")]);
  let security: ServerSecurity;
  try {
    security = loadServerSecurity(config, { standalone, log: logger.child("acl") });
  } catch (error) {
    await prebound.release();
    throw new StartError(`Cannot start ${command === "nameserver" ? "the NameServer" : command === "broker" ? "the broker" : "rmq standalone"}: ${(error as Error).message}`, { cause: error });
  }
  let clusterSecret = security.clusterSecret;
  if (standalone && clusterSecret === undefined) {
    try {
      clusterSecret = standaloneClusterSecret(config.broker.dataDir, logger.child("standalone"));
    } catch (error) {
      security.close();
      await prebound.release();
      throw new StartError(`Cannot start rmq standalone: ${(error as Error).message}`, { cause: error });
    }
  }
  const listenWebSocket = async (port: number | undefined) =>
    port === undefined ? {} : { listenWebSocket: runtime.listenWebSocket ?? await defaultListenWebSocket() };
  let nameServer: NameServer | undefined;
  let broker: Broker | undefined;
  let admin: HttpServer | undefined;
  const close = async () => {
    await admin?.close();
    await broker?.close();
    await nameServer?.close();
    await prebound.release();
    security.close();
  };
  try {
    if (command !== "broker") {
      const ns = componentOptions(config, "nameserver", command);
      const log = logger.child("nameserver");
      try {
        const { startNameServer } = await import("./namesrv/name_server.ts");
        nameServer = await startNameServer({
          ...ns,
          listen,
          ...await listenWebSocket(ns.webSocketPort),
          log,
          ...(security.guard === undefined ? {} : { acl: security.guard }),
          ...(security.tls === undefined ? {} : { tls: security.tls }),
          ...(clusterSecret === undefined ? {} : { clusterSecret }),
        });
      } catch (error) {
        throw listenError("the NameServer", ns.hostname ?? "0.0.0.0", ns.port, error, command, "nameserver.port");
      }
      const webSocket = nameServer.webSocketPort === undefined ? "" : ` (WebSocket on port ${nameServer.webSocketPort})`;
      log.info(`NameServer listening on ${nameServer.hostname}:${nameServer.port}${webSocket}`);
    }
    if (command !== "nameserver") {
      const [plainDial, { startBroker }, { nameServerAddressOf }] = await Promise.all([
        runtime.dial ?? defaultDial(),
        import("./broker/broker.ts"),
        import("./standalone.ts"),
      ]);
      const brokerSettings = componentOptions(config, "broker", command);
      const options: BrokerOptions = {
        ...brokerSettings,
        ...componentOptions(config, "store", command),
        dataDir: config.broker.dataDir,
        listen,
        ...await listenWebSocket(brokerSettings.webSocketPort),
        dial: security.nameServerDial.tls === undefined ? plainDial : await defaultDial(security.nameServerDial),
        haDial: security.replicationDial.tls === undefined ? plainDial : await defaultDial(security.replicationDial),
        log: logger.child("broker"),
        ...(security.guard === undefined ? {} : { acl: security.guard }),
        ...(security.tls === undefined ? {} : { tls: security.tls }),
        ...(security.replicationTls === undefined ? {} : { haTls: security.replicationTls }),
        ...(security.nameServerCredentials === undefined ? {} : { nameServerCredentials: security.nameServerCredentials }),
        ...(clusterSecret === undefined ? {} : { clusterSecret }),
        ...(security.peerAccountSecret === undefined ? {} : { peerAccountSecret: security.peerAccountSecret }),
        ...(nameServer === undefined ? {} : { nameServers: [nameServerAddressOf(nameServer)] }),
      };
      try {
        broker = options.enableControllerMode === true
          ? await (await import("./broker/controlled_broker.ts")).startControlledBroker(options)
          : await startBroker(options);
      } catch (error) {
        throw listenError("the broker", options.hostname ?? "0.0.0.0", options.port, error, command, "broker.port");
      }
    }
    const { enabled, ...adminOptions } = componentOptions(config, "admin", command);
    if (enabled !== false && adminOptions.port !== undefined) {
      const controller = nameServer?.controller ?? broker?.controller;
      try {
        // Loaded once the NameServer and broker serve: Hono, the dashboard and the gateway wait for them.
        const { startAdminServer } = await import("./admin/start_admin.ts");
        admin = await startAdminServer({
          ...adminOptions,
          serve: runtime.serve ?? await defaultServe(),
          log: logger.child("admin"),
          ...(broker === undefined ? {} : { broker, dataDir: config.broker.dataDir }),
          ...(nameServer === undefined ? {} : { nameServer }),
          ...(controller === undefined ? {} : { controller }),
          dial: security.nameServerDial.tls === undefined ? runtime.dial ?? await defaultDial() : await defaultDial(security.nameServerDial),
          ...(broker === undefined || nameServer !== undefined ? {} : { nameServerAddresses: broker.options.nameServers ?? [] }),
          ...(security.rules === undefined ? {} : { acl: security.rules }),
          ...(security.tls === undefined ? {} : { tls: security.tls }),
        });
      } catch (error) {
        throw listenError("the admin API", adminOptions.hostname ?? "127.0.0.1", adminOptions.port, error, command, "admin.port");
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  // A port its server did not take (a controlled broker that listens later) is let go.
  await prebound.release();
  return { command, config, logger, security, nameServer, broker, admin, close };
}

/** Options of `runServer`. */
export interface RunServerOptions {
  /** The usage line of the caller, e.g. `rmq broker [flags]`. */
  usage: string;
  runtime?: ServerRuntime;
}

/**
 * A server command from its arguments to its exit: `--help` prints the flags and exits 0, a bad
 * flag exits 2, a bad configuration or a component that cannot start exits 1; otherwise it runs
 * until SIGINT or SIGTERM, then stops everything and exits 0.
 *
 * @param command The command.
 * @param args The arguments after it.
 * @param options Usage line and runtime adapters.
 * @returns Once the components run.
 */
export async function runServer(command: CommandName, args: readonly string[], options: RunServerOptions): Promise<void> {
  const parsed = await parseServerArgs(command, options.usage, args);
  if (parsed.kind === "help") {
    process.stdout.write(parsed.text);
    process.exit(0);
  }
  if (parsed.kind === "usage") {
    process.stderr.write(`Error: ${parsed.message}\nUsage: ${options.usage}\nRun with --help to see every flag.\n`);
    process.exit(2);
  }
  if (parsed.kind === "error") {
    process.stderr.write(`Error: Cannot start ${command === "standalone" ? "rmq standalone" : `the ${command === "broker" ? "broker" : "NameServer"}`}: ${parsed.message}\n`);
    process.exit(1);
  }
  const { config, given } = parsed.loaded;
  const logger = createLogger({ ...componentOptions(config, "log"), component: command });
  // Signals are handled from the start: one that arrives while components start stops them once up.
  let servers: RunningServers | undefined;
  let stopping = false;
  const shutdown = (running: RunningServers) =>
    running.close().then(
      () => {
        logger.info("Stopped");
        process.exit(0);
      },
      (error) => {
        logger.error(`Did not stop cleanly: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received, stopping`);
    if (servers !== undefined) void shutdown(servers);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  try {
    servers = await startServers(command, config, { runtime: options.runtime, logger, given });
  } catch (error) {
    logger.error(`${(error as Error).message}`);
    process.exit(1);
  }
  if (stopping) {
    void shutdown(servers);
    return;
  }
  const { nameServer, broker, admin, security } = servers;
  const secure = security.tls !== undefined;
  // Already loaded when the admin API runs.
  const url = admin === undefined ? undefined : (await import("./admin/start_admin.ts")).adminUrl(admin, secure);
  if (command === "standalone") {
    const { nameServerAddressOf } = await import("./standalone.ts");
    const grpc = broker!.grpcAddress === undefined ? "" : `, gRPC ${broker!.grpcAddress}`;
    logger.info(`Standalone ready: NameServer ${nameServerAddressOf(nameServer!)}, broker ${broker!.address}${grpc}, data in ${config.broker.dataDir}, pid ${process.pid}`);
    if (url !== undefined) logger.info(`Dashboard and admin API on ${url}`);
  } else if (url !== undefined) {
    logger.info(`Admin API, metrics and dashboard on ${url}`);
  }
  if (security.guard !== undefined) logger.info(`ACL on: requests must be signed (${config.acl.file})`);
}
