/**
 * Failures of a broker's sub-components are logged at error or warn level, not info: real broker
 * processes with `--log-format json`, one registering with a NameServer that is not there, a slave
 * dialing a master that is not there, and one refusing connections past `maxConnectionsPerIp`.
 * `--log-level` drops the lines below it: at warn a broker prints its failures but not that it
 * listens, at debug it prints producers arriving, which the default info level leaves out.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";
import { startTestBroker } from "../faults/_common.ts";
import { startSlave } from "../ha/_ha.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-log-levels-"));
const children: Child[] = [];

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

/** The JSON log lines a process printed so far. */
function jsonLines(child: Child): Array<{ time: string; level: string; component: string; msg: string }> {
  return child.output().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

describe("log levels of failures", () => {
  test("a failed NameServer registration is an error line", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const broker = await startTestBroker({ dataDir: join(dir, "registrar"), namesrv: [nowhere], extraArgs: ["--log-format", "json"] });
    children.push(broker);
    await broker.waitFor(`Cannot register with NameServer ${nowhere}`, 10_000);
    const line = jsonLines(broker).find((l) => l.msg.startsWith(`Cannot register with NameServer ${nowhere}`));
    expect(line).toMatchObject({ level: "error", component: "broker" });
    expect(jsonLines(broker).find((l) => l.msg.includes("listening on"))?.level).toBe("info");
  }, 30_000);

  test("a slave that cannot connect to its master logs an error line", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const slave = await startSlave({
      dataDir: join(dir, "slave"),
      haMaster: nowhere,
      extraArgs: ["--log-format", "json"],
      waitFor: `Cannot connect to master ${nowhere} for replication`,
    });
    children.push(slave);
    expect(jsonLines(slave).find((l) => l.msg.startsWith(`Cannot connect to master ${nowhere}`))).toMatchObject({ level: "error", component: "broker" });
  }, 30_000);

  test("connections refused past maxConnectionsPerIp are a warn line", async () => {
    const broker = await startTestBroker({ dataDir: join(dir, "per-ip"), extraArgs: ["--log-format", "json", "--max-connections-per-ip", "1"] });
    children.push(broker);
    await crowd(broker, broker.port, 2, "Connection from 127.0.0.1 refused");
    expect(jsonLines(broker).find((l) => l.msg.startsWith("Connection from 127.0.0.1 refused"))?.level).toBe("warn");
  }, 30_000);
});

/** Opens `count` raw TCP connections to `port` and closes them once `child` printed `text`. */
async function crowd(child: Child, port: number, count: number, text: string): Promise<void> {
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < count; i++) {
      sockets.push(await new Promise<Socket>((resolve, reject) => {
        const socket = netConnect(port, "127.0.0.1", () => resolve(socket));
        socket.once("error", reject);
      }));
    }
    await child.waitFor(text, 10_000);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

/** Sends one heartbeat to the broker on `port` and returns its answer code. */
async function heartbeat(port: number, body: Record<string, unknown>): Promise<number> {
  const connection = await connect(dial, `127.0.0.1:${port}`);
  try {
    return (await connection.request(RequestCode.HEART_BEAT, { runtime: "bun test", ...body })).code;
  } finally {
    connection.close();
  }
}

const producer = (clientId: string) => ({ clientId, producerGroups: ["log-levels-group"] });

describe("--log-level", () => {
  test("warn keeps a broker's errors and warnings and drops its info lines", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const port = await freePort();
    // The "listening on" line is info, so the broker is known to be up by its registration error.
    const broker = start(BUN, [
      "run", "server/broker.ts", "--host", "127.0.0.1", "--port", String(port), "--data-dir", join(dir, "level-warn"),
      "--broker-name", "broker-a", "--namesrv", nowhere, "--max-connections-per-ip", "1",
      "--log-format", "json", "--log-level", "warn",
    ]);
    children.push(broker);
    await broker.waitFor(`Cannot register with NameServer ${nowhere}`, 20_000);
    await crowd(broker, port, 2, "Connection from 127.0.0.1 refused");
    const lines = jsonLines(broker);
    expect(lines.find((l) => l.msg.startsWith(`Cannot register with NameServer ${nowhere}`))?.level).toBe("error");
    expect(lines.find((l) => l.msg.startsWith("Connection from 127.0.0.1 refused"))?.level).toBe("warn");
    expect(lines.filter((l) => l.level !== "warn" && l.level !== "error")).toEqual([]);
    expect(broker.output()).not.toContain("listening on");
  }, 40_000);

  test("debug adds the chatter that info leaves out: a producer arriving", async () => {
    const quiet = await startTestBroker({ dataDir: join(dir, "level-info"), extraArgs: ["--log-format", "json"] });
    children.push(quiet);
    const chatty = await startTestBroker({ dataDir: join(dir, "level-debug"), extraArgs: ["--log-format", "json", "--log-level", "debug"] });
    children.push(chatty);
    expect(await heartbeat(chatty.port, producer("chatty-producer"))).toBe(ResponseCode.SUCCESS);
    await chatty.waitFor("chatty-producer", 10_000);
    expect(jsonLines(chatty).find((l) => l.msg.startsWith('Producer "chatty-producer" of group "log-levels-group" connected from'))?.level).toBe("debug");
    expect(await heartbeat(quiet.port, producer("quiet-producer"))).toBe(ResponseCode.SUCCESS);
    // A consumer joining is an info line on the same stdout, so it arrives after any line the producer got.
    const consumer = { clientId: "quiet-consumer", consumers: [{ group: "log-levels-group", consumeType: "PUSH", messageModel: "CLUSTERING", subscriptions: [] }] };
    expect(await heartbeat(quiet.port, consumer)).toBe(ResponseCode.SUCCESS);
    await quiet.waitFor("quiet-consumer", 10_000);
    expect(quiet.output()).not.toContain("quiet-producer");
    expect(jsonLines(quiet).filter((l) => l.level === "debug")).toEqual([]);
  }, 40_000);
});
