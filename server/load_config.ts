/**
 * `loadConfig`: the servers' configuration from a YAML file, the environment and overrides. Apart
 * from `server/config.ts` so that the server commands load the YAML parser only with `--config`.
 *
 * @module
 */
import { parse } from "yaml";
import { type Config, type LoadConfigOptions, loadConfigLayers } from "./config.ts";

/**
 * Loads and validates the configuration.
 *
 * @param options File, environment, flag overrides and the command.
 * @returns The configuration with defaults filled in.
 * @throws {ConfigError} When the file cannot be read or parsed, or a key or value is invalid (the
 *   message names the source and the key).
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  return loadConfigLayers(options, parse).config;
}
