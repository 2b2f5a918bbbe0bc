import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../server/config.ts";
import { ROOT } from "../_helpers/process.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

describe("loadConfig()", () => {
  test("the shipped config/config.yaml holds exactly the defaults", () => {
    expect(loadConfig({ file: join(ROOT, "config/config.yaml") })).toEqual(loadConfig());
  });

  test("defaults fill every key", () => {
    const config = loadConfig();
    expect(config.nameserver.port).toBe(9876);
    expect(config.broker.flushMode).toBe("async");
    expect(config.admin.host).toBe("127.0.0.1");
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
  });

  test("a bad value fails naming the key", () => {
    expect(() => loadConfig({ file: file("broker:\n  flushMode: sometimes\n") })).toThrow(/"broker.flushMode" expected "async" or "sync"/);
    expect(() => loadConfig({ file: file("nameserver:\n  port: 70000\n") })).toThrow(/"nameserver.port" must be 0 to 65535/);
    expect(() => loadConfig({ env: { RMQ_ADMIN_PORT: "-5" } })).toThrow(/"admin.port"/);
  });

  test("retention settings: deleteWhen as hours text or one number, disk marks as percents", () => {
    expect(loadConfig().broker).toMatchObject({ fileReservedTimeHours: 72, deleteWhen: "04", diskHighWaterPercent: 75, diskHardLimitPercent: 90 });
    expect(loadConfig({ env: { RMQ_BROKER_DELETE_WHEN: "04" } }).broker.deleteWhen).toBe("4");
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
