/**
 * `config/config.yaml`, `docs/CONFIG.md` and `server/config_types.ts`, generated from `SETTINGS`
 * (`npm run gen:config` writes them; `tests/server/config_test.ts` fails while the files differ
 * from these texts).
 *
 * @module
 */
import { stringify } from "yaml";
import { type CommandName, COMMANDS, commandsOf, envName, flagName, isSameAs, SETTING_LIST, type SettingEntry, SETTINGS } from "./config.ts";

function yamlValue(value: unknown): string {
  if (Array.isArray(value)) return JSON.stringify(value);
  return stringify(value).trimEnd();
}

/** "(standalone: true)", "(broker: ./data/broker)", for defaults that differ by command. */
function commandDefaults(entry: SettingEntry, render: (value: unknown) => string): string {
  const parts = Object.entries(entry.setting.defaults ?? {}).map(([command, value]) =>
    `${command}: ${isSameAs(value) ? `as ${value.sameAs}` : render(value)}`
  );
  return parts.length === 0 ? "" : ` (${parts.join("; ")})`;
}

/**
 * The shipped `config/config.yaml`: every key with its default, those without a single default
 * (unset, or differing by command) commented out with an example.
 *
 * @returns The file's text.
 */
export function configYaml(): string {
  const lines = [
    "# rocketmq-ts configuration: every key with its default. Generated from server/config.ts by",
    "# `npm run gen:config`; docs/CONFIG.md is the reference (flags, environment variables, components).",
    "#",
    "# Load it with `--config config/config.yaml`; every key is optional. Precedence, lowest first:",
    "# defaults, this file, environment variables RMQ_<SECTION>_<KEY> (RMQ_BROKER_FLUSH_MODE=sync,",
    "# RMQ_BROKER_NAME_SERVERS=10.0.0.1:9876,10.0.0.2:9876), command-line flags. An unknown key or a bad",
    "# value stops the process at start with a message naming the key. Keys commented out have no",
    "# default, or one that differs by command; uncommenting one sets it for every command.",
  ];
  for (const [section, keys] of Object.entries(SETTINGS)) {
    lines.push("", `${section}:`);
    for (const key of Object.keys(keys)) {
      const entry = SETTING_LIST.find((e) => e.path === `${section}.${key}`)!;
      const { setting } = entry;
      const fixed = setting.default !== undefined && setting.defaults === undefined;
      const value = yamlValue(fixed ? setting.default : setting.default ?? setting.example);
      const left = `${fixed ? "  " : "  # "}${key}: ${value}`;
      lines.push(`${left.padEnd(34)} # ${setting.doc}${commandDefaults(entry, yamlValue)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function flagCell(entry: SettingEntry): string {
  const byName = new Map<string, CommandName[]>();
  for (const command of COMMANDS) {
    const name = flagName(entry, command);
    if (name !== undefined) byName.set(name, [...(byName.get(name) ?? []), command]);
  }
  if (byName.size === 0) return "file and environment only";
  const dashes = entry.setting.kind === "boolean" ? "--[no-]" : "--";
  const all = commandsOf(entry).length === COMMANDS.length;
  return [...byName].map(([name, commands]) => `\`${dashes}${name}\`${byName.size === 1 && all ? "" : ` (${commands.join(", ")})`}`).join(", ");
}

function defaultCell(entry: SettingEntry): string {
  const plain = entry.setting.default;
  const shown = plain === undefined ? "none" : `\`${yamlValue(plain)}\``;
  return `${shown}${commandDefaults(entry, (value) => `\`${yamlValue(value)}\``)}`;
}

function targetCell(entry: SettingEntry): string {
  const { component, option } = entry.setting.to;
  const types: Record<string, string> = {
    nameserver: "NameServerOptions",
    broker: "BrokerOptions",
    store: "MessageStoreOptions",
    admin: "startAdminServer",
    log: "LoggerOptions",
  };
  return option === undefined ? `\`loadServerSecurity\` (${component})` : `\`${types[component]}.${option}\``;
}

