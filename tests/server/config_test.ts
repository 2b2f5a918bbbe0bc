import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { parseServerArgs, serverCommandSpec } from "../../server/_config_layers.ts";
import { configReference, configTypes, configYaml } from "../../server/_config_doc.ts";
import { type RunningServers, startServers } from "../../server/_entry.ts";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { serve } from "../../server/bun/serve.ts";
import { helpText } from "../../server/_flags.ts";
import {
  COMMANDS,
  commandsOf,
  ConfigError,
  envName,
  flagName,
  SETTING_LIST,
  type SettingEntry,
} from "../../server/config.ts";
import { loadConfig } from "../../server/load_config.ts";
import { freePort, ROOT } from "../_helpers/process.ts";
import { makeTestCert } from "../security/_certs.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-config-"));
const cert = makeTestCert();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  cert.remove();
});

function file(text: string): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

describe("loadConfig()", () => {
  test("the shipped config/config.yaml holds exactly the defaults", () => {
    expect(loadConfig({ file: join(ROOT, "config/config.yaml") })).toEqual(loadConfig());
    for (const command of COMMANDS) {
      expect(loadConfig({ file: join(ROOT, "config/config.yaml"), command })).toEqual(loadConfig({ command }));
    }
  });

  test("defaults fill every key, some per command", () => {
    const config = loadConfig();
    expect(config.nameserver.port).toBe(9876);
    expect(config.broker.flushMode).toBe("async");
    expect(config.admin.host).toBe("127.0.0.1");
    expect(config.broker.fileReservedTimeHours).toBe(72);
    expect(loadConfig({ command: "broker" }).broker.dataDir).toBe("./data/broker");
    expect(loadConfig({ command: "standalone" }).broker.dataDir).toBe("./data");
    expect(loadConfig({ command: "standalone" }).broker.autoCreateTopicEnable).toBe(true);
    expect(loadConfig({ command: "broker" }).broker.autoCreateTopicEnable).toBe(false);
    expect(loadConfig({ command: "standalone" }).admin.port).toBe(8080);
    expect(loadConfig({ command: "broker" }).admin.port).toBeUndefined();
  });

  test("in standalone the NameServer listens where the broker does unless told otherwise", () => {
    expect(loadConfig({ command: "standalone", overrides: { broker: { host: "127.0.0.1" } } }).nameserver.host).toBe("127.0.0.1");
    expect(loadConfig({ command: "standalone", overrides: { broker: { host: "127.0.0.1" }, nameserver: { host: "::1" } } }).nameserver.host).toBe("::1");
    expect(loadConfig({ command: "nameserver", overrides: { broker: { host: "127.0.0.1" } } }).nameserver.host).toBe("0.0.0.0");
  });

  test("the file, then the environment, then flags win", () => {
    const path = file("broker:\n  port: 20000\n  flushMode: sync\n  nameServers: [a:1]\n");
    expect(loadConfig({ file: path }).broker.port).toBe(20000);
    const withEnv = loadConfig({ file: path, env: { RMQ_BROKER_PORT: "30000", RMQ_BROKER_NAME_SERVERS: "x:1, y:2" } });
    expect(withEnv.broker.port).toBe(30000);
    expect(withEnv.broker.nameServers).toEqual(["x:1", "y:2"]);
    expect(withEnv.broker.flushMode).toBe("sync");
    const withFlags = loadConfig({ file: path, env: { RMQ_BROKER_PORT: "30000" }, overrides: { broker: { port: 40000, dataDir: undefined } } });
    expect(withFlags.broker.port).toBe(40000);
    expect(withFlags.broker.dataDir).toBe("./data");
  });

  test("an unknown key fails naming the key", () => {
    expect(() => loadConfig({ file: file("broker:\n  prot: 1\n") })).toThrow('unknown key "broker.prot"');
    expect(() => loadConfig({ file: file("brokr: {}\n") })).toThrow('unknown key "brokr"');
    expect(() => loadConfig({ file: file("producer:\n  group: x\n") })).toThrow('unknown key "producer"');
  });

  test("a bad value fails naming the key and where it came from", () => {
    expect(() => loadConfig({ file: file("broker:\n  flushMode: sometimes\n") })).toThrow(/Config file ".*": "broker.flushMode" expected "async" or "sync"/);
    expect(() => loadConfig({ file: file("nameserver:\n  port: 70000\n") })).toThrow(/"nameserver.port" must be at most 65535/);
    expect(() => loadConfig({ env: { RMQ_ADMIN_PORT: "-5" } })).toThrow('Environment variable RMQ_ADMIN_PORT="-5": "admin.port" must be at least 0');
    expect(() => loadConfig({ env: { RMQ_BROKER_PORT: "ten" } })).toThrow('Environment variable RMQ_BROKER_PORT="ten": "broker.port" expected a whole number');
    expect(() => loadConfig({ env: { RMQ_BROKER_REPLICATION: "maybe" } })).toThrow('"broker.replication" expected true or false');
    expect(() => loadConfig({ overrides: { broker: { maxPullBatchSize: 5000 } } })).toThrow('Flags: "broker.maxPullBatchSize" must be at most 1024');
  });

  test("retention settings: deleteWhen as hours text or one number, disk marks as percents", () => {
    expect(loadConfig().broker).toMatchObject({ fileReservedTimeHours: 72, deleteWhen: "04", diskHighWaterPercent: 75, diskHardLimitPercent: 90 });
    expect(loadConfig({ env: { RMQ_BROKER_DELETE_WHEN: "04" } }).broker.deleteWhen).toBe("04");
    expect(loadConfig({ file: file("broker:\n  deleteWhen: 3\n") }).broker.deleteWhen).toBe("3");
    expect(loadConfig({ file: file('broker:\n  deleteWhen: "01; 02;03"\n') }).broker.deleteWhen).toBe("01; 02;03");
    expect(loadConfig({ env: { RMQ_BROKER_DELETE_WHEN: "*", RMQ_BROKER_DISK_HARD_LIMIT_PERCENT: "95" } }).broker).toMatchObject({ deleteWhen: "*", diskHardLimitPercent: 95 });
    expect(() => loadConfig({ file: file("broker:\n  deleteWhen: 25\n") })).toThrow(/"broker.deleteWhen" expected hours 0 to 23 separated by ";"/);
    expect(() => loadConfig({ file: file('broker:\n  deleteWhen: "4am"\n') })).toThrow(/"broker.deleteWhen" expected hours/);
    expect(() => loadConfig({ env: { RMQ_BROKER_DISK_HIGH_WATER_PERCENT: "0" } })).toThrow(/"broker.diskHighWaterPercent" must be 1 to 100/);
  });

  test("unreadable files and broken YAML are clear errors", () => {
    expect(() => loadConfig({ file: join(dir, "missing.yaml") })).toThrow(ConfigError);
    expect(() => loadConfig({ file: file("broker: [unclosed\n") })).toThrow(/is not valid YAML/);
    expect(() => loadConfig({ file: file("- a\n- b\n") })).toThrow(/must hold a mapping/);
  });
});

