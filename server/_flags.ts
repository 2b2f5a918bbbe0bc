/**
 * Command-line flags of the `rmq` verbs and the server commands: declared once with descriptions
 * and defaults, read with `parseArgs` from `node:util`, validated with a valibot schema, with
 * `--help` text and clear errors.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as v from "valibot";

/** One flag of a command. Its name (the key in `CommandSpec.flags`) is kebab-case, without dashes. */
export interface FlagSpec {
  /** What the flag does, for `--help`. */
  description: string;
  /** A "string" flag takes a value; a "boolean" flag does not. @default "string" */
  type?: "string" | "boolean";
  /** The value when the flag is absent; shown in `--help`. */
  default?: string;
  /** The placeholder of the value in `--help`. @default "value" */
  valueName?: string;
  /** A one-letter alias (`p` for `-p`). */
  short?: string;
  /** A boolean flag that also has a `--no-<name>` form, which gives false. @default false */
  negatable?: boolean;
}

/** A command's flags and how to check them. */
export interface CommandSpec<S extends v.GenericSchema> {
  /** The usage line after "Usage: ", e.g. `bun run server/nameserver.ts [options]`. */
  usage: string;
  /** A sentence or two on what the command does. */
  summary: string;
  /** The flags by kebab-case name. `help` (`-h`) is added. */
  flags: Readonly<Record<string, FlagSpec>>;
  /** Text printed after the flags in `--help`. */
  epilog?: string;
  /**
   * Validates the flags, given as an object keyed by the camelCase flag names (`broker-expiry-ms` →
   * `brokerExpiryMs`) with string values (booleans for boolean flags, absent when unset without a
   * default).
   */
  schema: S;
}

/** Options of `parseFlags`. */
export interface ParseFlagsOptions {
  /**
   * Fill absent flags with their `default`. Commands that layer flags over a config file turn this
   * off, so that only the flags actually given override the file (their schemas make every flag
   * optional). @default true
   */
  defaults?: boolean;
}

/** The outcome of `parseFlags`. */
export type FlagsResult<T> =
  | { kind: "values"; values: T }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string };

const HELP_FLAG: FlagSpec = { description: "Show this help and exit", type: "boolean", short: "h" };

/**
 * A flag value that is a whole number within bounds, parsed from its text.
 *
 * @param min The smallest value allowed.
 * @param max The largest value allowed.
 * @returns A schema from string to number.
 */
export function integerFlag(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return v.pipe(
    v.string(),
    v.regex(/^-?\d+$/, "expected a whole number"),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );
}

/** A TCP port; 0 lets the system pick one. */
export const PortFlag = integerFlag(0, 65535);

/** A host name or IP address to bind. */
export const HostFlag = v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"));

/**
 * Reads and validates flags. Never exits or prints.
 *
 * @param spec The command's flags and schema.
 * @param args The arguments after the script name.
 * @param options Whether defaults are filled in.
 * @returns The validated values, a help request, or an error naming the flag.
 *
 * @example Reading a port
 * ```ts
 * import * as v from "valibot";
 * import { parseFlags, PortFlag } from "./_flags.ts";
 *
 * const spec = {
 *   usage: "serve [options]",
 *   summary: "Serves things.",
 *   flags: { port: { description: "Port to listen on", default: "8080", valueName: "port" } },
 *   schema: v.object({ port: PortFlag }),
 * };
 * const result = parseFlags(spec, ["--port", "9000"]);
 * if (result.kind === "values") console.log(result.values.port); // 9000
 * ```
 */
export function parseFlags<S extends v.GenericSchema>(
  spec: CommandSpec<S>,
  args: readonly string[],
  options: ParseFlagsOptions = {},
): FlagsResult<v.InferOutput<S>> {
  const { defaults = true } = options;
  const flags = allFlags(spec);
  const parseOptions: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [name, flag] of Object.entries(flags)) {
    parseOptions[name] = { type: flag.type ?? "string", ...(flag.short === undefined ? {} : { short: flag.short }) };
    if (flag.negatable === true) parseOptions[`no-${name}`] = { type: "boolean" };
  }
  // Non-strict with tokens, so that errors are worded here, the same on every runtime.
  const { tokens } = parseArgs({ args: [...args], options: parseOptions, strict: false, allowPositionals: true, tokens: true });

  if (tokens.some((token) => token.kind === "option" && token.name === "help")) {
    return { kind: "help", text: helpText(spec) };
  }

  const raw: Record<string, string | boolean> = {};
  for (const token of tokens) {
    if (token.kind === "positional") return { kind: "error", message: `Unexpected argument "${token.value}"` };
    if (token.kind === "option-terminator") continue;
    const negated = token.name.startsWith("no-") && flags[token.name.slice(3)]?.negatable === true && token.rawName.startsWith("--");
    if (negated) {
      if (token.value !== undefined) return { kind: "error", message: `Flag --${token.name} takes no value` };
      raw[token.name.slice(3)] = false;
      continue;
    }
    const flag = flags[token.name];
    const viaShort = !token.rawName.startsWith("--");
    if (flag === undefined || (viaShort && flag.short !== token.rawName.slice(1))) {
      return { kind: "error", message: `Unknown flag "${token.rawName}"` };
    }
    if ((flag.type ?? "string") === "boolean") {
      if (token.value !== undefined) return { kind: "error", message: `Flag --${token.name} takes no value` };
      raw[token.name] = true;
    } else {
      if (token.value === undefined) return { kind: "error", message: `Flag --${token.name} needs a value` };
      raw[token.name] = token.value;
    }
  }

  const input: Record<string, string | boolean> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    const value = raw[name] ?? (defaults ? flag.default : undefined);
    if (value !== undefined) input[camelCase(name)] = value;
  }
  const result = v.safeParse(spec.schema, input);
  if (result.success) return { kind: "values", values: result.output };
  const issue = result.issues[0];
  const key = v.getDotPath(issue);
  const name = key === null ? undefined : Object.keys(spec.flags).find((flag) => camelCase(flag) === key.split(".")[0]);
  if (name === undefined) return { kind: "error", message: `Invalid flags: ${issue.message}` };
  const given = input[camelCase(name)];
  return {
    kind: "error",
    message: given === undefined ? `Flag --${name} is required` : `Invalid value "${String(given)}" for --${name}: ${issue.message}`,
  };
}

/**
 * The `--help` text of a command.
 *
 * @param spec The command.
 * @returns Usage, summary and one line per flag, ending in a newline.
 */
export function helpText<S extends v.GenericSchema>(spec: CommandSpec<S>): string {
  const rows = Object.entries(allFlags(spec)).map(([name, flag]) => {
    const short = flag.short === undefined ? "    " : `-${flag.short}, `;
    const value = (flag.type ?? "string") === "string" ? ` <${flag.valueName ?? "value"}>` : "";
    const dashes = flag.negatable === true ? "--[no-]" : "--";
    const suffix = flag.default === undefined ? "" : ` (default: ${flag.default})`;
    return [`${short}${dashes}${name}${value}`, `${flag.description}${suffix}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`);
  return `Usage: ${spec.usage}\n\n${spec.summary}\n\nFlags:\n${lines.join("\n")}\n${spec.epilog === undefined ? "" : `\n${spec.epilog}\n`}`;
}

function allFlags<S extends v.GenericSchema>(spec: CommandSpec<S>): Record<string, FlagSpec> {
  return { ...spec.flags, help: HELP_FLAG };
}

function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}