/**
 * The text of `docs/CONFIG.md`: every setting with its default, flags, variable, doc and component.
 *
 * @returns The Markdown.
 */
export function configReference(): string {
  const out = [
    "# Configuration reference",
    "",
    "Every setting of `rmq standalone`, `rmq broker`, `rmq nameserver` (and `server/broker.ts`,",
    "`server/nameserver.ts`, which are the same commands). Generated from the schema in",
    "[server/config.ts](../server/config.ts) by `npm run gen:config`: do not edit it by hand; the",
    "schema's header says how to add a setting.",
    "",
    "A setting comes from, lowest precedence first: its default (some differ by command), the YAML",
    "file given with `--config` ([config/config.yaml](../config/config.yaml) holds every key), its",
    "environment variable, its flag. Each layer is checked on its own, so an error names where the bad",
    "value came from (`Environment variable RMQ_BROKER_PORT=\"x\": \"broker.port\" expected a whole number`),",
    "and an unknown key or a bad value stops the start with exit code 1. A command uses the settings of",
    "the components it runs: `nameserver` the `nameserver` section, `broker` the `broker` section,",
    "`standalone` both (it registers its broker with its own NameServer), and all three `admin`, `acl`,",
    "`tls` and `log`. A key of a section the command runs that it does not take (`broker.brokerRole` in",
    "standalone) is reported with a warning at start.",
    "",
    "Flags of boolean settings come in pairs: `--auto-create-topic` sets true, `--no-auto-create-topic`",
    "false. In `standalone`, broker flags are unprefixed (`--port`) and NameServer flags start with",
    "`--namesrv-` (`--namesrv-port`).",
  ];
  for (const [section, keys] of Object.entries(SETTINGS)) {
    out.push("", `## ${section}`, "", "| key | default | flag | environment | what it does | consumed by |", "| --- | --- | --- | --- | --- | --- |");
    for (const key of Object.keys(keys)) {
      const entry = SETTING_LIST.find((e) => e.path === `${section}.${key}`)!;
      const doc = entry.setting.doc.replaceAll("|", "\\|");
      out.push(`| \`${key}\` | ${defaultCell(entry)} | ${flagCell(entry)} | \`${envName(entry)}\` | ${doc} | ${targetCell(entry)} |`);
    }
  }
  return `${out.join("\n")}\n`;
}

/** The TypeScript type of a setting's value, as `Config` holds it. */
function typeText(entry: SettingEntry): string {
  const { setting } = entry;
  const schema = setting.schema as { type?: string; options?: readonly string[] };
  const type = setting.kind === "integer"
    ? "number"
    : setting.kind === "boolean"
    ? "boolean"
    : setting.kind === "list"
    ? "string[]"
    : schema.type === "picklist"
    ? schema.options!.map((option) => JSON.stringify(option)).join(" | ")
    : "string";
  return setting.hasDefault ? type : `${type} | undefined`;
}

/**
 * The text of `server/config_types.ts`: the `Config` type written out, so that the public API
 * (`loadConfig`) has an explicit type (JSR's fast check) while `SETTINGS` stays its one source.
 *
 * @returns The TypeScript module.
 */
export function configTypes(): string {
  const out = [
    "/**",
    " * The shape of a loaded configuration, generated from `SETTINGS` in server/config.ts by",
    " * `npm run gen:config`: do not edit it by hand. (Written out rather than inferred, so the package's",
    " * public API has explicit types; config.ts checks that it matches `SETTINGS`.)",
    " *",
    " * @module",
    " */",
    "",
    "/** A validated configuration with every default filled in (unset keys are `undefined`). */",
    "export type Config = {",
  ];
  for (const [section, keys] of Object.entries(SETTINGS)) {
    out.push(`  ${section}: {`);
    for (const key of Object.keys(keys)) {
      const entry = SETTING_LIST.find((e) => e.path === `${section}.${key}`)!;
      out.push(`    /** ${entry.setting.doc.replaceAll("*/", "*\\/")} */`, `    ${key}: ${typeText(entry)};`);
    }
    out.push("  };");
  }
  out.push("};");
  return `${out.join("\n")}\n`;
}
