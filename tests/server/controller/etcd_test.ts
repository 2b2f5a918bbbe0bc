/**
 * The etcd client against a real etcd: keys, leases that expire, and transactions whose
 * comparisons decide (what every election relies on).
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { EtcdClient, EtcdError, prefixEnd } from "../../../server/controller/etcd.ts";
import { needs } from "../../_helpers/skip.ts";
import { until } from "../../_helpers/wait.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "../../ha/_etcd.ts";

const test = needs(missingEtcd());
let etcd: EtcdCluster | undefined;

beforeAll(async () => {
  if (missingEtcd() === undefined) etcd = await startEtcd(1);
});
afterAll(async () => await etcd?.close());

describe("EtcdClient", () => {
  test("a key put with a lease disappears once the lease is no longer kept alive", async () => {
    const client = new EtcdClient({ endpoints: etcd!.endpoints });
    const lease = await client.grant(2);
    await client.put("/t/lease/a", "one", lease.id);
    expect((await client.range("/t/lease/a")).kvs.map((kv) => kv.value)).toEqual(["one"]);
    expect(await client.keepAlive(lease.id)).toBeGreaterThan(0);
    await until(async () => (await client.range("/t/lease/a")).kvs.length === 0, 6000, "the lease to expire", 100);
    expect(await client.keepAlive(lease.id)).toBeLessThanOrEqual(0);
  });

  test("a transaction applies its success branch only while its comparisons hold", async () => {
    const client = new EtcdClient({ endpoints: etcd!.endpoints });
    const create = () => client.txn([{ key: "/t/txn/state", target: "CREATE", result: "EQUAL", revision: 0 }], [{ put: { key: "/t/txn/state", value: "v1" } }]);
    expect(await create()).toBe(true);
    expect(await create()).toBe(false);
    const [kv] = (await client.range("/t/txn/state")).kvs;
    const swap = (value: string) => client.txn([{ key: "/t/txn/state", target: "MOD", result: "EQUAL", revision: kv!.modRevision }], [{ put: { key: "/t/txn/state", value } }]);
    expect(await swap("v2")).toBe(true);
    expect(await swap("v3")).toBe(false);
    expect((await client.range("/t/txn/state")).kvs[0]!.value).toBe("v2");
    // A range comparison: no key under the prefix.
    const none = () => client.txn([{ key: "/t/txn/alive/", rangeEnd: prefixEnd("/t/txn/alive/"), target: "CREATE", result: "EQUAL", revision: 0 }], []);
    expect(await none()).toBe(true);
    await client.put("/t/txn/alive/1", "x");
    expect(await none()).toBe(false);
  });

  test("an unreachable cluster is an EtcdError naming every endpoint", async () => {
    const client = new EtcdClient({ endpoints: ["http://127.0.0.1:1", "http://127.0.0.1:2"], timeoutMs: 500 });
    const error = await client.range("/x").catch((e) => e);
    expect(error).toBeInstanceOf(EtcdError);
    expect(error.message).toContain("127.0.0.1:1");
    expect(error.message).toContain("127.0.0.1:2");
  });

  test("a member that is down is passed over for the next endpoint", async () => {
    const client = new EtcdClient({ endpoints: ["http://127.0.0.1:1", ...etcd!.endpoints], timeoutMs: 500 });
    await client.put("/t/failover", "ok");
    expect((await client.range("/t/failover")).kvs[0]!.value).toBe("ok");
  });
});