describe("the schema is the one description of every setting", () => {
  test("config/config.yaml and docs/CONFIG.md are generated from it (npm run gen:config)", () => {
    expect(readFileSync(join(ROOT, "config/config.yaml"), "utf8")).toBe(configYaml());
    expect(readFileSync(join(ROOT, "docs/CONFIG.md"), "utf8")).toBe(configReference());
    expect(readFileSync(join(ROOT, "server/config_types.ts"), "utf8")).toBe(configTypes());
  });

  test("each command's --help lists a flag for every setting it takes, with its key and default there", () => {
    for (const command of COMMANDS) {
      const help = helpText(serverCommandSpec(command, `rmq ${command} [flags]`));
      for (const entry of SETTING_LIST) {
        const name = flagName(entry, command);
        if (name !== undefined) expect(help).toContain(`${name}`);
        if (name !== undefined) expect(help).toContain(`[${entry.path}]`);
      }
    }
    const standalone = helpText(serverCommandSpec("standalone", "rmq standalone"));
    expect(standalone).toMatch(/--namesrv-port <port> .*\[nameserver\.port\] \(default: 9876\)/);
    expect(standalone).toMatch(/--\[no-\]auto-create-topic .*\(default: true\)/);
    expect(standalone).toMatch(/--admin-port <port> .*\(default: 8080\)/);
    expect(helpText(serverCommandSpec("broker", "rmq broker"))).toMatch(/--data-dir <dir> .*\(default: \.\/data\/broker\)/);
  });

  test("flags are parsed by the setting's kind, --no-x turns a boolean off, and a bad one names the flag", async () => {
    const parsed = await parseServerArgs("standalone", "rmq standalone", ["--no-auto-create-topic", "--namesrv-port", "1234", "--no-replication", "--no-admin"], {});
    expect(parsed.kind).toBe("config");
    if (parsed.kind !== "config") return;
    expect(parsed.loaded.config.broker.autoCreateTopicEnable).toBe(false);
    expect(parsed.loaded.config.nameserver.port).toBe(1234);
    expect(parsed.loaded.config.broker.replication).toBe(false);
    expect(parsed.loaded.config.admin.enabled).toBe(false);
    expect(await parseServerArgs("broker", "rmq broker", ["--port", "99999"], {})).toEqual({ kind: "usage", message: 'Invalid value "99999" for --port: must be at most 65535' });
    expect(await parseServerArgs("broker", "rmq broker", ["--flush", "never"], {})).toEqual({ kind: "usage", message: 'Invalid value "never" for --flush: expected "async" or "sync"' });
    expect(await parseServerArgs("nameserver", "rmq nameserver", ["--namesrv", "a:1"], {})).toEqual({ kind: "usage", message: 'Unknown flag "--namesrv"' });
    expect((await parseServerArgs("broker", "rmq broker", [], { RMQ_BROKER_PORT: "x" })).kind).toBe("error");
  });
});

