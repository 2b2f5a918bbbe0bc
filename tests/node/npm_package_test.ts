/**
 * The npm package on Node: `npm run build:npm`, `npm pack`, an `npm install` of the tarball into a
 * fresh project, and a Node script that imports `rocketmq-ts` to send and pull against a standalone
 * server. The install is `--prefer-offline` (the cache serves what it holds, the registry the rest),
 * never cache-only: a normal install does not cache the registry metadata a cache-only one needs,
 * so that fails on a machine whose npm cache is empty.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rmq, startCliServer } from "../cli/_cli.ts";
import { ROOT } from "../_helpers/process.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-npm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

const SCRIPT = `
import { Producer, PullConsumer } from "rocketmq-ts";
import { PullConsumer as FromClient } from "rocketmq-ts/client";
const nameServer = process.argv[2];
if (FromClient !== PullConsumer) throw new Error("rocketmq-ts/client exports another PullConsumer");
const producer = new Producer({ nameServer });
await producer.start();
const sent = await producer.send({ topic: "node_pkg", keys: "k", body: "hello from node" });
const consumer = new PullConsumer({ nameServer, group: "node_pkg_reader" });
await consumer.start();
// A topic created by its first send reaches the NameServer with the broker's next registration.
let result;
for (let attempt = 0; result === undefined; attempt++) {
  try {
    result = await consumer.pull(sent.messageQueue, sent.queueOffset);
  } catch (error) {
    if (attempt > 50) throw error;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
console.log(JSON.stringify({ msgId: sent.msgId, status: result.status, body: new TextDecoder().decode(result.messages[0].body) }));
await consumer.shutdown();
await producer.shutdown();
`;

test("the packed tarball installs into a fresh project and works on Node", async () => {
  run("npm", ["run", "build:npm", "--silent"], ROOT);
  run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], ROOT);
  const tarball = readdirSync(dir).find((name) => name.endsWith(".tgz"));
  expect(tarball).toBe("rocketmq-ts-0.1.0.tgz");
  const listing = run("tar", ["-tzf", join(dir, tarball!)], dir);
  expect(listing).toContain("package/dist/npm/mod.js");
  expect(listing).toContain("package/dist/npm/mod.d.ts");
  // The edge and browser entries, with the edge entry's declarations.
  expect(listing).toContain("package/dist/edge/edge.js");
  expect(listing).toContain("package/dist/browser/rocketmq-ts.js");
  expect(listing).toContain("package/dist/npm/client/edge.d.ts");
  expect(listing).not.toContain("package/tests/");

  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, tarball!)], app);
  writeFileSync(join(app, "main.mjs"), SCRIPT);

  const server = await startCliServer();
  try {
    // Asynchronously: the server runs in this process.
    const node = await rmq([server.namesrv], {}, ["node", join(app, "main.mjs")]);
    expect(node.stderr).toBe("");
    const result = JSON.parse(node.stdout.trim());
    expect(result).toMatchObject({ status: "FOUND", body: "hello from node" });
    // The message the Node client sent is visible to the CLI.
    const got = await rmq(["msg", "get", "--id", result.msgId, "--json", "--server", server.adminUrl]);
    expect(JSON.parse(got.stdout).message.body).toBe("hello from node");
  } finally {
    await server.close();
  }
}, 60_000);
