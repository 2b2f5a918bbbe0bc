/**
 * The configuration file (`config/config.yaml`): one YAML document for the NameServer, broker,
 * admin server and client defaults. Precedence, lowest first: built-in defaults, the file,
 * environment variables (`RMQ_<SECTION>_<KEY>`, e.g. `RMQ_BROKER_FLUSH_MODE=sync`), command-line flags.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { parse as parseYaml } from "yaml";

const port = v.pipe(v.number(), v.integer(), v.minValue(0, "must be 0 to 65535"), v.maxValue(65535, "must be 0 to 65535"));
const positive = v.pipe(v.number(), v.integer(), v.minValue(1, "must be at least 1"));
const host = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const percent = v.pipe(v.number(), v.integer(), v.minValue(1, "must be 1 to 100"), v.maxValue(100, "must be 1 to 100"));
/** RocketMQ's deleteWhen: hours 0-23 separated by ";", or "*". */
const DELETE_WHEN = /^\s*(\*|([01]?\d|2[0-3])(\s*;\s*([01]?\d|2[0-3]))*)\s*$/;
const DELETE_WHEN_TEXT = 'expected hours 0 to 23 separated by ";" (e.g. "04" or "01;02;03"), or "*"';
const address = v.pipe(v.string(), v.regex(/^(\[[0-9a-fA-F:]+\]|[^\s:]+):\d{1,5}$/, "expected host:port"));

const NameServerSection = v.strictObject({
  host: v.optional(host, "0.0.0.0"),
  port: v.optional(port, 9876),
  brokerExpiryMs: v.optional(positive, 120_000),
  scanIntervalMs: v.optional(positive, 10_000),
});

const BrokerSection = v.strictObject({
  host: v.optional(host, "0.0.0.0"),
  port: v.optional(port, 10911),
  advertisedAddress: v.optional(address),
  nameServers: v.optional(v.array(address), []),
  dataDir: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty")), "./data"),
  clusterName: v.optional(host, "DefaultCluster"),
  brokerName: v.optional(host, "broker-a"),
  brokerId: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0, "must be 0 (master) or more")), 0),
  brokerRole: v.optional(v.picklist(["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"], 'expected "ASYNC_MASTER", "SYNC_MASTER" or "SLAVE"'), "ASYNC_MASTER"),
  /** Masters: the replication port (default: the client port + 1). */
  haPort: v.optional(port),
  /** Slaves: the master's replication host:port (default: learned from the NameServers). */
  haMasterAddress: v.optional(address),
  syncSlaveTimeoutMs: v.optional(v.pipe(positive, v.maxValue(600_000, "must be at most 600000")), 3000),
  flushMode: v.optional(v.picklist(["async", "sync"], 'expected "async" or "sync"'), "async"),
  flushIntervalMs: v.optional(positive, 500),
  commitLogSegmentSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(65536, "must be at least 65536")), 1024 ** 3),
  /** Messages are kept (served) this long unless their topic sets its own retentionHours. */
  fileReservedTimeHours: v.optional(positive, 72),
  /** Hours of the day (local time) segments are deleted for age, ";"-separated as RocketMQ's deleteWhen ("04", "01;02;03"), or "*". */
  deleteWhen: v.optional(
    v.union([
      v.pipe(v.string(), v.regex(DELETE_WHEN, DELETE_WHEN_TEXT)),
      // One hour written as a number (YAML `deleteWhen: 4`, RMQ_BROKER_DELETE_WHEN=04).
      v.pipe(v.number(), v.integer(), v.minValue(0, DELETE_WHEN_TEXT), v.maxValue(23, DELETE_WHEN_TEXT), v.transform(String)),
    ], DELETE_WHEN_TEXT),
    "04",
  ),
  /** Above this percent of the data disk in use, the oldest segments are deleted even if young. */
  diskHighWaterPercent: v.optional(percent, 75),
  /** At or above this percent of the data disk in use, sends are refused with a retryable error. */
  diskHardLimitPercent: v.optional(percent, 90),
  autoCreateTopicEnable: v.optional(v.boolean()),
  defaultTopicQueueNums: v.optional(v.pipe(positive, v.maxValue(1024, "must be at most 1024")), 8),
  maxMessageSize: v.optional(v.pipe(positive, v.maxValue(64 * 1024 * 1024, "must be at most 64 MiB")), 4 * 1024 * 1024),
  maxFrameSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(64 * 1024, "must be at least 65536"), v.maxValue(256 * 1024 * 1024, "must be at most 256 MiB")), 8 * 1024 * 1024),
  maxInFlightPerConnection: v.optional(v.pipe(positive, v.maxValue(1_000_000, "must be at most 1000000")), 10_000),
  maxConnectionsPerIp: v.optional(v.pipe(positive, v.maxValue(1_000_000, "must be at most 1000000")), 1000),
  maxPullBatchSize: v.optional(v.pipe(positive, v.maxValue(1024, "must be at most 1024")), 1024),
  maxHeldPulls: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0, "must be 0 or more"), v.maxValue(10_000_000, "must be at most 10000000")), 10_000),
  messageDelayLevel: v.optional(v.pipe(v.string(), v.regex(/^\s*\d+(ms|s|m|h|d)(\s+\d+(ms|s|m|h|d))*\s*$/, "expected durations such as \"1s 5s 1m\"")), "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"),
});