// ---- every key reaches its component ----

/** A value of each setting that differs from its default and can run here. */
async function testValue(entry: SettingEntry): Promise<unknown> {
  switch (entry.path) {
    case "nameserver.port":
    case "broker.port":
    case "broker.haPort":
    case "broker.webSocketPort":
    case "nameserver.webSocketPort":
    case "admin.port":
    case "broker.grpcPort":
      return await freePort();
    case "broker.dataDir":
      return mkdtempSync(join(dir, "data-"));
    case "broker.nameServers":
      return [`127.0.0.1:${await freePort()}`];
    case "broker.haMasterAddress":
      return `127.0.0.1:${await freePort()}`;
    case "acl.file":
      return join(ROOT, "config/acl.yaml");
    case "tls.cert":
    case "tls.ca":
    case "tls.replicationClientCa":
      return cert.certFile;
    case "tls.key":
      return cert.keyFile;
    case "cluster.secretFile":
      return file(`${FILE_SECRET}\n`);
    default:
      return entry.setting.example;
  }
}

/** The ports every run sets (free ones), so no run binds a default. */
const LISTENERS = ["nameserver.port", "broker.port", "broker.grpcPort", "admin.port"];

/** The cluster secret the `cluster.secretFile` test value holds. */
const FILE_SECRET = "config-test-cluster-secret-0001";
const SECURITY = (e: SettingEntry) => e.section === "acl" || e.section === "tls";
/** Runs that each set and check a group of keys (together every key a command takes), with helpers set beside them. */
/** The broker's controller mode settings: a replica, not a plain master or slave. */
const CONTROLLED = (e: SettingEntry): boolean =>
  ["broker.enableControllerMode", "broker.controllerAddresses", "broker.controllerHeartbeatMs", "broker.inSyncMaxLagMs"].includes(e.path);

