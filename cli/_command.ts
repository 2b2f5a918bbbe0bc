/**
 * What the `rmq` verbs share: the command shape, subcommand groups (`rmq topic list`), and the
 * flags every admin verb takes (`--server`, `--token`, `--json`).
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { ClientError, ConnectionClosedError, RequestTimeoutError } from "../core/errors.ts";
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import { type CommandSpec, type FlagSpec, parseFlags } from "../server/_flags.ts";
import type { Serve } from "../server/admin/serve_types.ts";
import { AdminClient } from "./_admin_client.ts";
import { CliError, ExitCode, write } from "./_output.ts";

/** What the runtime entry (`cli/bun.ts`, `cli/deno.ts`) supplies. */
export interface Runtime {
  listen: Listen;
  dial: Dialer;
  /** HTTP adapter for the admin app; loaded for the runtime when absent. */
  serve?: Serve;
}

/**
 * A command or subcommand. `run` resolves with an exit code for a verb that is done (the process
 * then exits), or with nothing for a server that keeps running until a signal.
 */
export interface Command {
  summary: string;
  run(args: string[], runtime: Runtime): Promise<number | void>;
}

/**
 * A command made of subcommands, such as `rmq topic list|create|…`.
 *
 * @param name The group's name (`topic`).
 * @param summary What the group is about.
 * @param subcommands The subcommands by name.
 * @returns The command.
 */
export function group(name: string, summary: string, subcommands: Record<string, Command>): Command {
  const usage = () => {
    const width = Math.max(...Object.keys(subcommands).map((s) => s.length)) + 4;
    const rows = Object.entries(subcommands).map(([sub, c]) => `  ${sub.padEnd(width)}${c.summary}`);
    return `Usage: rmq ${name} <subcommand> [flags]\n\n${summary}\n\nSubcommands:\n${rows.join("\n")}\n\nRun "rmq ${name} <subcommand> --help" for its flags.\n`;
  };
  return {
    summary,
    async run(args, runtime) {
      const [sub, ...rest] = args;
      if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
        await write(usage());
        return sub === undefined ? ExitCode.USAGE : ExitCode.OK;
      }
      const command = subcommands[sub];
      if (command === undefined) throw new CliError(`Unknown subcommand "${sub}" of "rmq ${name}"\n${usage()}`, ExitCode.USAGE);
      return command.run(rest, runtime);
    },
  };
}

/** The flags of every admin verb. */
export const ADMIN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  server: { description: "Admin API URL (default: $RMQ_ADMIN_URL, else http://127.0.0.1:8080)", valueName: "url", short: "s" },
  token: { description: "Bearer token for changes (default: $RMQ_ADMIN_TOKEN)", valueName: "token" },
  json: { description: "Print JSON instead of a table", type: "boolean" },
};

/** Schema entries of `ADMIN_FLAGS`. */
export const ADMIN_ENTRIES = {
  server: v.optional(v.pipe(v.string(), v.url("expected a URL such as http://127.0.0.1:8080"))),
  token: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  json: v.optional(v.boolean(), false),
};

/** The flags of every client verb (`send`, `consume`, `bench`). */
export const NAMESRV_FLAG: FlagSpec = {
  description: "NameServers, comma separated (default: $RMQ_NAMESRV_ADDR, else 127.0.0.1:9876)",
  valueName: "host:port,…",
  short: "n",
};

/** Schema of `NAMESRV_FLAG`. */
export const NamesrvEntry = v.optional(v.pipe(
  v.string(),
  v.transform((text) => text.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== "")),
  v.array(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port"))),
  v.minLength(1, "expected at least one host:port"),
));

/**
 * The NameServers a client verb uses.
 *
 * @param given The `--namesrv` value, if any.
 * @returns Addresses.
 */
export function nameServers(given: string[] | undefined): string[] {
  if (given !== undefined) return given;
  const env = process.env.RMQ_NAMESRV_ADDR;
  if (env !== undefined && env.trim() !== "") return env.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== "");
  return ["127.0.0.1:9876"];
}

/**
 * Parses a verb's flags: prints help and exits 0 on `--help`.
 *
 * @param spec The verb's flags.
 * @param args Its arguments.
 * @returns The values.
 * @throws {CliError} Exit 2, with the usage line, on a bad flag.
 */
export function parse<S extends v.GenericSchema>(spec: CommandSpec<S>, args: readonly string[]): v.InferOutput<S> {
  const result = parseFlags(spec, args);
  if (result.kind === "values") return result.values;
  if (result.kind === "error") throw new CliError(result.message, ExitCode.USAGE, { usage: spec.usage });
  process.stdout.write(result.text);
  process.exit(ExitCode.OK);
}

/**
 * The admin client for a verb's `--server` and `--token` flags (or their environment variables).
 *
 * @param flags The parsed flags.
 * @returns The client.
 */
export function adminClient(flags: { server?: string; token?: string }): AdminClient {
  const server = flags.server ?? (process.env.RMQ_ADMIN_URL || "http://127.0.0.1:8080");
  if (!URL.canParse(server)) throw new CliError(`Invalid value "${server}" of RMQ_ADMIN_URL: expected a URL such as http://127.0.0.1:8080`, ExitCode.USAGE);
  return new AdminClient(server, flags.token ?? (process.env.RMQ_ADMIN_TOKEN || undefined));
}

/**
 * Turns a client failure into the verb's exit: a server that cannot be reached exits 3, anything
 * the server refused exits 1, a bad argument the client caught exits 2.
 *
 * @param error What a `Producer` or `PullConsumer` threw.
 * @param what What was being done, for the message (`Cannot send to "orders"`).
 * @returns The error to throw.
 */
export function clientFailure(error: unknown, what: string): CliError {
  if (error instanceof CliError) return error;
  const message = (error as Error)?.message ?? String(error);
  if (error instanceof ConnectionClosedError || error instanceof RequestTimeoutError) {
    return new CliError(`${what}: ${message}`, ExitCode.UNREACHABLE, { cause: error });
  }
  if (error instanceof ClientError && !/NameServer|route|no broker/i.test(message)) {
    return new CliError(`${what}: ${message}`, ExitCode.USAGE, { cause: error });
  }
  return new CliError(`${what}: ${message}`, ExitCode.FAILED, { cause: error });
}