const AdminSection = v.strictObject({
  host: v.optional(host, "127.0.0.1"),
  port: v.optional(port, 8080),
  token: v.optional(v.string()),
  /**
   * Origins besides the admin server's own address that may use it (a reverse proxy's
   * `https://mq.example.com`, a container name's `http://broker-a:8080`): their host names are
   * answered and their pages may make changes. IP addresses and localhost always are.
   */
  allowedOrigins: v.optional(v.array(v.pipe(v.string(), v.regex(/^https?:\/\/[^/\s?#]+\/?$/, 'expected an origin such as "https://mq.example.com"'))), []),
});

const path = v.pipe(v.string(), v.minLength(1, "must not be empty"));

const AclSection = v.strictObject({
  /** The ACL file (config/acl.yaml); ACL is off without it. */
  file: v.optional(path),
  /** The account a broker signs its NameServer registrations with (default: the file's first admin). */
  accessKey: v.optional(v.string()),
  secretKey: v.optional(v.string()),
});

const TlsSection = v.strictObject({
  /** PEM certificate of the client, replication and admin listeners; TLS is off without it. */
  cert: v.optional(path),
  /** PEM private key matching `cert`. */
  key: v.optional(path),
  /** PEM CA a broker trusts when dialing TLS NameServers and a slave its master (default for the master: `cert`). */
  ca: v.optional(path),
  /** Whether the broker dials its NameServers over TLS. @default false (standalone: when cert is set) */
  nameServers: v.optional(v.boolean()),
});

const ProducerSection = v.strictObject({
  group: v.optional(v.string(), "DEFAULT_PRODUCER"),
  sendTimeoutMs: v.optional(positive, 3000),
  retryTimesWhenSendFailed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 2),
  maxInFlight: v.optional(positive, 10_000),
});

const ConsumerSection = v.strictObject({
  pullBatchSize: v.optional(v.pipe(positive, v.maxValue(1024)), 32),
  consumeThreads: v.optional(positive, 20),
  maxReconsumeTimes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 16),
});

/** The whole file. Every key is optional. */
export const ConfigSchema = v.strictObject({
  nameserver: v.optional(NameServerSection, {}),
  broker: v.optional(BrokerSection, {}),
  admin: v.optional(AdminSection, {}),
  acl: v.optional(AclSection, {}),
  tls: v.optional(TlsSection, {}),
  producer: v.optional(ProducerSection, {}),
  consumer: v.optional(ConsumerSection, {}),
});

/** A validated configuration with every default filled in. */
export type Config = v.InferOutput<typeof ConfigSchema>;

/** A configuration that failed to load; the message names the file and the key. */
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

/** Options of `loadConfig`. */
export interface LoadConfigOptions {
  /** YAML file to read; none means defaults (and environment). */
  file?: string;
  /** Environment variables. @default {} */
  env?: Record<string, string | undefined>;
  /** Values from flags, by section, applied last. */
  overrides?: { [S in keyof Config]?: Partial<Config[S]> };
}

const SECTIONS = ["nameserver", "broker", "admin", "acl", "tls", "producer", "consumer"] as const;

function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** Reads `RMQ_<SECTION>_<KEY>` variables into a raw partial config (strings coerced by the schema's shape). */
function fromEnv(env: Record<string, string | undefined>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const section of SECTIONS) {
    const entries = (ConfigSchema.entries[section] as unknown as { wrapped: v.StrictObjectSchema<v.ObjectEntries, undefined> }).wrapped.entries;
    for (const key of Object.keys(entries)) {
      const name = `RMQ_${section.toUpperCase()}_${camelToSnake(key)}`;
      const text = env[name];
      if (text === undefined) continue;
      let value: unknown = text;
      if (/^-?\d+$/.test(text)) value = Number(text);
      else if (text === "true" || text === "false") value = text === "true";
      else if (key === "nameServers" || key === "allowedOrigins") value = text.split(",").map((s) => s.trim()).filter(Boolean);
      (out[section] ??= {})[key] = value;
    }
  }
  return out;
}

function issueText(source: string, issues: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]): string {
  const issue = issues[0];
  const path = v.getDotPath(issue);
  if (issue.type === "strict_object" && issue.path !== undefined) {
    const where = issue.path.map((p) => String(p.key)).join(".");
    return `${source}: unknown key "${where}"`;
  }
  return `${source}: ${path ? `"${path}" ` : ""}${issue.message}`;
}

/**
 * Loads and validates the configuration.
 *
 * @param options File, environment and flag overrides.
 * @returns The configuration with defaults filled in.
 * @throws {ConfigError} When the file cannot be read or parsed, or a key or value is invalid (the
 *   message names the key).
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  let raw: unknown = {};
  if (options.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.file, "utf8");
    } catch (cause) {
      throw new ConfigError(`Cannot read config file "${options.file}": ${(cause as Error).message}`, { cause });
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (cause) {
      throw new ConfigError(`Config file "${options.file}" is not valid YAML: ${(cause as Error).message}`, { cause });
    }
    if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`Config file "${options.file}" must hold a mapping of sections`);
  }
  const fileResult = v.safeParse(ConfigSchema, raw);
  if (!fileResult.success) throw new ConfigError(issueText(`Config file "${options.file}"`, fileResult.issues));
  const merged: Record<string, Record<string, unknown>> = {};
  const env = fromEnv(options.env ?? {});
  for (const section of SECTIONS) {
    merged[section] = {
      ...(raw as Record<string, Record<string, unknown>>)[section],
      ...env[section],
      ...Object.fromEntries(Object.entries(options.overrides?.[section] ?? {}).filter(([, value]) => value !== undefined)),
    };
  }
  const result = v.safeParse(ConfigSchema, merged);
  if (!result.success) throw new ConfigError(issueText("Configuration (file, RMQ_* environment and flags)", result.issues));
  return result.output;
}
