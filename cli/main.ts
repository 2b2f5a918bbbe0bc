/**
 * The `rmq` command line: picks a subcommand and runs it with the runtime's adapters. Exit codes:
 * 0 done, 1 the server refused or failed the operation, 2 bad usage, 3 the server cannot be reached.
 *
 * @module
 */
import process from "node:process";
import type { Command, Runtime } from "./_command.ts";
import { CliError, exitCodeOf, ExitCode, printError, write } from "./_output.ts";

export type { Runtime } from "./_command.ts";

/** Each command's module, loaded when it runs: a server need not load the client verbs, nor they the servers. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  standalone: async () => (await import("./commands/standalone.ts")).standalone,
  nameserver: async () => (await import("./commands/nameserver.ts")).nameserver,
  broker: async () => (await import("./commands/broker.ts")).broker,
  topic: async () => (await import("./commands/topic.ts")).topic,
  cluster: async () => (await import("./commands/cluster.ts")).cluster,
  group: async () => (await import("./commands/group.ts")).group,
  offset: async () => (await import("./commands/offset.ts")).offset,
  msg: async () => (await import("./commands/msg.ts")).msg,
  dlq: async () => (await import("./commands/dlq.ts")).dlq,
  txn: async () => (await import("./commands/txn.ts")).txn,
  trace: async () => (await import("./commands/trace.ts")).trace,
  send: async () => (await import("./commands/send.ts")).send,
  recall: async () => (await import("./commands/recall.ts")).recall,
  consume: async () => (await import("./commands/consume.ts")).consume,
  monitor: async () => (await import("./commands/monitor.ts")).monitor,
  bench: async () => (await import("./commands/bench.ts")).bench,
};

async function usage(): Promise<string> {
  const rows = await Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => `  ${name.padEnd(14)}${(await load()).summary}`));
  return `Usage: rmq <command> [flags]\n\nCommands:\n${rows.join("\n")}\n\n` +
    `Admin commands call the admin API at --server (or $RMQ_ADMIN_URL, default http://127.0.0.1:8080);\n` +
    `client commands use --namesrv (or $RMQ_NAMESRV_ADDR, default 127.0.0.1:9876).\n` +
    `Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 cannot connect.\n\n` +
    `Run "rmq <command> --help" for a command's flags.\n`;
}

/**
 * Runs the command line.
 *
 * @param argv Arguments after the program name.
 * @param runtime The runtime's adapters.
 */
export async function main(argv: string[], runtime: Runtime): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    await write(await usage());
    if (name === undefined) process.exit(ExitCode.USAGE);
    return;
  }
  // Under --json every failure, usage errors included, is printed as JSON.
  const json = rest.includes("--json");
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (load === undefined) {
    await printError(new CliError(`Unknown command "${name}"`, ExitCode.USAGE, { usage: "rmq <command> [flags]" }), json);
    if (!json) process.stderr.write(`\n${await usage()}`);
    process.exit(ExitCode.USAGE);
  }
  let code: number | void;
  try {
    code = await (await load()).run(rest, runtime);
  } catch (error) {
    await printError(error, json);
    process.exit(exitCodeOf(error));
  }
  if (code !== undefined) process.exit(code);
}
