/**
 * The `rmq` command line: picks a subcommand and runs it with the runtime's adapters.
 *
 * @module
 */
import process from "node:process";
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import type { Serve } from "../server/admin/serve_types.ts";
import { standalone } from "./commands/standalone.ts";

const COMMANDS: Record<string, { summary: string; run: (args: string[], runtime: Runtime) => Promise<void> }> = {
  standalone: { summary: "Run a NameServer and a Broker in one process", run: standalone },
};

/** What the runtime entry (`cli/bun.ts`, `cli/deno.ts`) supplies. */
export interface Runtime {
  listen: Listen;
  dial: Dialer;
  /** HTTP adapter for the admin app; loaded for the runtime when absent. */
  serve?: Serve;
}

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`);
  return `Usage: rmq <command> [flags]\n\nCommands:\n${rows.join("\n")}\n\nRun "rmq <command> --help" for a command's flags.\n`;
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
    process.stdout.write(usage());
    return;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`Error: unknown command "${name}"\n${usage()}`);
    process.exit(2);
  }
  try {
    await command.run(rest, runtime);
  } catch (error) {
    process.stderr.write(`Error: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
