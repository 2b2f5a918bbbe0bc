/**
 * The `rmq` command line: picks a subcommand and runs it with the runtime's adapters. Exit codes:
 * 0 done, 1 the server refused or failed the operation, 2 bad usage, 3 the server cannot be reached.
 *
 * @module
 */
import process from "node:process";
import type { Command, Runtime } from "./_command.ts";
import { CliError, exitCodeOf, ExitCode, printError, write } from "./_output.ts";
import { bench } from "./commands/bench.ts";
import { broker } from "./commands/broker.ts";
import { cluster } from "./commands/cluster.ts";
import { consume } from "./commands/consume.ts";
import { dlq } from "./commands/dlq.ts";
import { group } from "./commands/group.ts";
import { monitor } from "./commands/monitor.ts";
import { msg } from "./commands/msg.ts";
import { nameserver } from "./commands/nameserver.ts";
import { offset } from "./commands/offset.ts";
import { recall } from "./commands/recall.ts";
import { send } from "./commands/send.ts";
import { standalone } from "./commands/standalone.ts";
import { topic } from "./commands/topic.ts";
import { txn } from "./commands/txn.ts";
import { trace } from "./commands/trace.ts";

export type { Runtime } from "./_command.ts";

const COMMANDS: Record<string, Command> = {
  standalone,
  nameserver: nameserver,
  broker: broker,
  topic,
  cluster,
  group,
  offset,
  msg,
  dlq,
  txn,
  trace,
  send,
  recall,
  consume,
  monitor,
  bench,
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`);
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
    await write(usage());
    if (name === undefined) process.exit(ExitCode.USAGE);
    return;
  }
  // Under --json every failure, usage errors included, is printed as JSON.
  const json = rest.includes("--json");
  const command = COMMANDS[name];
  if (command === undefined) {
    await printError(new CliError(`Unknown command "${name}"`, ExitCode.USAGE, { usage: "rmq <command> [flags]" }), json);
    if (!json) process.stderr.write(`\n${usage()}`);
    process.exit(ExitCode.USAGE);
  }
  let code: number | void;
  try {
    code = await command.run(rest, runtime);
  } catch (error) {
    await printError(error, json);
    process.exit(exitCodeOf(error));
  }
  if (code !== undefined) process.exit(code);
}
