import { describe, expect, test } from "bun:test";
import { dial } from "../../../server/bun/connect.ts";
import { listen } from "../../../server/bun/listen.ts";
import { startBroker } from "../../../server/broker/broker.ts";
import { ConfigError } from "../../../server/config.ts";
import { loadConfig } from "../../../server/load_config.ts";
import { BUN, start } from "../../_helpers/process.ts";

describe("replication settings", () => {
  test("defaults, RMQ_* variables and bad values name their key", () => {
    const defaults = loadConfig().broker;
    expect(defaults).toMatchObject({ brokerRole: "ASYNC_MASTER", syncSlaveTimeoutMs: 3000 });
    expect(defaults.haPort).toBeUndefined();
    const env = loadConfig({ env: { RMQ_BROKER_BROKER_ROLE: "SLAVE", RMQ_BROKER_HA_MASTER_ADDRESS: "10.0.0.5:10912", RMQ_BROKER_HA_PORT: "20912" } }).broker;
    expect(env).toMatchObject({ brokerRole: "SLAVE", haMasterAddress: "10.0.0.5:10912", haPort: 20912 });
    expect(() => loadConfig({ env: { RMQ_BROKER_BROKER_ROLE: "MASTER" } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { RMQ_BROKER_BROKER_ROLE: "MASTER" } })).toThrow(/"broker\.brokerRole" expected "ASYNC_MASTER", "SYNC_MASTER" or "SLAVE"/);
    expect(() => loadConfig({ env: { RMQ_BROKER_HA_MASTER_ADDRESS: "nowhere" } })).toThrow(/"broker\.haMasterAddress" expected host:port/);
  });

  test("brokerId must fit the role, and a slave must be able to find its master", async () => {
    const base = { listen, dial, dataDir: "/nonexistent", port: 0, log: () => {} };
    await expect(startBroker({ ...base, brokerRole: "SLAVE", brokerId: 0, haMasterAddress: "127.0.0.1:1" })).rejects.toThrow(
      "A slave needs brokerId 1 or more (brokerId 0 is the master's), got 0",
    );
    await expect(startBroker({ ...base, brokerRole: "SYNC_MASTER", brokerId: 2 })).rejects.toThrow(
      'A master (brokerRole "SYNC_MASTER") has brokerId 0, got 2: set brokerRole to "SLAVE" for a slave',
    );
    await expect(startBroker({ ...base, brokerRole: "SLAVE", brokerId: 1 })).rejects.toThrow(
      "A slave needs its master's replication address: set haMasterAddress (--ha-master-address host:port), or NameServers (--namesrv) to learn it from",
    );
  });

  test("the broker entrypoint refuses a slave with brokerId 0 with exit code 1", async () => {
    const child = start(BUN, ["run", "server/broker.ts", "--port", "0", "--broker-role", "SLAVE", "--data-dir", "/nonexistent"]);
    expect(await child.exited).toBe(1);
    expect(child.output()).toContain("Cannot start the broker: A slave needs brokerId 1 or more");
  });
});
