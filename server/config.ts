/**
 * Every setting of the servers, described once. `SETTINGS` is the single source: for each key it
 * holds the value's schema, its default (per command where they differ), a one-line doc, its flag,
 * and the component option it sets. Everything else is derived from it:
 *
 * - `loadConfigLayers` (and the public `loadConfig` of `server/load_config.ts`): the YAML file (`--config`), `RMQ_<SECTION>_<KEY>` environment variables and
 *   flags, layered (defaults < file < environment < flags), each layer checked on its own so that an
 *   error names where the bad value came from;
 * - the flags and `--help` of `rmq standalone|broker|nameserver` and `server/*.ts`
 *   (`server/_config_layers.ts`);
 * - the options each component is started with (`componentOptions`): `startNameServer`,
 *   `startBroker`, `MessageStore.open` (through the broker), `startAdminServer`,
 *   `loadServerSecurity` and `createLogger` (`server/_entry.ts`);
 * - `config/config.yaml` and `docs/CONFIG.md` (`npm run gen:config`, `server/_config_doc.ts`).
 *
 * ## Adding a setting
 *
 * 1. Give the component its option (`BrokerOptions.fooMs`, with a JSDoc `@default`).
 * 2. Add one entry to the section in `SETTINGS`:
 *    `fooMs: setting({ ...int(1, 60_000, "ms"), default: 1000, example: 250, doc: "What it does", to: broker("fooMs") })`.
 *    The file key (`broker.fooMs`), the variable (`RMQ_BROKER_FOO_MS`), the flag (`--foo-ms`, on
 *    every command that runs the component) and its `--help` line follow. `flag`, `short`,
 *    `commands` and `defaults` adjust what is derived; `to: broker("x", map)` converts the value.
 * 3. Run `npm run gen:config` to regenerate config/config.yaml, docs/CONFIG.md and the `Config`
 *    type in server/config_types.ts (the public API's explicit type; `CONFIG_TYPES_MATCH` stops
 *    compiling while it differs from `SETTINGS`).
 *
 * `tests/server/config_test.ts` fails until both files match the schema, and it starts every command
 * with every key set away from its default, through file, environment and flags, and checks that
 * each value reaches its component: a key that reaches nothing fails it. Keys delivered as options
 * (`to: broker(…)`, `nameserver(…)`, `store(…)`, `admin(…)`, `logger(…)`) are checked there without
 * more ado; a key that `loadServerSecurity` reads from its section (`to: security()`) needs a line in
 * that test's `reached()` saying where its effect shows.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import type { AdminServerOptions } from "./admin/start_admin.ts";
import type { BrokerOptions } from "./broker/broker.ts";
import type { ConnectionLimits } from "../core/remoting/connection_guard.ts";
import type { LoggerOptions } from "./logger.ts";
import type { NameServerOptions } from "./namesrv/name_server.ts";
import type { MessageStoreOptions } from "./store/store_types.ts";
import type { Config } from "./config_types.ts";

export type { Config } from "./config_types.ts";

/** The commands that run servers: each takes the settings of the components it runs. */
export type CommandName = "standalone" | "broker" | "nameserver";

/** Every server command. */
export const COMMANDS: readonly CommandName[] = ["standalone", "broker", "nameserver"];

/** How the text of a flag or environment variable becomes a value. */
export type ValueKind = "string" | "integer" | "boolean" | "list";

/** A value's type: its schema, how text becomes it, and its placeholder in `--help`. */
export interface ValueSpec<T> {
  kind: ValueKind;
  schema: v.GenericSchema<unknown, T>;
  /** The placeholder of the value in `--help` (`<port>`). */
  valueName: string;
}

/** What `admin` settings start: `startAdminServer`'s address and token, and whether to start it. */
export type AdminSettings = Pick<AdminServerOptions, "hostname" | "port" | "token" | "allowedOrigins" | "gateway"> & {
  /** Serve the admin API at all (when a port is set). */
  enabled?: boolean;
};

/** The option objects settings are delivered into, by component. */
export interface ComponentOptions {
  nameserver: NameServerOptions;
  broker: BrokerOptions;
  /** `MessageStoreOptions`, handed through the broker's options of the same names. */
  store: Pick<MessageStoreOptions, keyof MessageStoreOptions & keyof BrokerOptions> & Pick<BrokerOptions, keyof MessageStoreOptions & keyof BrokerOptions>;
  admin: AdminSettings;
  log: LoggerOptions;
}

/** A component that reads its settings from its config sections itself (`loadServerSecurity`). */
export type SectionReader = "security";

/** Where a setting's value goes. Contravariant in T: a target taking a wider type fits. */
export interface Target<in T> {
  /** The component that consumes it. */
  component: keyof ComponentOptions | SectionReader;
  /** Its option name (`maxFrameSize`), absent for a section reader. */
  option?: string;
  /** Turns the setting's value into the option's. */
  map: (value: T) => unknown;
}

function target<C extends keyof ComponentOptions>(component: C) {
  function to<K extends keyof ComponentOptions[C]>(option: K): Target<NonNullable<ComponentOptions[C][K]>>;
  function to<K extends keyof ComponentOptions[C], T>(option: K, map: (value: T) => ComponentOptions[C][K]): Target<T>;
  function to(option: string, map: (value: unknown) => unknown = (value) => value): Target<unknown> {
    return { component, option, map };
  }
  return to;
}

/** A `NameServerOptions` option. */
export const nameserver = target("nameserver");
/** A `BrokerOptions` option. */
export const broker = target("broker");
/** A `MessageStoreOptions` option (handed through `BrokerOptions`). */
export const store = target("store");
/** An admin server setting. */
export const admin = target("admin");
/** A `LoggerOptions` option. */
export const logger = target("log");

/** Read by `loadServerSecurity` from the `acl`, `tls` and `cluster` sections. */
function security<T>(): Target<T> {
  return { component: "security", map: (value) => value };
}

/** A default that copies another setting (`"broker.host"`) when the key is not given. */
export interface SameAs {
  sameAs: string;
}