const SCENARIOS: Array<{ name: string; keys: (e: SettingEntry) => boolean; beside?: string[] }> = [
  { name: "every plain setting", keys: (e) => !SECURITY(e) && !CONTROLLED(e) && e.section !== "cluster" && e.path !== "admin.enabled" },
  { name: "ACL and TLS", keys: SECURITY },
  // One at a time: giving both the secret and its file is refused.
  { name: "cluster secret file", keys: (e) => e.path === "cluster.secretFile" },
  { name: "cluster secret", keys: (e) => e.path === "cluster.secret" },
  // An open NameServer on the default 0.0.0.0 refuses to start unless told it may.
  { name: "admin API off", keys: (e) => e.path === "admin.enabled", beside: ["admin.port", "nameserver.allowOpenRegistration"] },
  // A replica in controller mode has an id of 1 or more, fixed ports, and a master's role.
  { name: "controller mode", keys: CONTROLLED, beside: ["broker.brokerId", "broker.port", "broker.haPort", "broker.dataDir", "broker.nameServers"] },
];

/** The status of GET /api/cluster on the admin API at [::1]:port with the given Host header. */
function statusWithHost(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: "::1", port, path: "/api/cluster", headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.once("error", reject);
    request.end();
  });
}

/** How to set a value through a flag or a variable. */
function asText(value: unknown): string {
  return Array.isArray(value) ? value.join(",") : String(value);
}

/**
 * Where each value must show up in the running system. A setting whose component has no probe
 * here fails the test: a new component needs one.
 */
async function reached(servers: RunningServers, entry: SettingEntry, value: unknown): Promise<unknown> {
  const { component, option, map } = entry.setting.to;
  const expected = map(value);
  switch (component) {
    case "nameserver":
      if (option === "webSocketPort") expect(servers.nameServer!.webSocketPort).toBe(expected as number);
      return expect((servers.nameServer!.options as Record<string, unknown>)[option!]).toEqual(expected);
    case "broker":
      if (option === "webSocketPort") expect(servers.broker!.webSocketPort).toBe(expected as number);
      // Retention is the store's: the broker hands it over in ms.
      if (option === "fileReservedTimeHours") expect(servers.broker!.context.store.options.fileReservedTimeMs).toBe((expected as number) * 3_600_000);
      // An object option set by several keys (broker.grpcAutoRenew*) holds each key's part.
      if (option === "grpcAutoRenew") return expect(servers.broker!.options.grpcAutoRenew).toMatchObject(expected as object);
      return expect((servers.broker!.options as Record<string, unknown>)[option!]).toEqual(expected);
    case "store":
      // Through the broker's options into the store's own.
      return expect((servers.broker!.context.store.options as Record<string, unknown>)[option!]).toEqual(expected);
    case "log":
      return expect((servers.logger as unknown as Record<string, unknown>)[option!]).toEqual(expected);
    case "admin":
      if (option === "enabled") return expect(servers.admin).toBeUndefined();
      if (option === "port") return expect(servers.admin?.port).toBe(expected as number);
      if (option === "hostname") return expect(servers.admin?.hostname).toBe(expected as string);
      if (option === "allowedOrigins") {
        // A configured origin's host name is answered; any other name is refused as a rebinding.
        expect(await statusWithHost(servers.admin!.port, new URL((expected as string[])[0]!).host)).not.toBe(421);
        return expect(await statusWithHost(servers.admin!.port, "elsewhere.example")).toBe(421);
      }
      if (option === "gateway") {
        // Off (the test value): the admin API answers, without the gateway or its OpenAPI document.
        expect(expected).toBe(false);
        const at = `http://[::1]:${servers.admin!.port}`;
        expect((await fetch(`${at}/api/cluster`)).status).toBe(200);
        expect((await fetch(`${at}/api/openapi.json`)).status).toBe(404);
        return expect((await fetch(`${at}/api/gateway/groups/g/offsets`)).status).toBe(404);
      }
      if (option === "token") {
        const url = `http://[::1]:${servers.admin!.port}/api/topics/no-such-topic`;
        expect((await fetch(url, { method: "DELETE" })).status).toBe(401);
        return expect((await fetch(url, { method: "DELETE", headers: { authorization: `Bearer ${value}` } })).status).not.toBe(401);
      }
      break;
    case "security": {
      const { security, broker, nameServer } = servers;
      const listeners = [broker?.options, nameServer?.options].filter((o) => o !== undefined);
      switch (entry.path) {
        case "acl.file":
          expect(security.rules?.().firstAdmin()?.accessKey).toBe("rocketmq-admin");
          for (const o of listeners) expect(o.acl).toBe(security.guard!);
          return;
        case "acl.accessKey":
          return expect(broker!.options.nameServerCredentials?.()?.accessKey).toBe(value as string);
        case "acl.secretKey":
          return expect(broker!.options.nameServerCredentials?.()?.secretKey).toBe(value as string);
        case "tls.cert":
          for (const o of listeners) expect(o.tls?.cert).toBe(cert.cert);
          return;
        case "tls.key":
          for (const o of listeners) expect(o.tls?.key).toBe(cert.key);
          return;
        case "tls.ca":
          return expect(security.replicationDial.tls?.ca).toBe(cert.cert);
        case "tls.nameServers":
          return expect(security.nameServerDial.tls).toEqual({ ca: cert.cert });
        case "tls.replicationClientCa":
          return expect(broker!.options.haTls?.clientCa).toBe(cert.cert);
        case "cluster.secretFile":
        case "cluster.secret": {
          const secret = entry.path === "cluster.secret" ? value : FILE_SECRET;
          for (const o of listeners) expect(o.clusterSecret).toBe(secret as string);
          return;
        }
      }
    }
  }
  throw new Error(`No probe for "${entry.path}" (${component}${option === undefined ? "" : `.${option}`}): it reaches nothing this test can see`);
}

