/**
 * The contract of every `rmq` verb (docs/CLI.md): exit 3 when the server cannot be reached, 2 for
 * bad usage, 1 when the server refuses; under `--json` every error is one JSON object on stderr;
 * errors name flags, not API fields; and one rule for which topics a view shows.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PushConsumer } from "../../client/push_consumer.ts";
import { dial } from "../../client/bun/connect.ts";
import { freePort } from "../_helpers/process.ts";
import { msg } from "../server/store/_store_helpers.ts";
import { type CliServer, rmq, startCliServer } from "./_cli.ts";

let server: CliServer;
let down: string;
let downAdmin: string[];
let downNamesrv: string[];
beforeAll(async () => {
  server = await startCliServer();
  down = `127.0.0.1:${await freePort()}`;
  downAdmin = ["--server", `http://${down}`];
  downNamesrv = ["--namesrv", down];
});
afterAll(() => server.close());

const ID = "7F00000100002A9F0000000000000000";

/** Every verb, with the arguments it needs to reach the server. */
const ADMIN_VERBS = [
  ["topic", "list"], ["topic", "create", "-t", "x"], ["topic", "delete", "-t", "x"], ["topic", "route", "-t", "x"], ["topic", "status", "-t", "x"],
  ["cluster", "list"], ["cluster", "switch-master", "-g", "broker-a"], ["topic", "update", "-t", "x", "-c", "c1"], ["group", "list"], ["group", "progress", "-g", "g"], ["offset", "reset", "-g", "g", "-t", "x", "--to", "earliest"],
  ["msg", "get", "--id", ID], ["msg", "query-key", "-t", "x", "-k", "k"], ["msg", "browse", "-t", "x"],
  ["dlq", "list", "-g", "g"], ["dlq", "resend", "-g", "g", "--all"], ["monitor", "--iterations", "1"],
];
const CLIENT_VERBS = [["send", "-t", "x", "-b", "y", "--timeout-ms", "1500"], ["consume", "-t", "x", "--count", "1"], ["bench", "--count", "10", "--modes", "sync"]];

describe("a server that cannot be reached", () => {
  test("every verb exits 3, with a message on stderr, or one JSON error under --json", async () => {
    const runs = await Promise.all([
      ...ADMIN_VERBS.map((verb) => rmq([...verb, ...downAdmin])),
      ...CLIENT_VERBS.map((verb) => rmq([...verb, ...downNamesrv])),
    ]);
    const jsonRuns = await Promise.all([
      ...ADMIN_VERBS.map((verb) => rmq([...verb, ...downAdmin, "--json"])),
      ...CLIENT_VERBS.map((verb) => rmq([...verb, ...downNamesrv, "--json"])),
    ]);
    const verbs = [...ADMIN_VERBS, ...CLIENT_VERBS];
    verbs.forEach((verb, i) => {
      const name = verb.slice(0, 2).join(" ");
      expect({ name, code: runs[i]!.code }).toEqual({ name, code: 3 });
      expect({ name, stderr: runs[i]!.stderr.startsWith("Error: Cannot") }).toEqual({ name, stderr: true });
      const json = jsonRuns[i]!;
      expect({ name, code: json.code }).toEqual({ name, code: 3 });
      const lines = json.stderr.trimEnd().split("\n");
      expect({ name, lines: lines.length }).toEqual({ name, lines: 1 });
      expect(JSON.parse(lines[0]!)).toMatchObject({ error: { exitCode: 3, message: expect.stringContaining(down) } });
    });
    // monitor --json also says it on stdout, one snapshot per refresh.
    const monitor = jsonRuns[ADMIN_VERBS.findIndex((v) => v[0] === "monitor")]!;
    expect(JSON.parse(monitor.stdout.trim())).toMatchObject({ error: { exitCode: 3 } });
  }, 90_000);
});