/** The description of one setting. */
export interface SettingSpec<T> extends ValueSpec<T> {
  /** The value when no layer gives one; absent: unset (the component's own default or "off"). */
  default?: T;
  /** Defaults of particular commands, where they differ from `default`. */
  defaults?: Partial<Record<CommandName, T | SameAs>>;
  /** A valid value other than the default: the reference shows it; tests set it. */
  example: T;
  /** One line for `--help`, config.yaml and docs/CONFIG.md. */
  doc: string;
  /** The component option it sets. */
  to: Target<T>;
  /** The flag's full name instead of the derived one; false: file and environment only. */
  flag?: string | false;
  /** One-letter alias of the flag. */
  short?: string;
  /** The commands that take it. @default those that run the section's component */
  commands?: readonly CommandName[];
}

/** A setting; `D` says whether it always has a value. */
export type Setting<T, D extends boolean = boolean> = SettingSpec<T> & { readonly hasDefault: D };

/**
 * Declares a setting.
 *
 * @param spec The setting.
 * @returns It, typed for `Config`.
 */
export function setting<T>(spec: SettingSpec<T> & { default: T }): Setting<T, true>;
export function setting<T>(spec: SettingSpec<T>): Setting<T, false>;
export function setting<T>(spec: SettingSpec<T>): Setting<T> {
  return { ...spec, hasDefault: spec.default !== undefined };
}

// ---- value types ----

/** A TCP port; 0 picks a free one. */
export function port(): ValueSpec<number> {
  return { kind: "integer", valueName: "port", schema: v.pipe(v.number(), v.integer(), v.minValue(0, "must be at least 0"), v.maxValue(65535, "must be at most 65535")) };
}

