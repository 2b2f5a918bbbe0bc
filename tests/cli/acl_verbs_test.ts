/**
 * `rmq` verbs against a real `rmq standalone --acl` process: without an account the admin verbs
 * and the client verbs fail (exit 1) with a message naming the flags to pass; with
 * `--access-key`/`--secret-key` (or `RMQ_ACCESS_KEY`/`RMQ_SECRET_KEY`) they work — admin verbs send
 * the account as Basic credentials, `send` and `consume` sign their wire requests with it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AclStandalone, startAclStandalone } from "../security/_acl_standalone.ts";
import { rmq } from "./_cli.ts";

const ADMIN = { accessKey: "cli-admin", secretKey: "cli-admin-secret-0123", admin: true };
const APP = { accessKey: "cli-app", secretKey: "cli-app-secret-0123", topicPerms: ["acl_orders=PUB|SUB"], groupPerms: ["acl_tail=SUB"] };
const ACL_ON = "has ACL on: pass --access-key and --secret-key (or set RMQ_ACCESS_KEY and RMQ_SECRET_KEY)";
const NOT_SIGNED = "ACL is on and this request was not signed: pass --access-key and --secret-key (or set RMQ_ACCESS_KEY and RMQ_SECRET_KEY)";

let server: AclStandalone;

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, APP]);
}, 40_000);

afterAll(async () => {
  await server?.close();
});

const as = (account: { accessKey: string; secretKey: string }) => ["--access-key", account.accessKey, "--secret-key", account.secretKey];

describe("rmq verbs with ACL on", () => {
  test("topic create and topic list: refused without an account, naming the flags; done with one (flags or environment)", async () => {
    const create = ["topic", "create", "-t", "acl_orders", "--queues", "2", "--server", server.adminUrl];
    const refused = await rmq(create);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Error: The admin API at ${server.adminUrl} ${ACL_ON} (HTTP 401 UNAUTHORIZED)`);

    const wrong = await rmq([...create, ...as({ accessKey: ADMIN.accessKey, secretKey: "not-the-secret" })]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("The access key or secret key is wrong (HTTP 401 UNAUTHORIZED)");

    // An account without the admin right may not create topics.
    const app = await rmq([...create, ...as(APP)]);
    expect(app.code).toBe(1);
    expect(app.stderr).toContain(`Account "${APP.accessKey}" may not make this change: it needs the admin right`);

    const created = await rmq([...create, ...as(ADMIN), "--json"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).created).toBe(true);

    const list = ["topic", "list", "--server", server.adminUrl, "--json"];
    const unlisted = await rmq(list);
    expect(unlisted.code).toBe(1);
    expect(JSON.parse(unlisted.stderr).error).toEqual({ message: `The admin API at ${server.adminUrl} ${ACL_ON} (HTTP 401 UNAUTHORIZED)`, exitCode: 1, httpStatus: 401 });
    const listed = await rmq(list, { RMQ_ACCESS_KEY: APP.accessKey, RMQ_SECRET_KEY: APP.secretKey });
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout).topics as Array<{ topic: string }>).map((t) => t.topic)).toContain("acl_orders");

    const half = await rmq(["topic", "list", "--server", server.adminUrl, "--access-key", APP.accessKey]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--access-key needs --secret-key too (or RMQ_SECRET_KEY)");
  }, 60_000);

  test("send and consume: refused unsigned, naming the flags; signed with the account they go through", async () => {
    const namesrv = ["--namesrv", server.nameServer];
    const unsigned = await rmq(["send", "-t", "acl_orders", "-b", "nobody", ...namesrv, "--timeout-ms", "5000"]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain(NOT_SIGNED);

    const sent = await rmq(["send", "-t", "acl_orders", "-b", "hello with an account", ...namesrv, ...as(APP), "--json"]);
    expect(sent.stderr).toBe("");
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout).status).toBe("SEND_OK");

    const consume = ["consume", "-t", "acl_orders", "-g", "acl_tail", "--from", "earliest", "--count", "1", ...namesrv, "--json"];
    const tailUnsigned = await rmq(consume);
    expect(tailUnsigned.code).toBe(1);
    expect(tailUnsigned.stderr).toContain(NOT_SIGNED);
    const tailed = await rmq(consume, { RMQ_ACCESS_KEY: APP.accessKey, RMQ_SECRET_KEY: APP.secretKey });
    expect(tailed.code).toBe(0);
    expect(JSON.parse(tailed.stdout.trim().split("\n")[0]!).body).toBe("hello with an account");
  }, 60_000);
});
