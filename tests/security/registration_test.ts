/**
 * Broker registration is authenticated (docs/SECURITY.md, "Cluster secret"): against a real
 * NameServer and broker, a fake broker cannot register, take over a broker's route or unregister
 * it — unsigned, with a wrong secret, as another account, or replaying a signed registration; a
 * NameServer beyond loopback without a secret or ACL refuses to start unless opened explicitly;
 * standalone creates its secret file (0600) and a broker given that file joins it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestSigner } from "../../core/auth/signing.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { CLUSTER_ACCESS_KEY } from "../../server/_cluster_secret.ts";
import { otherClusterSecretFile, TEST_CLUSTER_SECRET, testClusterSecretFile } from "../_helpers/cluster_secret.ts";
import { BUN, type Child, type Server, start, startServer, stop } from "../_helpers/process.ts";
import { masterOf } from "../_helpers/routes.ts";
import { until } from "../_helpers/wait.ts";
import { startTestBroker, startTestNameServer } from "../faults/_common.ts";

const TOPIC = "orders";
let dir: string;
const children: Child[] = [];
const connections: Connection[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-registration-"));
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function open(address: string): Promise<Connection> {
  const connection = await connect(dial, address);
  connections.push(connection);
  return connection;
}


describe("a NameServer with a cluster secret", () => {
  let nameServer: Server;
  let nsAddress: string;
  let brokerAddress: string;
  let user: Connection;

  beforeAll(async () => {
    nameServer = await startTestNameServer();
    children.push(nameServer);
    nsAddress = `127.0.0.1:${nameServer.port}`;
    const brokerProcess = await startTestBroker({ dataDir: join(dir, "broker"), namesrv: [nsAddress] });
    children.push(brokerProcess);
    brokerAddress = `127.0.0.1:${brokerProcess.port}`;
    const broker = await open(brokerAddress);
    expect((await broker.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: TOPIC, readQueueNums: 4, writeQueueNums: 4 })).code).toBe(ResponseCode.SUCCESS);
    user = await open(nsAddress);
    await until(async () => (await masterOf(user, TOPIC, "broker-a")) === brokerAddress, 10_000, "the real broker's route");
  }, 30_000);

  const fake = (overrides: Record<string, unknown> = {}) => ({
    clusterName: "DefaultCluster",
    brokerName: "broker-a",
    brokerAddr: "127.0.0.1:1",
    brokerId: 0,
    haServerAddr: "",
    topicConfigs: { [TOPIC]: { topicName: TOPIC, readQueueNums: 8, writeQueueNums: 8, perm: 6, order: false } },
    ...overrides,
  });

  test("a fake master cannot take over a broker's route: unsigned, another secret, or another account", async () => {
    const attacker = await open(nsAddress);
    const unsigned = await attacker.request(RequestCode.REGISTER_BROKER, fake());
    expect(unsigned.code).toBe(ResponseCode.NO_PERMISSION);
    expect(unsigned.remark).toBe("Broker registration must be signed with the cluster secret (cluster.secretFile)");
    const wrongSecret = new RequestSigner({ accessKey: CLUSTER_ACCESS_KEY, secretKey: "guessed-cluster-secret-000" });
    const guessed = await attacker.request(RequestCode.REGISTER_BROKER, await wrongSecret.sign(RequestCode.REGISTER_BROKER, fake()));
    expect(guessed.code).toBe(ResponseCode.NO_PERMISSION);
    expect(guessed.remark).toBe("Broker registration is signed with another cluster secret than this NameServer's");
    const account = new RequestSigner({ accessKey: "rocketmq-admin", secretKey: "change-me-admin-secret" });
    const asAccount = await attacker.request(RequestCode.REGISTER_BROKER, await account.sign(RequestCode.REGISTER_BROKER, fake()));
    expect(asAccount.code).toBe(ResponseCode.NO_PERMISSION);
    expect(asAccount.remark).toBe('Broker registration must be signed with the cluster secret (cluster.secretFile), not as account "rocketmq-admin"');
    expect(await masterOf(user, TOPIC, "broker-a")).toBe(brokerAddress);
    await until(() => nameServer.output().includes("Refused registration of broker"), 5000, "the NameServer's log line");
    expect(nameServer.output()).toMatch(/Refused registration of broker "broker-a" at "127\.0\.0\.1:1" from 127\.0\.0\.1:\d+: Broker registration must be signed/);
  });

  test("a fake broker cannot unregister the real one", async () => {
    const attacker = await open(nsAddress);
    const identity = { clusterName: "DefaultCluster", brokerName: "broker-a", brokerAddr: brokerAddress, brokerId: 0 };
    const answer = await attacker.request(RequestCode.UNREGISTER_BROKER, identity);
    expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
    expect(await masterOf(user, TOPIC, "broker-a")).toBe(brokerAddress);
    const cluster = await user.request(RequestCode.GET_BROKER_CLUSTER_INFO, {});
    expect(Object.keys(cluster.header.brokerLiveTable as object)).toEqual([brokerAddress]);
  });

  test("a registration signed with the secret is accepted once; the same signed request replayed is refused", async () => {
    const signer = new RequestSigner({ accessKey: CLUSTER_ACCESS_KEY, secretKey: TEST_CLUSTER_SECRET });
    const control = fake({ brokerName: "broker-z", brokerAddr: "127.0.0.1:2", topicConfigs: {} });
    const signed = await signer.sign(RequestCode.REGISTER_BROKER, control);
    const peer = await open(nsAddress);
    expect((await peer.request(RequestCode.REGISTER_BROKER, { ...signed })).code).toBe(ResponseCode.SUCCESS);
    const replayed = await (await open(nsAddress)).request(RequestCode.REGISTER_BROKER, { ...signed });
    expect(replayed.code).toBe(ResponseCode.NO_PERMISSION);
    expect(replayed.remark).toBe("Broker registration refused: Request was replayed");
    expect(await masterOf(user, TOPIC, "broker-a")).toBe(brokerAddress);
  });

  test("a broker without the secret, or with another one, is refused and says so in its log", async () => {
    const plain = await startTestBroker({
      dataDir: join(dir, "plain"),
      brokerName: "broker-p",
      namesrv: [nsAddress],
      clusterSecretFile: false,
    });
    children.push(plain);
    await plain.waitFor(`NameServer ${nsAddress} refused registration: Broker registration must be signed with the cluster secret (cluster.secretFile)`);
    const other = await startTestBroker({
      dataDir: join(dir, "other"),
      brokerName: "broker-o",
      namesrv: [nsAddress],
      clusterSecretFile: otherClusterSecretFile("another-cluster-secret-0123456789"),
    });
    children.push(other);
    await other.waitFor(`NameServer ${nsAddress} refused registration: Broker registration is signed with another cluster secret than this NameServer's`);
    const cluster = await user.request(RequestCode.GET_BROKER_CLUSTER_INFO, {});
    expect(Object.keys(cluster.header.brokerAddrTable as object)).not.toContain("broker-p");
    expect(Object.keys(cluster.header.brokerAddrTable as object)).not.toContain("broker-o");
  }, 30_000);
});

describe("an open NameServer", () => {
  test("beyond loopback without ACL or a secret it refuses to start; --allow-open-registration opens it with a loud warning; on loopback it warns", async () => {
    const refused = start(BUN, ["run", "server/nameserver.ts", "--host", "0.0.0.0", "--port", "0"]);
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toContain(
      "Broker registration would be open to anyone who reaches 0.0.0.0 (neither ACL nor a cluster secret is set), so any host could register a fake broker",
    );
    const opened = await startServer(BUN, ["run", "server/nameserver.ts", "--host", "0.0.0.0", "--port", "0", "--allow-open-registration"]);
    children.push(opened);
    expect(opened.output()).toContain("WARNING: broker registration is open to anyone who reaches 0.0.0.0:");
    const loopback = await startTestNameServer(0, false);
    children.push(loopback);
    expect(loopback.output()).toContain("Warning: broker registration is open (neither ACL nor a cluster secret is set)");
    const secured = await startTestNameServer(0, testClusterSecretFile());
    children.push(secured);
    expect(secured.output()).not.toContain("registration is open");
  }, 30_000);
});

describe("standalone's cluster secret", () => {
  test("is created in the data dir with mode 0600 on first start, kept on the next, and lets a separate broker join", async () => {
    const dataDir = join(dir, "standalone");
    const ready = /Standalone ready: NameServer [^\s,]*:(\d+)/;
    const args = ["run", "cli/bun.ts", "standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--no-admin", "--no-grpc", "--data-dir", dataDir];
    const first = await startServer(BUN, args, { ready });
    children.push(first);
    const file = join(dataDir, "cluster.secret");
    expect(first.output()).toContain(`Cluster secret created in ${file}`);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = readFileSync(file, "utf8").trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    await stop(first);

    const second = await startServer(BUN, args, { ready });
    children.push(second);
    const nsPort = second.port;
    expect(second.output()).toContain(`Cluster secret read from ${file}`);
    expect(readFileSync(file, "utf8").trim()).toBe(secret);
    const joiner = await startTestBroker({
      dataDir: join(dir, "joiner"),
      brokerName: "broker-j",
      namesrv: [`127.0.0.1:${nsPort}`],
      clusterSecretFile: file,
    });
    children.push(joiner);
    const ns = await open(`127.0.0.1:${nsPort}`);
    await until(async () => {
      const cluster = await ns.request(RequestCode.GET_BROKER_CLUSTER_INFO, {});
      return Object.keys(cluster.header.brokerAddrTable as object).includes("broker-j");
    }, 10_000, "the joining broker in the cluster");
    expect(joiner.output()).not.toContain("refused registration");
  }, 60_000);
});
