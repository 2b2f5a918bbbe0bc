/**
 * The flags of the server commands (`rmq standalone|broker|nameserver`, `server/*.ts`), derived
 * from `SETTINGS`: one flag per setting the command takes, with its doc line, its default on that
 * command and its config key in `--help`; and the layering of those flags over the `--config` file
 * and the `RMQ_*` environment.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import {
  type CommandName,
  type ConfigLayer,
  defaultOf,
  flagName,
  fromText,
  isSameAs,
  type LoadedConfig,
  loadConfigLayers,
  SETTING_LIST,
  type SettingEntry,
} from "./config.ts";
import { type CommandSpec, type FlagSpec, parseFlags } from "./_flags.ts";

/** What `--help` says a server command does. */
const SUMMARIES: Record<CommandName, string> = {
  standalone: "Runs a NameServer, a broker and the admin API in one process; topics are created on first send.",
  broker: "Runs a broker: stores messages and serves producers and consumers. Registers with every NameServer given.",
  nameserver: "Runs a NameServer: brokers register their topics with it, clients ask it where topics live.",
};

const CONFIG_FLAG: FlagSpec = { description: "YAML configuration file (config/config.yaml documents every key)", valueName: "file", short: "c" };

function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

function shownDefault(entry: SettingEntry, command: CommandName): string | undefined {
  const value = defaultOf(entry, command);
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  if (isSameAs(value)) {
    const source = SETTING_LIST.find((e) => e.path === value.sameAs)!;
    return `as --${flagName(source, command)}`;
  }
  return Array.isArray(value) ? value.join(",") : String(value);
}

function flagSchema(entry: SettingEntry): v.GenericSchema {
  const { kind, schema } = entry.setting;
  if (kind === "boolean") return v.optional(v.boolean());
  return v.optional(v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const parsed = fromText(kind, dataset.value);
      if ("error" in parsed) {
        addIssue({ message: parsed.error });
        return NEVER;
      }
      return parsed.value;
    }),
    schema,
  ));
}

/** A server command's flags, and the setting behind each. */
export interface ServerCommandSpec extends CommandSpec<v.GenericSchema> {
  /** The setting of each flag, by its camelCase name. */
  settings: ReadonlyMap<string, SettingEntry>;
}

/**
 * The flags of a server command.
 *
 * @param command The command.
 * @param usage Its usage line (`rmq broker [flags]`).
 * @returns `--config` and a flag for every setting the command takes.
 */
export function serverCommandSpec(command: CommandName, usage: string): ServerCommandSpec {
  const flags: Record<string, FlagSpec> = { config: CONFIG_FLAG };
  const entries: Record<string, v.GenericSchema> = { config: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))) };
  const settings = new Map<string, SettingEntry>();
  for (const entry of SETTING_LIST) {
    const name = flagName(entry, command);
    if (name === undefined) continue;
    const { kind, valueName, short, doc } = entry.setting;
    const shown = shownDefault(entry, command);
    flags[name] = {
      description: `${doc} [${entry.path}]`,
      ...(kind === "boolean" ? { type: "boolean" as const, negatable: true } : { valueName }),
      ...(shown === undefined ? {} : { default: shown }),
      ...(short === undefined ? {} : { short }),
    };
    entries[camelCase(name)] = flagSchema(entry);
    settings.set(camelCase(name), entry);
  }
  return {
    usage,
    summary: SUMMARIES[command],
    flags,
    schema: v.object(entries),
    settings,
    epilog: "Each flag sets the config key in brackets. Precedence, lowest first: defaults, the --config file,\n" +
      "RMQ_<SECTION>_<KEY> environment variables (RMQ_BROKER_FLUSH_MODE=sync), flags. docs/CONFIG.md lists every key.",
  };
}

/** The outcome of `parseServerArgs`. */
export type ServerArgs =
  | { kind: "config"; loaded: LoadedConfig }
  | { kind: "help"; text: string }
  /** A bad flag (exit 2). */
  | { kind: "usage"; message: string }
  /** A bad file, variable or value (exit 1). */
  | { kind: "error"; message: string };

/**
 * Reads a server command's flags and loads the configuration they layer over.
 *
 * @param command The command.
 * @param usage Its usage line.
 * @param args The arguments after the command.
 * @param env The environment. @default process.env
 * @returns The configuration, a help request, or what is wrong.
 */
export async function parseServerArgs(
  command: CommandName,
  usage: string,
  args: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Promise<ServerArgs> {
  const spec = serverCommandSpec(command, usage);
  const parsed = parseFlags(spec, args, { defaults: false });
  if (parsed.kind === "help") return parsed;
  if (parsed.kind === "error") return { kind: "usage", message: parsed.message };
  const values = parsed.values as Record<string, unknown>;
  const overrides: Record<string, Record<string, unknown>> = {};
  for (const [flag, entry] of spec.settings) {
    if (values[flag] !== undefined) (overrides[entry.section] ??= {})[entry.key] = values[flag];
  }
  const file = values.config as string | undefined;
  // The YAML parser is loaded only for a file: without one it is a tenth of the start-up.
  const parseYaml = file === undefined ? undefined : (await import("yaml")).parse;
  try {
    return { kind: "config", loaded: loadConfigLayers({ file, env, overrides: overrides as ConfigLayer, command }, parseYaml) };
  } catch (error) {
    return { kind: "error", message: (error as Error).message };
  }
}
