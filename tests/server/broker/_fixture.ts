/**
 * A broker on an in-memory network with raw connections, for the consumer-group tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "../../../core/protocol/command.ts";
import { RequestCode } from "../../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import { type Broker, type BrokerOptions, startBroker } from "../../../server/broker/broker.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";

const enc = new TextEncoder();

/** A raw client connection that records the requests the broker sends it. */
export interface Client {
  connection: Connection;
  /** Every request received, oldest first. */
  received: Command[];
  /** Resolves with the next received request of `code` (or one already received after `from`). */
  next(code: number, from?: number): Promise<Command>;
}

/** A broker in a temporary directory; `restart()` reopens it on the same data. */
export class BrokerFixture {
  readonly dir: string = mkdtempSync(join(tmpdir(), "rmq-cg-"));
  readonly net: MemoryNetwork = new MemoryNetwork();
  readonly logs: string[] = [];
  broker!: Broker;
  #options: Partial<BrokerOptions> = {};
  #clients: Connection[] = [];

  async start(options: Partial<BrokerOptions> = {}): Promise<Broker> {
    this.#options = options;
    this.broker = await startBroker({
      listen: this.net.listen,
      dial: this.net.dial,
      dataDir: this.dir,
      port: 0,
      commitLogSegmentSize: 256 * 1024,
      autoCreateTopicEnable: true,
      log: (line) => this.logs.push(line),
      ...options,
    });
    return this.broker;
  }

  async restart(): Promise<Broker> {
    await this.broker.close();
    return this.start(this.#options);
  }

  async client(): Promise<Client> {
    const received: Command[] = [];
    const waiters: { code: number; from: number; resolve: (c: Command) => void }[] = [];
    const connection = await connect(this.net.dial, `memory:${this.broker.port}`, {
      onRequest: (request) => {
        received.push(request);
        for (const waiter of waiters.splice(0)) {
          if (waiter.code === request.code) waiter.resolve(request);
          else waiters.push(waiter);
        }
      },
    });
    this.#clients.push(connection);
    return {
      connection,
      received,
      next(code, from = received.length) {
        const seen = received.slice(from).find((c) => c.code === code);
        if (seen !== undefined) return Promise.resolve(seen);
        return new Promise((resolve) => waiters.push({ code, from, resolve }));
      },
    };
  }

  async cleanup(): Promise<void> {
    for (const connection of this.#clients) connection.close();
    await this.broker?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sends one message. */
export function send(
  connection: Connection,
  topic: string,
  body: string,
  properties: Record<string, string> = {},
  extra: Record<string, unknown> = {},
): Promise<Command> {
  return connection.request(
    RequestCode.SEND_MESSAGE,
    { topic, queueId: 0, bornTimestamp: Date.now(), properties, ...extra },
    enc.encode(body),
  );
}

/** Pulls queue 0 (or `queueId`) from `queueOffset`; `suspendMs` > 0 long-polls. */
export function pull(
  connection: Connection,
  topic: string,
  queueOffset: number,
  options: { suspendMs?: number; queueId?: number; group?: string } = {},
): Promise<Command> {
  const suspend = options.suspendMs ?? 0;
  return connection.request(
    RequestCode.PULL_MESSAGE,
    {
      consumerGroup: options.group ?? "g",
      topic,
      queueId: options.queueId ?? 0,
      queueOffset,
      maxMsgNums: 32,
      sysFlag: suspend > 0 ? 0x2 : 0,
      suspendTimeoutMillis: suspend,
    },
    undefined,
    suspend + 5000,
  );
}

/** A heartbeat naming one consumer group. */
export function heartbeat(
  connection: Connection,
  clientId: string,
  group: string,
  subscriptions: { topic: string; expression: string }[] = [{ topic: "orders", expression: "*" }],
  messageModel: "CLUSTERING" | "BROADCASTING" = "CLUSTERING",
): Promise<Command> {
  return connection.request(RequestCode.HEART_BEAT, {
    clientId,
    runtime: "bun test",
    consumers: [{ group, consumeType: "PUSH", messageModel, subscriptions }],
  });
}

/** Polls `condition` every 5 ms until it holds (for effects only the broker observes). */
export async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
