/**
 * What the `rmq` verbs share: the command shape, subcommand groups (`rmq topic list`), and the
 * flags every admin verb takes (`--server`, `--token`, `--access-key`, `--secret-key`, `--json`).
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { withCredentials } from "../client/_signer.ts";
import type { Credentials } from "../core/auth/signing.ts";
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

/** The flags naming the ACL account a verb acts as (admin and client verbs). */
export const CREDENTIAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "access-key": { description: "ACL account to act as when ACL is on (default: $RMQ_ACCESS_KEY); with --secret-key", valueName: "key" },
  "secret-key": { description: "Secret key of --access-key (default: $RMQ_SECRET_KEY)", valueName: "secret" },
};

/** Schema entries of `CREDENTIAL_FLAGS`. */
export const CREDENTIAL_ENTRIES = {
  accessKey: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  secretKey: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
};

/** The flags of every admin verb. */
export const ADMIN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  server: { description: "Admin API URL (default: $RMQ_ADMIN_URL, else http://127.0.0.1:8080)", valueName: "url", short: "s" },
  token: { description: "Bearer token for changes when ACL is off (default: $RMQ_ADMIN_TOKEN)", valueName: "token" },
  ...CREDENTIAL_FLAGS,
  json: { description: "Print JSON instead of a table", type: "boolean" },
};

/** Schema entries of `ADMIN_FLAGS`. */
export const ADMIN_ENTRIES = {
  server: v.optional(v.pipe(v.string(), v.url("expected a URL such as http://127.0.0.1:8080"))),
  token: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  ...CREDENTIAL_ENTRIES,
  json: v.optional(v.boolean(), false),
};

/**
 * The ACL account of `--access-key`/`--secret-key`, else `RMQ_ACCESS_KEY`/`RMQ_SECRET_KEY`.
 *
 * @param flags The parsed flags.
 * @returns The account, or undefined when neither key is given.
 * @throws {CliError} Exit 2 when only one of the two is given.
 */
export function credentials(flags: { accessKey?: string; secretKey?: string }): Credentials | undefined {
  const accessKey = flags.accessKey ?? (process.env.RMQ_ACCESS_KEY || undefined);
  const secretKey = flags.secretKey ?? (process.env.RMQ_SECRET_KEY || undefined);
  if (accessKey === undefined && secretKey === undefined) return undefined;
  if (accessKey === undefined) throw new CliError("--secret-key needs --access-key too (or RMQ_ACCESS_KEY)", ExitCode.USAGE);
  if (secretKey === undefined) throw new CliError("--access-key needs --secret-key too (or RMQ_SECRET_KEY)", ExitCode.USAGE);
  return { accessKey, secretKey };
}

/**
 * The dialer of a client verb: the runtime's, signing every request as the account of
 * `--access-key`/`--secret-key` when one is given.
 *
 * @param runtime The runtime.
 * @param flags The parsed flags.
 * @returns The dialer.
 * @throws {CliError} Exit 2 when only one of the two keys is given.
 */
export function clientDial(runtime: Runtime, flags: { accessKey?: string; secretKey?: string }): Dialer {
  const account = credentials(flags);
  return account === undefined ? runtime.dial : withCredentials(runtime.dial, account);
}

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
 * The admin client for a verb's `--server`, `--token`, `--access-key` and `--secret-key` flags (or
 * their environment variables).
 *
 * @param flags The parsed flags.
 * @returns The client.
 */
export function adminClient(flags: { server?: string; token?: string; accessKey?: string; secretKey?: string }): AdminClient {
  const server = flags.server ?? (process.env.RMQ_ADMIN_URL || "http://127.0.0.1:8080");
  if (!URL.canParse(server)) throw new CliError(`Invalid value "${server}" of RMQ_ADMIN_URL: expected a URL such as http://127.0.0.1:8080`, ExitCode.USAGE);
  const token = flags.token ?? (process.env.RMQ_ADMIN_TOKEN || undefined);
  const account = credentials(flags);
  return new AdminClient(server, { ...(token === undefined ? {} : { token }), ...(account === undefined ? {} : { credentials: account }) });
}

/** What a server with ACL on answers an unsigned request (`server/acl/acl_guard.ts`). */
const NOT_SIGNED = "Request is not signed";

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
  if (message.includes(NOT_SIGNED)) {
    const hint = "ACL is on and this request was not signed: pass --access-key and --secret-key (or set RMQ_ACCESS_KEY and RMQ_SECRET_KEY)";
    return new CliError(`${what}: ${hint}`, ExitCode.FAILED, { cause: error });
  }
  if (error instanceof ConnectionClosedError || error instanceof RequestTimeoutError) {
    return new CliError(`${what}: ${message}`, ExitCode.UNREACHABLE, { cause: error });
  }
  if (error instanceof ClientError && !/NameServer|route|no broker/i.test(message)) {
    return new CliError(`${what}: ${message}`, ExitCode.USAGE, { cause: error });
  }
  return new CliError(`${what}: ${message}`, ExitCode.FAILED, { cause: error });
}
