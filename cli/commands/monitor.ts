/**
 * `rmq monitor`: a live terminal view of the cluster, redrawn in place every `--interval` seconds:
 * brokers with their TPS, topics with message counts, consumer groups with lag. `q` or Ctrl-C
 * quits and restores the terminal.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { integerFlag } from "../../server/_flags.ts";
import type { AdminClient } from "../_admin_client.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, type Command, parse } from "../_command.ts";
import { clip, errorJson, formatTime, table, write } from "../_output.ts";
import { BROKER_COLUMNS, type ClusterView } from "./cluster.ts";
import { GROUP_COLUMNS, type GroupSummary } from "./group.ts";
import { ALL_TOPICS_FLAG, shownTopics } from "./topic.ts";

const spec = {
  usage: "rmq monitor [flags]",
  summary: "Shows brokers (TPS in/out, store), topics (messages) and consumer groups (lag), refreshed in place. Press q or Ctrl-C to quit.",
  flags: {
    interval: { description: "Seconds between refreshes", default: "1", valueName: "s", short: "i" },
    iterations: { description: "Stop after this many refreshes and exit with the last one's code: 0, or 3/1 when it failed (default: until q or Ctrl-C)", valueName: "n" },
    all: { description: ALL_TOPICS_FLAG.description, type: "boolean" as const },
    ...ADMIN_FLAGS,
  },
  schema: v.object({
    interval: v.pipe(v.string(), v.regex(/^\d+(\.\d+)?$/, "expected seconds, e.g. 1 or 0.5"), v.transform(Number), v.minValue(0.1, "must be at least 0.1")),
    iterations: v.optional(integerFlag(1)),
    all: v.optional(v.boolean(), false),
    ...ADMIN_ENTRIES,
  }),
};

interface TopicRow {
  topic: string;
  kind: string;
  queues: number;
  messages: number;
  maxOffset: number;
  /** Over the broker's trailing window; null from a NameServer-only admin API. */
  tps: { in: number; out: number } | null;
}

/** One reading of the cluster. */
interface Snapshot {
  at: number;
  cluster: ClusterView;
  topics: TopicRow[];
  groups: GroupSummary[];
}

async function snapshot(client: AdminClient, all: boolean): Promise<Snapshot> {
  const [cluster, topics, groups] = await Promise.all([
    client.get<ClusterView>("/api/cluster"),
    client.get<{ topics: TopicRow[] }>("/api/topics"),
    client.get<{ groups: GroupSummary[] }>("/api/groups").catch(() => ({ groups: [] })),
  ]);
  return {
    at: Date.now(),
    cluster,
    topics: shownTopics(topics.topics, all),
    groups: groups.groups,
  };
}

function render(server: string, current: Snapshot | undefined, error: string | undefined, rows: number): string {
  const out: string[] = [`rmq monitor  ${server}  ${formatTime(Date.now())}  (q or Ctrl-C quits)`, ""];
  if (error !== undefined) out.push(`! ${error}`, "");
  if (current !== undefined) {
    const { cluster } = current;
    out.push(`Brokers (${cluster.brokers.length})  version ${cluster.version}` + (cluster.nameServer === null ? "" : `  NameServer :${cluster.nameServer.port}, ${cluster.nameServer.topics} routed topics`));
    out.push(table(BROKER_COLUMNS, cluster.brokers).trimEnd(), "");
    const room = Math.max(3, Math.floor((rows - 12 - cluster.brokers.length) / 2));
    const topics = current.topics.slice(0, room);
    out.push(`Topics (${current.topics.length})`);
    out.push(table([
      { header: "TOPIC", cell: (t: TopicRow) => clip(t.topic, 40) },
      { header: "QUEUES", cell: (t: TopicRow) => t.queues, right: true },
      { header: "MESSAGES", cell: (t: TopicRow) => t.messages, right: true },
      { header: "WRITTEN", cell: (t: TopicRow) => t.maxOffset, right: true },
      { header: "IN/S", cell: (t: TopicRow) => t.tps?.in ?? "-", right: true },
    ], topics).trimEnd());
    if (current.topics.length > topics.length) out.push(`… ${current.topics.length - topics.length} more`);
    out.push("", `Consumer groups (${current.groups.length})`);
    out.push(table(GROUP_COLUMNS, current.groups.slice(0, room)).trimEnd());
    if (current.groups.length > room) out.push(`… ${current.groups.length - room} more`);
  }
  return out.join("\n") + "\n";
}

/** `rmq monitor`. */
export const monitor: Command = {
  summary: "Live view of brokers, topics and consumer lag",
  async run(args) {
    const flags = parse(spec, args);
    const client = adminClient(flags);
    const interactive = process.stdout.isTTY === true && !flags.json;
    const stdin = process.stdin;
    let quit: () => void = () => {};
    const quitting = new Promise<void>((resolve) => (quit = resolve));
    let done = false;
    const finish = () => {
      done = true;
      quit();
    };
    const onKey = (chunk: Buffer | string) => {
      const key = typeof chunk === "string" ? chunk : chunk.toString("utf8");
      if (key === "q" || key === "Q" || key.includes("\x03") || key === "\x1b") finish();
    };
    process.on("SIGINT", finish);
    process.on("SIGTERM", finish);
    if (interactive) {
      process.stdout.write("\x1b[?1049h\x1b[?25l");
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.resume();
      stdin.on("data", onKey);
    }
    let current: Snapshot | undefined;
    let iterations = 0;
    let failure: unknown;
    try {
      while (!done) {
        failure = undefined;
        try {
          current = await snapshot(client, flags.all);
        } catch (e) {
          failure = e;
        }
        if (done) break;
        if (flags.json) {
          await write(JSON.stringify(failure === undefined ? current : { at: Date.now(), ...errorJson(failure) }) + "\n");
        } else {
          const error = failure === undefined ? undefined : (failure as Error).message;
          const frame = render(client.base, current, error, process.stdout.rows ?? 40);
          await write(interactive ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
        }
        if (flags.iterations !== undefined && ++iterations >= flags.iterations) {
          if (failure !== undefined) throw failure;
          return 0;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([quitting, new Promise<void>((resolve) => (timer = setTimeout(resolve, flags.interval * 1000)))]);
        clearTimeout(timer);
      }
    } finally {
      process.off("SIGINT", finish);
      process.off("SIGTERM", finish);
      if (interactive) {
        stdin.off("data", onKey);
        if (stdin.isTTY) stdin.setRawMode(false);
        stdin.pause();
        await write("\x1b[?25h\x1b[?1049l");
      }
    }
    return 0;
  },
};