describe("every setting reaches its component", () => {
  for (const command of COMMANDS) {
    test(`rmq ${command}: each key set through the file, the environment or a flag arrives`, async () => {
      const takes = SETTING_LIST.filter((e) => commandsOf(e).includes(command));
      const probed = new Set<string>();
      for (const scenario of SCENARIOS) {
        const checked = takes.filter(scenario.keys);
        if (checked.length === 0) continue;
        // Free ports in every run: a default port (8080, 8081, 9876, 10911) may be held on this machine.
        const entries = [...checked, ...takes.filter((e) => !checked.includes(e) && (scenario.beside?.includes(e.path) || LISTENERS.includes(e.path)))];
        const values = new Map<SettingEntry, unknown>();
        for (const entry of entries) values.set(entry, await testValue(entry));
        const yaml: Record<string, Record<string, unknown>> = {};
        const env: Record<string, string> = {};
        const args: string[] = [];
        entries.forEach((entry, i) => {
          const value = values.get(entry);
          const flag = flagName(entry, command);
          const layer = flag === undefined ? i % 2 : i % 3;
          if (layer === 0) (yaml[entry.section] ??= {})[entry.key] = value;
          else if (layer === 1) env[envName(entry)] = asText(value);
          else if (entry.setting.kind === "boolean") args.push(value ? `--${flag}` : `--no-${flag}`);
          else args.push(`--${flag}`, asText(value));
        });
        args.push("--config", file(stringify(yaml)));
        const parsed = await parseServerArgs(command, `rmq ${command}`, args, env);
        if (parsed.kind !== "config") throw new Error(`${scenario.name}: ${JSON.stringify(parsed)}`);
        const servers = await startServers(command, parsed.loaded.config, { runtime: { listen, dial, serve }, given: parsed.loaded.given });
        try {
          for (const entry of checked) {
            await reached(servers, entry, values.get(entry));
            probed.add(entry.path);
          }
        } finally {
          await servers.close();
        }
      }
      expect([...probed].sort()).toEqual(takes.map((e) => e.path).sort());
    }, 60_000);
  }

  test("every setting is taken by some command", () => {
    for (const entry of SETTING_LIST) expect(commandsOf(entry).length).toBeGreaterThan(0);
  });
});
