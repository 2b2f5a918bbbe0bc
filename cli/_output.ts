/**
 * Output of the `rmq` verbs: the error that carries an exit code, aligned tables, JSON, human
 * figures (bytes, durations, times) and a progress bar drawn on stderr when it is a terminal.
 *
 * @module
 */
import process from "node:process";
import { ConnectionClosedError, RequestTimeoutError } from "../core/errors.ts";

/** Exit codes of `rmq`. */
export const ExitCode = {
  OK: 0,
  /** The server refused or failed the operation; the message is the server's. */
  FAILED: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** The server could not be reached. */
  UNREACHABLE: 3,
} as const;
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** A failure that ends the command with a message on stderr and an exit code. */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: ExitCode;
  /** The HTTP status of a refused admin request. */
  readonly httpStatus: number | undefined;
  /** The usage line to show after a usage error. */
  readonly usage: string | undefined;

  /**
   * @param message What went wrong, for the person at the terminal.
   * @param exitCode The exit code. @default 1
   * @param options The cause, the HTTP status of a refused admin request, the usage line of a usage error.
   */
  constructor(message: string, exitCode: ExitCode = ExitCode.FAILED, options?: ErrorOptions & { httpStatus?: number; usage?: string }) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
    this.httpStatus = options?.httpStatus;
    this.usage = options?.usage;
  }
}

/**
 * The exit code of a failure: a `CliError`'s own, 3 for a server that cannot be reached (a closed
 * connection or no answer), 1 for anything else.
 *
 * @param error What a verb threw.
 * @returns The exit code.
 */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof ConnectionClosedError || error instanceof RequestTimeoutError) return ExitCode.UNREACHABLE;
  return ExitCode.FAILED;
}

/**
 * A failure as `--json` prints it: `{ "error": { "message", "exitCode", "httpStatus"?, "usage"? } }`.
 *
 * @param error What a verb threw.
 * @returns The object.
 */
export function errorJson(error: unknown): { error: { message: string; exitCode: ExitCode; httpStatus?: number; usage?: string } } {
  const message = (error as Error)?.message ?? String(error);
  const extra = error instanceof CliError
    ? { ...(error.httpStatus === undefined ? {} : { httpStatus: error.httpStatus }), ...(error.usage === undefined ? {} : { usage: error.usage }) }
    : {};
  return { error: { message, exitCode: exitCodeOf(error), ...extra } };
}

/**
 * Prints a failure on stderr: `Error: …` (with the usage line after a usage error), or one line of
 * `errorJson` under `--json`.
 *
 * @param error What a verb threw.
 * @param json Whether `--json` was given.
 * @returns Once written.
 */
export function printError(error: unknown, json: boolean): Promise<void> {
  const text = json
    ? `${JSON.stringify(errorJson(error))}\n`
    : `Error: ${(error as Error)?.message ?? String(error)}\n${error instanceof CliError && error.usage !== undefined ? `Usage: ${error.usage}\nRun with --help to see every flag.\n` : ""}`;
  return new Promise((resolve) => process.stderr.write(text, () => resolve()));
}

/** Writes to stdout and resolves once the text is handed to the OS (so an exit cannot cut it). */
export function write(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (text === "") resolve();
    else process.stdout.write(text, () => resolve());
  });
}

/** Prints a value as indented JSON. */
export function printJson(value: unknown): Promise<void> {
  return write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A column of `table`. */
export interface Column<T> {
  /** Header text. */
  header: string;
  /** The cell of a row. */
  cell: (row: T) => string | number | null | undefined;
  /** Right-align (numbers). @default false */
  right?: boolean;
}

/**
 * Formats rows as an aligned table: a header line, then one line per row, columns two spaces apart.
 *
 * @param columns The columns.
 * @param rows The rows.
 * @returns The table with a final newline; a header alone when there are no rows.
 */
export function table<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = rows.map((row) => columns.map((c) => text(c.cell(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values.map((value, i) => (columns[i]!.right ? value.padStart(widths[i]!) : i === values.length - 1 ? value : value.padEnd(widths[i]!)))
      .join("  ").trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n") + "\n";
}

/**
 * Formats `label: value` lines with the values aligned.
 *
 * @param pairs Labels and values; null and undefined values show as "-".
 * @returns The lines with a final newline.
 */
export function keyValues(pairs: ReadonlyArray<readonly [string, unknown]>): string {
  const width = Math.max(...pairs.map(([label]) => label.length)) + 2;
  return pairs.map(([label, value]) => `${`${label}:`.padEnd(width)}${text(value)}`).join("\n") + "\n";
}

function text(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Bytes as `1.5 MiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration as `3d 4h`, `5m 2s` or `800ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  const parts: Array<[number, string]> = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"], [Math.floor(s / 60) % 60, "m"], [s % 60, "s"]];
  const first = parts.findIndex(([n]) => n > 0);
  return parts.slice(first, first + 2).map(([n, u]) => `${n}${u}`).join(" ");
}

/** A time in ms since the epoch as a local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Cuts text to a width, marking the cut with "…", and keeps it on one line. */
export function clip(value: string, width: number): string {
  const line = value.replace(/[\r\n\t]+/g, " ");
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

/** A progress bar on stderr; silent unless stderr is a terminal. */
export interface Progress {
  /** Adds finished units. */
  tick(count?: number): void;
  /** Erases the bar. */
  done(): void;
}

/**
 * Starts a progress bar for a long operation. It draws at most ten times a second, only when
 * stderr is a terminal, so scripts and pipes see no control codes.
 *
 * @param label What is being done.
 * @param total Units to do.
 * @param stream Where to draw. @default process.stderr
 * @returns The bar.
 */
export function progress(
  label: string,
  total: number,
  stream: { isTTY?: boolean; columns?: number; write(text: string): unknown } = process.stderr,
): Progress {
  let done = 0;
  let last = 0;
  const started = performance.now();
  const enabled = stream.isTTY === true && total > 0;
  const draw = () => {
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 40));
    const ratio = Math.min(1, done / total);
    const filled = Math.round(ratio * width);
    const rate = done / Math.max(0.001, (performance.now() - started) / 1000);
    stream.write(`\r\x1b[K${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${Math.round(ratio * 100)}% ${Math.round(rate)}/s`);
  };
  return {
    tick(count = 1) {
      done += count;
      if (!enabled) return;
      const now = performance.now();
      if (now - last >= 100 || done >= total) {
        last = now;
        draw();
      }
    },
    done() {
      if (enabled) stream.write("\r\x1b[K");
    },
  };
}
