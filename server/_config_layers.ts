/**
 * Layers command-line flags over the configuration file and `RMQ_*` environment for the server
 * entrypoints (`rmq nameserver|broker|standalone`, `server/nameserver.ts`, `server/broker.ts`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parse as parseYaml } from "yaml";
import { type Config, loadConfig } from "./config.ts";

/** A configuration with a way to ask where a key came from. */
export interface LayeredConfig {
  /** The merged configuration (defaults < file < environment < flags). */
  config: Config;
  /**
   * Whether the file or the environment set a key (flags are known to the caller). Lets an
   * entrypoint keep a default of its own, such as the broker's `./data/broker`.
   */
  isSet(section: keyof Config, key: string): boolean;
}

/**
 * Loads `--config` (when given) and the `RMQ_*` environment, then applies the flags given.
 *
 * @param file The `--config` path, if any.
 * @param overrides Values of the flags actually given, by section.
 * @param env The environment. @default process.env
 * @returns The configuration.
 * @throws {ConfigError} When the file is unreadable or a key or value is bad (the message names it).
 */
export function loadLayeredConfig(
  file: string | undefined,
  overrides: NonNullable<Parameters<typeof loadConfig>[0]>["overrides"],
  env: Record<string, string | undefined> = process.env,
): LayeredConfig {
  const config = loadConfig({ file, env, overrides });
  let raw: Record<string, Record<string, unknown> | undefined> = {};
  if (file !== undefined) raw = (parseYaml(readFileSync(file, "utf8")) ?? {}) as typeof raw;
  return {
    config,
    isSet(section, key) {
      if (raw[section]?.[key] !== undefined) return true;
      const name = `RMQ_${section.toUpperCase()}_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
      return env[name] !== undefined;
    },
  };
}
