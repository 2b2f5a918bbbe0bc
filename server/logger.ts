/**
 * Server log lines: every line has an ISO timestamp, a level and the component that wrote it, as
 * text or as one JSON object (`log.format`, `--log-format`, `RMQ_LOG_FORMAT`). Debug and info
 * lines go to stdout, warnings and errors to stderr.
 *
 * Components take a `Log`: `(line, level) => void`, and every line they write names its level
 * (`error` for a failure, `warn` for a degraded state or a refused peer, `info` otherwise, `debug`
 * for chatter). A plain `(line: string) => void` still fits every `log` option, and a `Logger` is a
 * `Log`. Called directly without a level, a `Logger` takes a line that starts with `Warning: ` or
 * `Error: ` at that level (the text stays as written), any other at `info`.
 *
 * @module
 */
import process from "node:process";

/** Severity of a log line, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The log levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** How a component writes a line, at the level it names. */
export type Log = (line: string, level: LogLevel) => void;

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default "info" */
  level?: LogLevel;
  /** `text`: `time LEVEL [component] line`; `json`: `{"time","level","component","msg"}`. @default "text" */
  format?: "text" | "json";
  /** The component named in each line. @default "rmq" */
  component?: string;
  /** Where a finished line (with its newline) goes. @default stdout for debug and info, stderr for warn and error */
  write?: (text: string, level: LogLevel) => void;
  /** The clock. @default Date.now */
  now?: () => number;
}

/** A `Log` with its settings, level shortcuts and children for other components. */
export interface Logger {
  /** Writes a line at `level`, or at the level its `Warning: `/`Error: ` prefix names, else `info`. */
  (line: string, level?: LogLevel): void;
  readonly level: LogLevel;
  readonly format: "text" | "json";
  readonly component: string;
  debug(line: string): void;
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** The same logger naming another component. */
  child(component: string): Logger;
}

const PREFIXES: ReadonlyArray<readonly [string, LogLevel]> = [["Warning: ", "warn"], ["Error: ", "error"]];

function defaultWrite(text: string, level: LogLevel): void {
  (level === "warn" || level === "error" ? process.stderr : process.stdout).write(text);
}

/**
 * Creates a logger.
 *
 * @param options Level, format, component and output.
 * @returns The logger.
 *
 * @example A broker's logger
 * ```ts
 * import { createLogger } from "./logger.ts";
 *
 * const log = createLogger({ component: "broker", format: "json" });
 * log("Broker listening");            // {"time":"…","level":"info","component":"broker","msg":"Broker listening"}
 * log("Warning: disk almost full");   // level "warn"
 * log.child("admin").error("Cannot bind");
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = "info", format = "text", component = "rmq", write = defaultWrite, now = Date.now } = options;
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (line: string, given?: LogLevel) => {
    const lineLevel = given ?? PREFIXES.find(([prefix]) => line.startsWith(prefix))?.[1] ?? "info";
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    const time = new Date(now()).toISOString();
    write(
      format === "json"
        ? `${JSON.stringify({ time, level: lineLevel, component, msg: line })}\n`
        : `${time} ${lineLevel.toUpperCase().padEnd(5)} [${component}] ${line}\n`,
      lineLevel,
    );
  };
  return Object.assign(emit, {
    level,
    format,
    component,
    debug: (line: string) => emit(line, "debug"),
    info: (line: string) => emit(line, "info"),
    warn: (line: string) => emit(line, "warn"),
    error: (line: string) => emit(line, "error"),
    child: (name: string) => createLogger({ ...options, component: name }),
  });
}
