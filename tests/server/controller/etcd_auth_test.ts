/**
 * The etcd client against a real etcd with auth enabled: it takes a token with a user name and
 * password, says what is wrong when they are missing or refused, keeps to the user's permissions,
 * takes a new token when etcd no longer knows its one (expired, revoked, or the member restarted), and a NameServer's
 * controller configured with them elects a master.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdClient, EtcdError, prefixEnd } from "../../../server/controller/etcd.ts";
import { type Child, freePort, type Server, stop } from "../../_helpers/process.ts";
import { needs } from "../../_helpers/skip.ts";
import { until } from "../../_helpers/wait.ts";
import { masterOf, startControllerNameServer, startReplica } from "../../ha/_controller.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "../../ha/_etcd.ts";

const test = needs(missingEtcd());
const USER = { username: "rmq-controller", password: "etcd-password-for-tests" };
const ROOT_PASSWORD = "root-password-for-tests";
const b64 = (text: string) => btoa(text);
let etcd: EtcdCluster | undefined;
let dir: string;
const children: Child[] = [];

/** One JSON gateway call as etcd's administrator would make it. */
async function admin(path: string, body: unknown, token?: string): Promise<void> {
  const response = await fetch(`${etcd!.endpoints[0]}${path}`, {
    method: "POST",
    headers: token === undefined ? {} : { authorization: token },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${await response.text()}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-etcd-auth-"));
  if (missingEtcd() !== undefined) return;
  etcd = await startEtcd(1);
  // A root user (auth needs one), and a controller user that may use keys under /rocketmq only.
  await admin("/v3/auth/user/add", { name: "root", password: ROOT_PASSWORD });
  await admin("/v3/auth/role/add", { name: "root" });
  await admin("/v3/auth/user/grant", { user: "root", role: "root" });
  await admin("/v3/auth/user/add", { name: USER.username, password: USER.password });
  await admin("/v3/auth/role/add", { name: "rmq" });
  await admin("/v3/auth/role/grant", { name: "rmq", perm: { permType: "READWRITE", key: b64("/rocketmq"), range_end: b64(prefixEnd("/rocketmq")) } });
  await admin("/v3/auth/user/grant", { user: USER.username, role: "rmq" });
  await admin("/v3/auth/enable", {});
});

afterAll(async () => {
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("EtcdClient with etcd auth", () => {
  test("without credentials it is told to set them, a wrong password names the user, the right one reads and writes within its permissions", async () => {
    const anonymous = await new EtcdClient({ endpoints: etcd!.endpoints }).put("/rocketmq/x", "1").catch((e) => e);
    expect(anonymous).toBeInstanceOf(EtcdError);
    expect(anonymous.message).toContain("set controller.etcdUsername and controller.etcdPassword");
    const wrong = await new EtcdClient({ endpoints: etcd!.endpoints, credentials: { ...USER, password: "not-the-password" } }).range("/rocketmq/x").catch((e) => e);
    expect(wrong).toBeInstanceOf(EtcdError);
    expect(wrong.message).toContain(`etcd refused user "${USER.username}"`);

    const client = new EtcdClient({ endpoints: etcd!.endpoints, credentials: USER });
    const lease = await client.grant(5);
    await client.put("/rocketmq/a", "one", lease.id);
    expect(await client.txn([{ key: "/rocketmq/a", target: "VALUE", result: "EQUAL", value: "one" }], [{ put: { key: "/rocketmq/a", value: "two" } }])).toBe(true);
    expect((await client.range("/rocketmq/a")).kvs.map((kv) => kv.value)).toEqual(["two"]);
    expect(await client.keepAlive(lease.id)).toBeGreaterThan(0);
    const outside = await client.put("/elsewhere", "x").catch((e) => e);
    expect(outside).toBeInstanceOf(EtcdError);
    expect(outside.message).toContain("permission denied");
  });

  test("a token etcd no longer knows (its user's tokens were revoked) is replaced by a new one", async () => {
    let authentications = 0;
    const counting: typeof fetch = Object.assign((input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).endsWith("/v3/auth/authenticate")) authentications++;
      return fetch(input, init);
    }, { preconnect: fetch.preconnect });
    const client = new EtcdClient({ endpoints: etcd!.endpoints, credentials: USER, fetch: counting });
    await client.put("/rocketmq/b", "before");
    await client.put("/rocketmq/b", "again");
    expect(authentications).toBe(1);
    // Setting a user's password (to the same one) makes etcd drop every token of that user, as a restart or expiry does.
    const root = await (await fetch(`${etcd!.endpoints[0]}/v3/auth/authenticate`, { method: "POST", body: JSON.stringify({ name: "root", password: ROOT_PASSWORD }) })).json() as { token: string };
    await admin("/v3/auth/user/changepw", { name: USER.username, password: USER.password }, root.token);
    await client.put("/rocketmq/b", "after");
    expect((await client.range("/rocketmq/b")).kvs[0]!.value).toBe("after");
    expect(authentications).toBe(2);
  });

  test("a NameServer's controller with the user and password elects a master", async () => {
    const ns: Server = await startControllerNameServer(etcd!.endpoints, 0, {
      extraArgs: ["--controller-etcd-username", USER.username],
      env: { RMQ_CONTROLLER_ETCD_PASSWORD: USER.password },
    });
    children.push(ns);
    const replica = await startReplica({ dataDir: join(dir, "r1"), port: await freePort(), haPort: await freePort(), replicaId: 1, namesrv: [`127.0.0.1:${ns.port}`] });
    children.push(replica);
    await until(() => masterOf(new Map([[1, replica]]), 1) === 1, 15_000, "replica 1 to be elected master").catch((e) => {
      console.log(ns.output(), replica.output());
      throw e;
    });
  });
});