describe("usage errors", () => {
  test("exit 2; under --json they are JSON too, with the usage line", async () => {
    const [text, json, unknown, unknownJson, badValue] = await Promise.all([
      rmq(["topic", "create", "--server", server.adminUrl]),
      rmq(["topic", "create", "--json", "--server", server.adminUrl]),
      rmq(["frobnicate"]),
      rmq(["frobnicate", "--json"]),
      rmq(["send", "-t", "x", "-b", "y", "--timeout-ms", "soon", "--json"]),
    ]);
    expect(text.code).toBe(2);
    expect(text.stderr).toBe("Error: Flag --topic is required\nUsage: rmq topic create --topic <topic> [flags]\nRun with --help to see every flag.\n");
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({ error: { message: "Flag --topic is required", exitCode: 2, usage: "rmq topic create --topic <topic> [flags]" } });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toStartWith('Error: Unknown command "frobnicate"');
    expect(unknownJson.code).toBe(2);
    expect(JSON.parse(unknownJson.stderr)).toMatchObject({ error: { message: 'Unknown command "frobnicate"', exitCode: 2 } });
    expect(badValue.code).toBe(2);
    expect(JSON.parse(badValue.stderr)).toMatchObject({ error: { exitCode: 2, message: expect.stringContaining("--timeout-ms") } });
  }, 30_000);
});

describe("a refusal", () => {
  test("exits 1 with the server's message; as JSON with its HTTP status; and it names the flag that overrides it", async () => {
    expect((await rmq(["send", "-t", "held", "-b", "x", "-n", server.namesrv])).code).toBe(0);
    const consumer = new PushConsumer({ nameServer: server.namesrv, group: "holders", dial });
    consumer.subscribe("held", "*");
    consumer.onMessage(() => "SUCCESS");
    await consumer.start();
    try {
      const deadline = Date.now() + 10_000;
      let refused;
      do {
        refused = await rmq(["offset", "reset", "-g", "holders", "-t", "held", "--to", "earliest", "--server", server.adminUrl]);
      } while (refused.code === 0 && Date.now() < deadline); // until the broker has heard from the member
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("online member(s)");
      expect(refused.stderr).toContain("pass --force");
      expect(refused.stderr).not.toContain('"force"');
      const json = await rmq(["offset", "reset", "-g", "holders", "-t", "held", "--to", "earliest", "--json", "--server", server.adminUrl]);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stderr)).toMatchObject({ error: { exitCode: 1, httpStatus: 409, message: expect.stringContaining("pass --force") } });
      const forced = await rmq(["offset", "reset", "-g", "holders", "-t", "held", "--to", "earliest", "--force", "--server", server.adminUrl]);
      expect(forced.code).toBe(0);
    } finally {
      await consumer.shutdown();
    }
  }, 30_000);
});

describe("which topics a view shows", () => {
  test("topic list and monitor hide retry, dead-letter and system topics unless --all", async () => {
    for (const topic of ["%RETRY%viewers", "%DLQ%viewers", "visible"]) {
      const put = await server.system.broker.context.store.putMessage(msg(topic));
      expect(put.status).toBe("PUT_OK");
    }
    const names = (run: { stdout: string }, pick: (parsed: any) => Array<{ topic: string }>) => pick(JSON.parse(run.stdout)).map((t) => t.topic);
    const admin = ["--server", server.adminUrl, "--json"];
    const [list, listAll, monitor, monitorAll, table] = await Promise.all([
      rmq(["topic", "list", ...admin]),
      rmq(["topic", "list", "--all", ...admin]),
      rmq(["monitor", "--iterations", "1", ...admin]),
      rmq(["monitor", "--iterations", "1", "--all", ...admin]),
      rmq(["topic", "list", "--server", server.adminUrl]),
    ]);
    for (const shown of [names(list, (p) => p.topics), names(monitor, (p) => p.topics)]) {
      expect(shown).toContain("visible");
      expect(shown.filter((t) => t.startsWith("%") || t === "TBW102")).toEqual([]);
    }
    for (const shown of [names(listAll, (p) => p.topics), names(monitorAll, (p) => p.topics)]) {
      expect(shown).toEqual(expect.arrayContaining(["visible", "%RETRY%viewers", "%DLQ%viewers", "TBW102"]));
    }
    expect(table.stdout).not.toContain("%DLQ%");
  }, 30_000);
});