/** A whole number from `min` to `max`. */
export function int(min: number, max: number = Number.MAX_SAFE_INTEGER, valueName = "n"): ValueSpec<number> {
  return { kind: "integer", valueName, schema: v.pipe(v.number(), v.integer("expected a whole number"), v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`)) };
}

/** Text that is not empty. */
export function text(valueName: string): ValueSpec<string> {
  return { kind: "string", valueName, schema: v.pipe(v.string(), v.minLength(1, "must not be empty")) };
}

/** Text of at least `min` characters. */
export function secret(min: number, valueName: string): ValueSpec<string> {
  return { kind: "string", valueName, schema: v.pipe(v.string(), v.minLength(min, `must have at least ${min} characters`)) };
}

/** One of a few words. */
export function choice<const T extends string>(values: readonly T[], valueName: string): ValueSpec<T> {
  const quoted = values.map((value) => `"${value}"`);
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
  return { kind: "string", valueName, schema: v.picklist(values, `expected ${list}`) };
}

/** true or false; flags `--x` and `--no-x`. */
export function bool(): ValueSpec<boolean> {
  return { kind: "boolean", valueName: "", schema: v.boolean() };
}

const ADDRESS = /^(\[[0-9a-fA-F:]+\]|[^\s:[\]]+):\d{1,5}$/;

/** `host:port`. */
export function address(): ValueSpec<string> {
  return { kind: "string", valueName: "host:port", schema: v.pipe(v.string(), v.regex(ADDRESS, "expected host:port")) };
}

/** `host:port` addresses; in a flag or variable, separated by commas or semicolons. */
export function addresses(): ValueSpec<string[]> {
  return { kind: "list", valueName: "host:port,…", schema: v.array(v.pipe(v.string(), v.regex(ADDRESS, "expected host:port"))) };
}

/** A percentage from 1 to 100. */
function percent(): ValueSpec<number> {
  return { kind: "integer", valueName: "%", schema: v.pipe(v.number(), v.integer(), v.minValue(1, "must be 1 to 100"), v.maxValue(100, "must be 1 to 100")) };
}

/** RocketMQ's deleteWhen: hours 0-23 separated by ";", or "*". */
const DELETE_WHEN = /^\s*(\*|([01]?\d|2[0-3])(\s*;\s*([01]?\d|2[0-3]))*)\s*$/;
const DELETE_WHEN_TEXT = 'expected hours 0 to 23 separated by ";" (e.g. "04" or "01;02;03"), or "*"';

/** Durations such as `1s 5m 2h`. */
function durations(): ValueSpec<string> {
  return {
    kind: "string",
    valueName: "durations",
    schema: v.pipe(v.string(), v.regex(/^\s*\d+(ms|s|m|h|d)(\s+\d+(ms|s|m|h|d))*\s*$/, 'expected durations such as "1s 5s 1m"')),
  };
}

const SERVERS: readonly CommandName[] = COMMANDS;

/**
 * Limits on connections not (yet) authenticated (docs/SECURITY.md, "Limits before authentication"),
 * for the NameServer's or the broker's options; standalone's two servers share the broker's.
 */
function connectionLimits(to: (option: keyof ConnectionLimits) => Target<number>, commands?: readonly CommandName[]) {
  const only = commands === undefined ? {} : { commands };
  return {
    maxPendingFrameBytes: setting({
      ...int(64 * 1024, 2 ** 40, "bytes"), default: 256 * 1024 * 1024, example: 32 * 1024 * 1024, ...only,
      doc: "Bytes all unauthenticated connections may hold in incomplete frames (256 MiB); past it the connection needing more is cut",
      to: to("maxPendingFrameBytes"),
    }),
    maxPendingFrameBytesPerIp: setting({
      ...int(64 * 1024, 2 ** 40, "bytes"), default: 64 * 1024 * 1024, example: 16 * 1024 * 1024, ...only,
      doc: "Bytes the unauthenticated connections of one IP may hold in incomplete frames (64 MiB); past it the connection needing more is cut",
      to: to("maxPendingFrameBytesPerIp"),
    }),
    handshakeTimeoutMs: setting({
      ...int(1, 3_600_000, "ms"), default: 10_000, example: 5000, ...only,
      doc: "A connection with no whole frame this long after it opened (TLS handshake included) is cut",
      to: to("handshakeTimeoutMs"),
    }),
    frameReadTimeoutMs: setting({
      ...int(1, 3_600_000, "ms"), default: 30_000, example: 15_000, ...only,
      doc: "A connection whose frame stays incomplete this long is cut (within twice this)",
      to: to("frameReadTimeoutMs"),
    }),
    idleTimeoutMs: setting({
      ...int(0, 86_400_000, "ms"), default: 120_000, example: 300_000, ...only,
      doc: "A client connection with no frame this long is cut (a peer gone without closing; RocketMQ's serverChannelMaxIdleTimeSeconds); clients heartbeat every 30 s, and reconnect when they next call; 0: never",
      to: to("idleTimeoutMs"),
    }),
  };
}

/** A URL path: starts with "/". */
function urlPath(): ValueSpec<string> {
  return { kind: "string", valueName: "path", schema: v.pipe(v.string(), v.regex(/^\/[^\s?#]*$/, 'expected a path starting with "/"')) };
}

/**
 * The WebSocket endpoint of the NameServer's or the broker's options (docs/EDGE.md): a port beside
 * the TCP one, for browsers.
 */
function webSocketEndpoint(
  to: (option: "webSocketPort" | "webSocketPath" | "webSocketAllowedOrigins") => Target<number | string | readonly string[]>,
  example: number,
) {
  return {
    webSocketPort: setting({
      ...port(), example,
      doc: "Also accept clients over WebSocket on this port (browsers), with the same ACL, limits and TLS; off when unset",
      to: to("webSocketPort"),
    }),
    webSocketPath: setting({ ...urlPath(), default: "/", example: "/rocketmq", doc: "The URL path WebSocket clients connect to", to: to("webSocketPath") }),
    webSocketAllowedOrigins: setting({
      kind: "list", valueName: "origin,…",
      schema: v.array(v.pipe(v.string(), v.regex(/^(\*|https?:\/\/[^/\s?#]+\/?)$/, 'expected an origin such as "https://app.example.com", or "*"'))),
      default: [], example: ["https://app.example.com"],
      doc: 'Origins of the pages that may connect over WebSocket ("*": any, for use with ACL); clients sending no Origin always may',
      to: to("webSocketAllowedOrigins"),
    }),
  };
}

// ---- the settings ----

/** Every setting, by section and key. See the module doc for how to add one. */
export const SETTINGS = {
  nameserver: {
    host: setting({
      ...text("host"), default: "0.0.0.0", defaults: { standalone: { sameAs: "broker.host" } }, example: "127.0.0.1",
      doc: "Address the NameServer listens on", to: nameserver("hostname"),
    }),
    port: setting({ ...port(), default: 9876, example: 19876, doc: "Port for brokers and clients; 0 picks a free one", to: nameserver("port") }),
    brokerExpiryMs: setting({
      ...int(1, Number.MAX_SAFE_INTEGER, "ms"), default: 120_000, example: 60_000,
      doc: "A broker silent this long is dropped from routes", to: nameserver("brokerExpiryMs"),
    }),
    scanIntervalMs: setting({ ...int(1, Number.MAX_SAFE_INTEGER, "ms"), default: 10_000, example: 5000, doc: "How often silent brokers are looked for", to: nameserver("scanIntervalMs") }),
    ...connectionLimits((option) => nameserver(option), ["nameserver"]),
    maxTopicsPerBroker: setting({
      ...int(1, 10_000_000), default: 100_000, example: 5000,
      doc: "Most topics one broker may register; a larger registration is refused (the broker logs why)", to: nameserver("maxTopicsPerBroker"),
    }),
    remotingEnabled: setting({
      ...bool(), default: true, example: false, flag: "remoting", commands: ["nameserver"],
      doc: "Also answer RocketMQ 4.x remoting clients (ali-ons, Java, Go) on the port (standalone: broker.remotingEnabled); the first bytes tell the protocol",
      to: nameserver("remotingEnabled"),
    }),
    allowOpenRegistration: setting({
      ...bool(), default: false, example: true, commands: ["nameserver"],
      doc: "Beyond loopback, accept broker registrations from anyone when neither ACL nor a cluster secret is set (else: refuse to start)",
      to: nameserver("allowOpenRegistration"),
    }),
    ...webSocketEndpoint((option) => nameserver(option), 19877),
  },
  broker: {
    host: setting({ ...text("host"), default: "0.0.0.0", example: "127.0.0.1", doc: "Address the broker listens on (clients and replication)", to: broker("hostname") }),
    port: setting({ ...port(), default: 10911, example: 20911, short: "p", doc: "Port for producers and consumers; 0 picks a free one", to: broker("port") }),
    advertisedAddress: setting({
      ...address(), example: "127.0.0.1:20911",
      doc: "host:port clients are told to use; set it in containers and clusters (default: the listen host, 127.0.0.1 for 0.0.0.0, and port)",
      to: broker("advertisedAddress"),
    }),
    grpcEnabled: setting({
      ...bool(), default: true, example: false, flag: "grpc",
      doc: "Serve RocketMQ 5's gRPC clients (apache.rocketmq.v2.MessagingService) when broker.grpcPort is set", to: broker("grpcEnabled"),
    }),
    grpcPort: setting({
      ...port(), defaults: { standalone: 8081 }, example: 18081,
      doc: "Port of the gRPC API for RocketMQ 5 clients (the proxy's 8081); a broker serves it only when it is set; 0 picks a free one",
      to: broker("grpcPort"),
    }),
    grpcTls: setting({
      ...bool(), example: false,
      doc: "Serve gRPC over TLS with tls.cert (default: whenever tls.cert is set); false keeps it plaintext", to: broker("grpcTls"),
    }),
    grpcKeepaliveMs: setting({
      ...int(0, 86_400_000, "ms"), default: 30_000, example: 60_000,
      doc: "A gRPC connection whose peer sent nothing this long is pinged, and closed when nothing comes for as long again (a client gone without closing); 0: no keepalive",
      to: broker("grpcKeepaliveMs"),
    }),
    grpcIdleTimeoutMs: setting({
      ...int(0, 86_400_000, "ms"), default: 120_000, example: 300_000,
      doc: "A gRPC connection with no call open this long is sent GOAWAY and closed (gRPC servers' max connection idle); clients reconnect when they next call; 0: never",
      to: broker("grpcIdleTimeoutMs"),
    }),
    grpcAutoRenewInvisibleMs: setting({
      ...int(100, 43_200_000, "ms"), default: 60_000, example: 30_000,
      doc: "Invisible time of a RocketMQ 5 push consumer's deliveries, renewed while it consumes (the proxy's defaultInvisibleTimeMills)",
      to: broker("grpcAutoRenew", (invisibleMs: number) => ({ invisibleMs })),
    }),
    grpcAutoRenewAheadMs: setting({
      ...int(1, 43_200_000, "ms"), default: 10_000, example: 5000,
      doc: "A push consumer's delivery is renewed when it would be visible again within this (renewAheadTimeMillis)",
      to: broker("grpcAutoRenew", (aheadMs: number) => ({ aheadMs })),
    }),
    grpcAutoRenewPeriodMs: setting({
      ...int(10, 3_600_000, "ms"), default: 5000, example: 1000,
      doc: "How often the deliveries being renewed are looked at (renewSchedulePeriodMillis)",
      to: broker("grpcAutoRenew", (periodMs: number) => ({ periodMs })),
    }),
    grpcAutoRenewMaxMs: setting({
      ...int(1000, Number.MAX_SAFE_INTEGER, "ms"), default: 10_800_000, example: 3_600_000,
      doc: "How long after its receive a delivery is renewed at most; then it is left to its invisible time (renewMaxTimeMillis)",
      to: broker("grpcAutoRenew", (maxMs: number) => ({ maxMs })),
    }),
    grpcAutoRenewMaxRetries: setting({
      ...int(0, 1000), default: 3, example: 5,
      doc: "Failed renewals in a row after which a delivery is left to its invisible time (maxRenewRetryTimes)",
      to: broker("grpcAutoRenew", (maxRetries: number) => ({ maxRetries })),
    }),
    grpcAutoRenewClearInvisibleMs: setting({
      ...int(100, 43_200_000, "ms"), default: 1000, example: 2000,
      doc: "Invisible time left to the deliveries of a push consumer that went away (invisibleTimeMillisWhenClear)",
      to: broker("grpcAutoRenew", (clearInvisibleMs: number) => ({ clearInvisibleMs })),
    }),
    nameServers: setting({
      ...addresses(), default: [], example: ["127.0.0.1:19876"], flag: "namesrv", short: "n", commands: ["broker"],
      doc: "NameServers to register with (standalone: its own)", to: broker("nameServers"),
    }),
    dataDir: setting({
      ...text("dir"), default: "./data", defaults: { broker: "./data/broker" }, example: "./data/example",
      doc: "Where the CommitLog, queues, topics and offsets live", to: broker("dataDir"),
    }),
    clusterName: setting({ ...text("name"), default: "DefaultCluster", example: "ExampleCluster", flag: "cluster", doc: "Cluster the broker belongs to", to: broker("clusterName") }),
    brokerName: setting({ ...text("name"), default: "broker-a", example: "broker-b", doc: "The broker group; masters and slaves of a group share it", to: broker("brokerName") }),
    brokerId: setting({
      ...int(0, 1024, "id"), default: 0, example: 1, commands: ["broker"],
      doc: "0 for a master, 1 or more for a slave (must match brokerRole)", to: broker("brokerId"),
    }),
    brokerRole: setting({
      ...choice(["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"], "role"), default: "ASYNC_MASTER", example: "SLAVE", commands: ["broker"],
      doc: "ASYNC_MASTER: a send is answered once stored here; SYNC_MASTER: once a slave holds it too; SLAVE: copies its master",
      to: broker("brokerRole"),
    }),
    replication: setting({
      ...bool(), default: true, example: false,
      doc: "Masters: accept slaves on haPort (false: no replication listener; not for SYNC_MASTER)", to: broker("replication"),
    }),
    haPort: setting({
      ...port(), example: 20912,
      doc: "Masters: the replication listener's port (default: port + 1; 0 picks a free one); TLS with tls.cert",
      to: broker("haPort"),
    }),
    haMasterAddress: setting({
      ...address(), example: "127.0.0.1:20912", commands: ["broker"],
      doc: "Slaves: the master's haPort host:port (default: learned from the NameServers)", to: broker("haMasterAddress"),
    }),
    syncSlaveTimeoutMs: setting({
      ...int(1, 600_000, "ms"), default: 3000, example: 1500, commands: ["broker"],
      doc: "SYNC_MASTER: how long a send waits for a slave's copy (then FLUSH_SLAVE_TIMEOUT)", to: broker("syncSlaveTimeoutMs"),
    }),
    flushMode: setting({
      ...choice(["async", "sync"], "mode"), default: "async", example: "sync", flag: "flush",
      doc: "async: fsync every flushIntervalMs; sync: a send is answered after the fsync covering it", to: store("flushMode"),
    }),
    flushIntervalMs: setting({ ...int(1, 60_000, "ms"), default: 500, example: 250, doc: "Async flush period", to: store("flushIntervalMs") }),
    commitLogSegmentSize: setting({
      ...int(65_536, 2 ** 40, "bytes"), default: 1024 ** 3, example: 64 * 1024 * 1024, flag: "segment-size",
      doc: "Bytes per CommitLog segment file (1 GiB)", to: store("commitLogSegmentSize"),
    }),
    fileReservedTimeHours: setting({
      ...int(1, 24 * 365 * 100, "hours"), default: 72, example: 24,
      doc: "Messages older than this are no longer served (a topic may set its own retentionHours)", to: broker("fileReservedTimeHours"),
    }),
    deleteWhen: setting({
      kind: "string", valueName: "hours",
      schema: v.union([
        v.pipe(v.string(), v.regex(DELETE_WHEN, DELETE_WHEN_TEXT)),
        // One hour written as a number in YAML (`deleteWhen: 4`).
        v.pipe(v.number(), v.integer(), v.minValue(0, DELETE_WHEN_TEXT), v.maxValue(23, DELETE_WHEN_TEXT), v.transform(String)),
      ], DELETE_WHEN_TEXT),
      default: "04", example: "01;02;03",
      doc: 'Hours (local time) in which segments past retention are deleted: "04", "01;02;03" or "*"', to: store("deleteWhen"),
    }),
    diskHighWaterPercent: setting({
      ...percent(), default: 75, example: 80,
      doc: "Above this much of the data disk in use, the oldest segments go even if young", to: store("diskHighWaterPercent"),
    }),
    diskHardLimitPercent: setting({
      ...percent(), default: 90, example: 95,
      doc: "From this much of the data disk in use, sends are refused (retryable) until space frees", to: store("diskHardLimitPercent"),
    }),
    messageIndexEnable: setting({
      ...bool(), default: true, example: false, flag: "message-index",
      doc: "Index message keys and unique keys for lookups by key at any age (QUERY_MESSAGE, rmq msg query-key|get)", to: store("messageIndexEnable"),
    }),
    maxHashSlotNum: setting({
      ...int(1, 100_000_000), default: 1_000_000, example: 500_000,
      doc: "Hash slots of each key index file (4 bytes each, in memory for the file being written)", to: store("maxHashSlotNum"),
    }),
    maxIndexNum: setting({
      ...int(128, 100_000_000), default: 4_000_000, example: 2_000_000,
      doc: "Entries of each key index file (20 bytes each on disk: 84 MB files by default)", to: store("maxIndexNum"),
    }),
    autoCreateTopicEnable: setting({
      ...bool(), default: false, defaults: { standalone: true }, example: true, flag: "auto-create-topic",
      doc: "Create unknown topics on first send", to: broker("autoCreateTopicEnable"),
    }),
    autoCreateTopicRate: setting({
      ...int(1, 1_000_000), default: 100, example: 10,
      doc: "Most topics created on first send per second (also the burst); more sends to new topics get SYSTEM_BUSY", to: broker("autoCreateTopicRate"),
    }),
    maxTopicCount: setting({
      ...int(1, 10_000_000), default: 100_000, example: 5000,
      doc: "Most topics the broker holds (retry and dead-letter ones count); creating more is refused", to: broker("maxTopicCount"),
    }),
    defaultTopicQueueNums: setting({ ...int(1, 1024), default: 8, example: 4, doc: "Queues of a topic created on first send (at most)", to: broker("defaultTopicQueueNums") }),
    maxMessageSize: setting({
      ...int(1, 64 * 1024 * 1024, "bytes"), default: 4 * 1024 * 1024, example: 1024 * 1024,
      doc: "Largest message body in bytes (4 MiB)", to: broker("maxMessageSize"),
    }),
    maxFrameSize: setting({
      ...int(64 * 1024, 256 * 1024 * 1024, "bytes"), default: 8 * 1024 * 1024, example: 2 * 1024 * 1024,
      doc: "Largest request frame in bytes (8 MiB); a larger length prefix closes the connection", to: broker("maxFrameSize"),
    }),
    maxInFlightPerConnection: setting({
      ...int(1, 1_000_000), default: 10_000, example: 64,
      doc: "Requests processed at once per connection; more are answered SYSTEM_BUSY (retryable) at once", to: broker("maxInFlightPerConnection"),
    }),
    maxConnectionsPerIp: setting({
      ...int(1, 1_000_000), default: 1000, example: 50,
      doc: "Open connections from one IP, remoting and gRPC ports together; more are closed on arrival, with a log line", to: broker("maxConnectionsPerIp"),
    }),
    maxPullBatchSize: setting({
      ...int(1, 1024), default: 1024, example: 32,
      doc: "Most messages one pull returns; a larger maxMsgNums is cut to it", to: broker("maxPullBatchSize"),
    }),
    maxHeldPulls: setting({
      ...int(0, 10_000_000), default: 10_000, example: 0,
      doc: "Long-polling pulls parked at once; past it an empty pull is answered SYSTEM_BUSY and consumers back off (0: no long polling)",
      to: broker("maxHeldPulls"),
    }),
    maxHeldPullsPerConnection: setting({
      ...int(1, 10_000_000), default: 1000, example: 16,
      doc: "Long-polling pulls one connection may park at once, so one client cannot take every slot; past it: SYSTEM_BUSY",
      to: broker("maxHeldPullsPerConnection"),
    }),
    enablePropertyFilter: setting({
      ...bool(), default: true, example: false,
      doc: "Serve SQL92 subscriptions (filters on message properties, evaluated by the broker); false refuses such pulls with SYSTEM_ERROR",
      to: broker("enablePropertyFilter"),
    }),
    ...connectionLimits((option) => broker(option)),
    remotingEnabled: setting({
      ...bool(), default: true, example: false, flag: "remoting",
      doc: "Also answer RocketMQ 4.x remoting clients (ali-ons, Java, Go) on the client port; each connection's first bytes tell its protocol",
      to: broker("remotingEnabled"),
    }),
    ...webSocketEndpoint((option) => broker(option), 20913),
    messageDelayLevel: setting({
      ...durations(), default: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", example: "1s 10s 1m",
      doc: "Delay of each delay level, level 1 first", to: broker("messageDelayLevel"),
    }),
    timerMaxDelayMs: setting({
      ...int(1, Number.MAX_SAFE_INTEGER, "ms"), default: 366 * 86_400_000, example: 30 * 86_400_000,
      doc: "Timer messages: the longest delay a send may ask for (366 days)", to: broker("timerMaxDelayMs"),
    }),
    timerLookaheadMs: setting({
      ...int(1, 10_000, "ms"), default: 250, example: 500,
      doc: "Timer messages: how long before its second a timer is loaded into memory", to: broker("timerLookaheadMs"),
    }),
    tpsHistoryMinutes: setting({
      ...int(1, 1440, "minutes"), default: 60, example: 30,
      doc: "Minutes of ten-second TPS points kept per topic for the dashboard's charts (about 3 KiB a busy topic an hour)",
      to: broker("tpsHistoryMinutes"),
    }),
    tpsHistoryFineSeconds: setting({
      ...int(10, 3600, "seconds"), default: 300, example: 120,
      doc: "Seconds of one-second TPS points kept per topic for the dashboard's charts (8 bytes a point)", to: broker("tpsHistoryFineSeconds"),
    }),
    dedupWindowMs: setting({
      ...int(0, 86_400_000, "ms"), default: 120_000, example: 60_000,
      doc: "Idempotent sends: how long a dedup id is remembered (0: dedup off)", to: broker("dedupWindowMs"),
    }),
    dedupMaxEntries: setting({
      ...int(1, 10_000_000), default: 100_000, example: 5000,
      doc: "Idempotent sends: most dedup ids remembered; past it the oldest are forgotten early", to: broker("dedupMaxEntries"),
    }),
    transactionTimeoutMs: setting({
      ...int(1, 86_400_000, "ms"), default: 6000, example: 3000,
      doc: "Transactions: a half message still unresolved this long after it was stored is checked back with its producer group",
      to: broker("transactionTimeoutMs"),
    }),
    transactionCheckMax: setting({
      ...int(1, 1000), default: 15, example: 5,
      doc: "Transactions: checks of one half message before transactionCheckMaxPolicy resolves it", to: broker("transactionCheckMax"),
    }),
    transactionCheckIntervalMs: setting({
      ...int(1, 86_400_000, "ms"), default: 30_000, example: 10_000,
      doc: "Transactions: time between two checks of one half message", to: broker("transactionCheckIntervalMs"),
    }),
    transactionCheckMaxPolicy: setting({
      ...choice(["rollback", "commit"] as const, "policy"), default: "rollback", example: "commit",
      doc: "Transactions: what becomes of a half message still unresolved after transactionCheckMax checks (logged either way)",
      to: broker("transactionCheckMaxPolicy"),
    }),
    enableControllerMode: setting({
      ...bool(), default: false, example: true, commands: ["broker"],
      doc: "Controller mode: the controllers elect the group's master and replace it when it dies; brokerId then names the replica (1 or more)",
      to: broker("enableControllerMode"),
    }),
    controllerAddresses: setting({
      ...addresses(), example: ["127.0.0.1:19876"], commands: ["broker"],
      doc: "Controller mode: the controllers (NameServers running one) to heartbeat to (default: nameServers)", to: broker("controllerAddresses"),
    }),
    controllerHeartbeatMs: setting({
      ...int(50, 60_000, "ms"), default: 500, example: 250, commands: ["broker"],
      doc: "Controller mode: how often the broker heartbeats to the controllers (keep it under a quarter of the lease)", to: broker("controllerHeartbeatMs"),
    }),
    inSyncMaxLagMs: setting({
      ...int(100, 600_000, "ms"), default: 3000, example: 5000, commands: ["broker"],
      doc: "Controller mode: a replica that has not caught up with the master for this long leaves the in-sync set", to: broker("inSyncMaxLagMs"),
    }),
    traceTopicEnable: setting({
      ...bool(), default: false, example: true, flag: "trace",
      doc: "Message trace: create the trace topic and record there the transactions this broker commits or rolls back and the messages it moves to a dead-letter topic (rmq trace)",
      to: broker("traceTopicEnable"),
    }),
    msgTraceTopicName: setting({
      ...text("topic"), default: "RMQ_SYS_TRACE_TOPIC", example: "TRACE_TOPIC_A",
      doc: "Message trace: the topic trace records are stored in (clients set the same with traceTopic)", to: broker("msgTraceTopicName"),
      }),
  },
  controller: {
    etcdEndpoints: setting({
      kind: "list", valueName: "url,…",
      schema: v.array(v.pipe(v.string(), v.regex(/^https?:\/\/[^/\s]+$/, "expected http://host:port or https://host:port"))),
      example: ["http://127.0.0.1:2379"],
      doc: "Run a controller beside the NameServer (automatic failover), its state in the etcd cluster at these URLs (default: no controller)",
      to: nameserver("controllerEtcdEndpoints"),
    }),
    etcdPrefix: setting({ ...text("prefix"), default: "/rocketmq", example: "/rmq-prod", doc: "Controller: key prefix in etcd", to: nameserver("controllerEtcdPrefix") }),
    etcdUsername: setting({
      ...text("user"), example: "rmq-controller",
      doc: "Controller: the etcd user to authenticate as when etcd has auth enabled (with etcdPassword)", to: nameserver("controllerEtcdUsername"),
    }),
    etcdPassword: setting({
      ...text("password"), example: "example-etcd-password", flag: false,
      doc: "Controller: the password of etcdUsername (config file or RMQ_CONTROLLER_ETCD_PASSWORD, never a flag)", to: nameserver("controllerEtcdPassword"),
    }),
    leaseTtlSeconds: setting({
      ...int(2, 600, "s"), default: 2, example: 5,
      doc: "Controller: a broker's lease; a master silent this long is replaced and stops taking writes", to: nameserver("controllerLeaseTtlSeconds"),
    }),
  },
  admin: {
    enabled: setting({
      ...bool(), default: true, example: false, flag: "admin",
      doc: "Serve the admin API, metrics and dashboard when admin.port is set", to: admin("enabled"),
    }),
    host: setting({ ...text("host"), default: "127.0.0.1", example: "::1", doc: "Address the admin API binds; expose it with care", to: admin("hostname") }),
    port: setting({
      ...port(), defaults: { standalone: 8080 }, example: 18080,
      doc: "Port of the admin API; broker and nameserver serve it only when it is set", to: admin("port"),
    }),
    token: setting({
      ...secret(8, "token"), example: "example-token",
      doc: 'When set, changes need "Authorization: Bearer <token>" (superseded by ACL)', to: admin("token"),
    }),
    allowedOrigins: setting({
      kind: "list", valueName: "origin,…",
      schema: v.array(v.pipe(v.string(), v.regex(/^https?:\/\/[^/\s?#]+\/?$/, 'expected an origin such as "https://mq.example.com"'))),
      default: [], example: ["https://mq.example.com"],
      doc: "Origins besides IP addresses and localhost it answers to, and whose pages may make changes (a reverse proxy, a container name)",
      to: admin("allowedOrigins"),
    }),
    gateway: setting({
      ...bool(), default: true, example: false, flag: "gateway",
      doc: "Serve the HTTP gateway (produce and consume over HTTP, docs/HTTP.md) at /api/gateway of the admin API",
      to: admin("gateway", (on: boolean) => (on ? {} : false)),
    }),
  },
  acl: {
    file: setting({
      ...text("file"), example: "config/acl.yaml", flag: "acl",
      doc: "ACL file (docs/SECURITY.md): every request must be signed by an account allowed to make it; re-read on change",
      to: security(),
    }),
    accessKey: setting({
      ...text("key"), example: "rocketmq-admin", flag: false, commands: ["broker", "standalone"],
      doc: "The account a broker signs its NameServer registrations with (default: the ACL file's first admin)", to: security(),
    }),
    secretKey: setting({ ...text("secret"), example: "example-secret", flag: false, commands: ["broker", "standalone"], doc: "The secret key of accessKey", to: security() }),
  },
  tls: {
    cert: setting({
      ...text("file"), example: "/etc/rmq/cert.pem",
      doc: "PEM certificate of the client, replication and admin listeners; TLS is off without it", to: security(),
    }),
    key: setting({ ...text("file"), example: "/etc/rmq/key.pem", doc: "PEM private key of tls.cert", to: security() }),
    ca: setting({
      ...text("file"), example: "/etc/rmq/ca.pem", commands: ["broker", "standalone"],
      doc: "PEM CA a broker trusts when dialing TLS NameServers, and a slave its master (default for that: tls.cert)", to: security(),
    }),
    nameServers: setting({
      ...bool(), example: true, commands: ["broker", "standalone"],
      doc: "The broker dials its NameServers over TLS (default: false; standalone: whenever tls.cert is set)", to: security(),
    }),
    replicationClientCa: setting({
      ...text("file"), example: "/etc/rmq/group-ca.pem", commands: ["broker", "standalone"],
      doc: "Masters: mutual TLS on the replication port: a slave must present a certificate this PEM CA signed (slaves present tls.cert)",
      to: security(),
    }),
  },
  cluster: {
    secretFile: setting({
      ...text("file"), example: "/etc/rmq/cluster.secret", flag: "cluster-secret-file",
      doc: "File with the cluster secret (16+ characters, mode 0600): brokers sign NameServer registrations with it, master and slaves prove it " +
        "to each other (standalone: <dataDir>/cluster.secret, created on first start)",
      to: security(),
    }),
    secret: setting({
      ...secret(16, "secret"), example: "example-cluster-secret-0123", flag: false,
      doc: "The cluster secret itself, instead of secretFile (docs/SECURITY.md, \"Peers\")", to: security(),
    }),
  },
  log: {
    level: setting({ ...choice(["debug", "info", "warn", "error"], "level"), default: "info", example: "warn", doc: "Lines below this level are dropped", to: logger("level") }),
    format: setting({
      ...choice(["text", "json"], "format"), default: "text", example: "json",
      doc: "text: time LEVEL [component] line; json: one object a line", to: logger("format"),
    }),
  },
} as const;

/** The sections of the file. */
export type Section = keyof typeof SETTINGS;

/** The commands that take a section's settings unless a setting says otherwise. */
const SECTION_COMMANDS: Record<Section, readonly CommandName[]> = {
  nameserver: ["nameserver", "standalone"],
  broker: ["broker", "standalone"],
  controller: ["nameserver", "standalone"],
  admin: SERVERS,
  acl: SERVERS,
  tls: SERVERS,
  cluster: SERVERS,
  log: SERVERS,
};

type ValueOf<S> = S extends Setting<infer T, infer D> ? (D extends true ? T : T | undefined) : never;

/** The configuration as `SETTINGS` describes it. */
type SettingsConfig = { [S in Section]: { -readonly [K in keyof (typeof SETTINGS)[S]]: ValueOf<(typeof SETTINGS)[S][K]> } };

/**
 * Compiles only while `Config` (written out in server/config_types.ts) is the type `SETTINGS`
 * describes: after changing a setting, run `npm run gen:config`.
 */
export const CONFIG_TYPES_MATCH: [Config, SettingsConfig] extends [SettingsConfig, Config] ? true : never = true;

/** One setting with where it lives. */
export interface SettingEntry {
  section: Section;
  key: string;
  /** `section.key`. */
  path: string;
  setting: Setting<unknown>;
}

/** Every setting, in file order. */
export const SETTING_LIST: readonly SettingEntry[] = Object.entries(SETTINGS).flatMap(([section, keys]) =>
  Object.entries(keys).map(([key, value]) => ({ section: section as Section, key, path: `${section}.${key}`, setting: value as Setting<unknown> }))
);

/** The commands that take a setting. */
export function commandsOf(entry: SettingEntry): readonly CommandName[] {
  return entry.setting.commands ?? SECTION_COMMANDS[entry.section];
}

/** The environment variable of a setting: `RMQ_BROKER_FLUSH_MODE`. */
export function envName(entry: Pick<SettingEntry, "section" | "key">): string {
  return `RMQ_${entry.section.toUpperCase()}_${entry.key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/**
 * The flag of a setting on a command (without dashes), if it has one there: the key in kebab case,
 * prefixed with its section (`admin-port`) unless the command runs that section's component itself
 * (`rmq broker --port`); in `standalone`, broker keys are unprefixed and NameServer keys take
 * `namesrv-` (`--namesrv-port`).
 */
export function flagName(entry: SettingEntry, command: CommandName): string | undefined {
  if (!commandsOf(entry).includes(command) || entry.setting.flag === false) return undefined;
  if (entry.setting.flag !== undefined) return entry.setting.flag;
  const kebab = entry.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const own = entry.section === command || (command === "standalone" && entry.section === "broker");
  return own ? kebab : `${entry.section === "nameserver" ? "namesrv" : entry.section}-${kebab}`;
}

/** The default of a setting on a command (`undefined`: unset), or the setting it copies. */
export function defaultOf(entry: SettingEntry, command?: CommandName): unknown {
  const defaults = entry.setting.defaults as Partial<Record<CommandName, unknown>> | undefined;
  return command !== undefined && defaults !== undefined && command in defaults ? defaults[command] : entry.setting.default;
}

/** Whether a default copies another setting. */
export function isSameAs(value: unknown): value is SameAs {
  return typeof value === "object" && value !== null && "sameAs" in value;
}

/** A configuration that failed to load; the message names the source and the key. */
export class ConfigError extends Error {
  /**
   * @param message What is wrong and where.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Values by section, as a layer gives them. */
export type ConfigLayer = { [S in keyof Config]?: Partial<Config[S]> };

/** Options of `loadConfig`. */
export interface LoadConfigOptions {
  /** YAML file to read; none means defaults (and environment). */
  file?: string;
  /** Environment variables. @default {} */
  env?: Record<string, string | undefined>;
  /** Values from flags, by section, applied last; undefined values are skipped. */
  overrides?: ConfigLayer;
  /** The command whose defaults apply. @default none: the plain defaults */
  command?: CommandName;
}

/** A loaded configuration and the keys a layer gave. */
export interface LoadedConfig {
  config: Config;
  /** `section.key` of every setting the file, the environment or a flag gave. */
  given: ReadonlySet<string>;
}

const LAYER_SCHEMA = v.strictObject(
  Object.fromEntries(
    Object.entries(SETTINGS).map(([section, keys]) => [
      section,
      // A section whose keys are all commented out reads as null.
      v.nullish(v.strictObject(Object.fromEntries(Object.entries(keys).map(([key, s]) => [key, v.optional((s as Setting<unknown>).schema)])))),
    ]),
  ),
);

function issueText(issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]): string {
  const issue = issues[0];
  if (issue.type === "strict_object" && issue.expected === "never" && issue.path !== undefined) {
    return `unknown key "${issue.path.map((p) => String(p.key)).join(".")}"`;
  }
  const path = v.getDotPath(issue);
  return `${path ? `"${path}" ` : ""}${issue.message}`;
}

function checkLayer(layer: unknown, source: string): ConfigLayer {
  const result = v.safeParse(LAYER_SCHEMA, layer);
  if (!result.success) throw new ConfigError(`${source}: ${issueText(result.issues)}`);
  return result.output as ConfigLayer;
}

/**
 * The value a flag or environment variable's text stands for, by the setting's kind (its schema
 * checks it next).
 *
 * @param kind The setting's kind.
 * @param value The text.
 * @returns The value, or a message saying what was expected.
 */
export function fromText(kind: ValueKind, value: string): { value: unknown } | { error: string } {
  switch (kind) {
    case "integer":
      return /^-?\d+$/.test(value.trim()) ? { value: Number(value) } : { error: "expected a whole number" };
    case "boolean":
      return value === "true" || value === "false" ? { value: value === "true" } : { error: "expected true or false" };
    case "list":
      return { value: value.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== "") };
    case "string":
      return { value };
  }
}

/** Parses YAML text (yaml's `parse`; loaded by the caller, only when a file is read). */
export type ParseYaml = (text: string) => unknown;

function readFile(file: string, parseYaml: ParseYaml | undefined): unknown {
  if (parseYaml === undefined) throw new TypeError(`Cannot read config file "${file}": no YAML parser was given`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError(`Cannot read config file "${file}": ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (cause) {
    throw new ConfigError(`Config file "${file}" is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`Config file "${file}" must hold a mapping of sections`);
  return raw;
}

function fromEnv(env: Record<string, string | undefined>): ConfigLayer {
  const layer: Record<string, Record<string, unknown>> = {};
  for (const entry of SETTING_LIST) {
    const name = envName(entry);
    const raw = env[name];
    if (raw === undefined) continue;
    const parsed = fromText(entry.setting.kind, raw);
    const checked = "error" in parsed ? parsed : v.safeParse(entry.setting.schema, parsed.value);
    if ("error" in checked || !checked.success) {
      const message = "error" in checked ? checked.error : checked.issues[0].message;
      throw new ConfigError(`Environment variable ${name}="${raw}": "${entry.path}" ${message}`);
    }
    (layer[entry.section] ??= {})[entry.key] = checked.output;
  }
  return layer;
}

/**
 * Loads and validates the configuration, and says which keys were given.
 *
 * @param options File, environment, flag overrides and the command.
 * @param parseYaml Parses the file; needed when `options.file` is set (the server commands load
 *   yaml only then: it is a tenth of their start-up).
 * @returns The configuration with defaults filled in.
 * @throws {ConfigError} When the file cannot be read or parsed, or a key or value is invalid (the
 *   message names the source and the key).
 */
export function loadConfigLayers(options: LoadConfigOptions = {}, parseYaml?: ParseYaml): LoadedConfig {
  const layers = [
    options.file === undefined ? {} : checkLayer(readFile(options.file, parseYaml), `Config file "${options.file}"`),
    fromEnv(options.env ?? {}),
    checkLayer(
      Object.fromEntries(Object.entries(options.overrides ?? {}).map(([s, keys]) => [s, Object.fromEntries(Object.entries(keys ?? {}).filter(([, value]) => value !== undefined))])),
      "Flags",
    ),
  ];
  const config: Record<string, Record<string, unknown>> = {};
  const given = new Set<string>();
  const copies: Array<[SettingEntry, SameAs]> = [];
  for (const entry of SETTING_LIST) {
    const section = (config[entry.section] ??= {});
    let value: unknown;
    for (const layer of layers) {
      const layered = (layer as Record<string, Record<string, unknown> | undefined>)[entry.section]?.[entry.key];
      if (layered !== undefined) value = layered;
    }
    if (value !== undefined) {
      given.add(entry.path);
      section[entry.key] = value;
      continue;
    }
    const fallback = defaultOf(entry, options.command);
    if (isSameAs(fallback)) copies.push([entry, fallback]);
    else section[entry.key] = fallback;
  }
  for (const [entry, { sameAs }] of copies) {
    const [section, key] = sameAs.split(".") as [string, string];
    config[entry.section]![entry.key] = config[section]![key];
  }
  return { config: config as Config, given };
}

/**
 * The options a component is started with, from every setting that targets it.
 *
 * @param config The configuration.
 * @param component The component.
 * @param command The command starting it: only the settings it takes are used.
 * @returns Its options; unset settings are left out, so the component's defaults apply.
 */
export function componentOptions<C extends keyof ComponentOptions>(config: Config, component: C, command?: CommandName): Partial<ComponentOptions[C]> {
  const out: Record<string, unknown> = {};
  for (const entry of SETTING_LIST) {
    const to = entry.setting.to;
    if (to.component !== component || to.option === undefined) continue;
    if (command !== undefined && !commandsOf(entry).includes(command)) continue;
    const value = (config as Record<string, Record<string, unknown>>)[entry.section]![entry.key];
    if (value === undefined) continue;
    const mapped = to.map(value);
    // Several keys may set parts of one object option (broker.grpcAutoRenew*): the parts are merged.
    const before = out[to.option];
    const parts = typeof before === "object" && before !== null && !Array.isArray(before) && typeof mapped === "object" && mapped !== null;
    out[to.option] = parts ? { ...before, ...mapped } : mapped;
  }
  return out as Partial<ComponentOptions[C]>;
}
