/**
 * Loads an ACL file (YAML, see `config/acl.yaml`) and reloads it when it changes: its modification
 * time, size and inode are polled every second. A file that fails to read, parse or validate keeps
 * the previous rules and the reason is logged.
 *
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { stat } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { AclRules } from "./acl_rules.ts";
import { createLogger, type Log } from "../logger.ts";

/** The outcome of one reload. */
export type AclReload = { ok: true; accounts: number } | { ok: false; error: string };

/** Options of `AclFile.open`. */
export interface AclFileOptions {
  /** How often the file is looked at. @default 1000 */
  pollIntervalMs?: number;
  /** Where reloads and rejected versions are reported. @default a logger naming "acl" */
  log?: Log;
  /** Called after each attempt to reload a changed file. */
  onReload?: (result: AclReload) => void;
}

function fingerprint(path: string, stats: { mtimeMs: number; size: number; ino: number }): string {
  return `${path}:${stats.mtimeMs}:${stats.size}:${stats.ino}`;
}

function readRules(path: string): AclRules {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new Error(`Cannot read ACL file "${path}": ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new Error(`ACL file "${path}" is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  try {
    return AclRules.parse(raw);
  } catch (cause) {
    throw new Error(`ACL file "${path}" is invalid: ${(cause as Error).message}`, { cause });
  }
}

/** An ACL file and its current rules. */
export class AclFile {
  readonly path: string;
  readonly #options: AclFileOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #rules: AclRules;
  #seen: string;
  #checking = false;

  private constructor(path: string, rules: AclRules, seen: string, options: AclFileOptions) {
    this.path = path;
    this.#rules = rules;
    this.#seen = seen;
    this.#options = options;
    this.#timer = setInterval(() => void this.check(), options.pollIntervalMs ?? 1000);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /**
   * Loads the file and starts watching it.
   *
   * @param path The YAML file.
   * @param options Poll period and reporting.
   * @returns The loaded file.
   * @throws {Error} When the file cannot be read or is invalid at start (the message says why).
   */
  static open(path: string, options: AclFileOptions = {}): AclFile {
    const seen = fingerprint(path, statSync(path));
    return new AclFile(path, readRules(path), seen, options);
  }

  /** The rules in force. */
  get rules(): AclRules {
    return this.#rules;
  }

  /** Looks at the file now and reloads it when it changed. */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    const log = this.#options.log ?? createLogger({ component: "acl" });
    try {
      let seen: string;
      try {
        seen = fingerprint(this.path, await stat(this.path));
      } catch (error) {
        seen = `missing:${(error as Error).message}`;
      }
      if (seen === this.#seen) return;
      this.#seen = seen;
      let result: AclReload;
      try {
        this.#rules = readRules(this.path);
        result = { ok: true, accounts: this.#rules.size };
        log(`ACL file "${this.path}" reloaded: ${this.#rules.size} account(s)`, "info");
      } catch (error) {
        result = { ok: false, error: (error as Error).message };
        log(`${(error as Error).message}; keeping the previous rules`, "warn");
      }
      this.#options.onReload?.(result);
    } finally {
      this.#checking = false;
    }
  }

  /** Stops watching. */
  close(): void {
    clearInterval(this.#timer);
  }
}
