/**
 * Real processes for multi-process tests: servers started on port 0 (they bind a free port
 * themselves and print it), awaited until they print their listening line, and stopped by PID.
 * Children get this process's environment without its `RMQ_*` variables, so a developer's own
 * settings never leak into a test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url));
/** The npm-installed runtimes. */
export const BUN: string = process.execPath;
export const DENO: string = join(ROOT, "node_modules", ".bin", "deno");

/** The listening line of a broker or NameServer; group 1 is the port. */
export const LISTENING: RegExp = /listening on [^\s,]*:(\d+)/;

/**
 * A free TCP port on 127.0.0.1, released before it is returned: another process may take it
 * before the caller binds it. Servers under test bind port 0 instead (see `startServer`); use this
 * only for a port nothing binds (a refused connection) or one the test itself binds at once.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The environment for a child process: this process's without any `RMQ_*` variable, plus `extra`.
 *
 * @param extra Variables to set.
 * @returns The environment.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("RMQ_")) env[name] = value;
  }
  return { ...env, ...extra };
}

/** A child process with its output collected. */
export interface Child {
  process: ChildProcess;
  pid: number;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when the output contains `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
  /** Sends a signal by PID. */
  kill(signal?: NodeJS.Signals): void;
}

/** A server process and the port it listens on. */
export interface Server extends Child {
  port: number;
}

/**
 * Starts a process.
 *
 * @param command The executable.
 * @param args Its arguments.
 * @param env Extra environment (on top of `childEnv()`).
 * @returns The running child.
 */
export function start(command: string, args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(command, args, { cwd: ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => {
      resolve(code ?? signal ?? -1);
      for (const w of waiters) w();
    });
  });
  let done = false;
  exited.then(() => (done = true));
  return {
    process: child,
    pid: child.pid!,
    output: () => out,
    exited,
    kill(signal = "SIGTERM") {
      if (!done) process.kill(child.pid!, signal);
    },
    waitFor(text, timeoutMs = 15_000) {
      const hit = () => (typeof text === "string" ? out.includes(text) : text.test(out));
      if (hit()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`Timed out waiting for ${String(text)}; output so far:\n${out}`));
        }, timeoutMs);
        const check = () => {
          if (hit()) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (done) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`Process exited before printing ${String(text)}; output:\n${out}`));
          }
        };
        waiters.add(check);
      });
    },
  };
}

/** Options of `startServer`. */
export interface StartServerOptions {
  /** The line that says the server is up; group 1 is its port. @default LISTENING */
  ready?: RegExp;
  /** Extra environment. */
  env?: Record<string, string>;
  /** How long one start may take. @default 20000 */
  timeoutMs?: number;
  /** How long a start that cannot bind its (fixed) port is retried. @default 10000 */
  retryMs?: number;
}

/** What a broker, NameServer or standalone prints once its admin API serves. */
const ADMIN_READY = /(Admin API, metrics and dashboard|Dashboard and admin API) on /;

/** What a server prints when its port is taken (Bun: "Failed to listen at", Deno: "Address already in use"). */
const PORT_TAKEN = /EADDRINUSE|[Aa]ddress already in use|Failed to listen at/;

/**
 * Starts a server and waits until it prints the line naming its port. Pass port 0 so the server
 * binds a free port itself: nothing can take it between choosing and binding. A restart that must
 * reuse a port (clients know it) passes that port; a start that finds it still taken is retried.
 *
 * @param command The executable.
 * @param args Its arguments.
 * @param options Ready line, environment, timeouts.
 * @returns The running server and its port.
 */
export async function startServer(command: string, args: string[], options: StartServerOptions = {}): Promise<Server> {
  const ready = options.ready ?? LISTENING;
  const deadline = Date.now() + (options.retryMs ?? 10_000);
  for (;;) {
    const child = start(command, args, options.env);
    try {
      await child.waitFor(ready, options.timeoutMs ?? 20_000);
    } catch (error) {
      child.kill("SIGKILL");
      await child.exited;
      if (PORT_TAKEN.test(child.output()) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      throw error;
    }
    // The admin API starts after the client port (its modules load then): a test that asked for
    // one gets the server once that serves too.
    if (args.includes("--admin-port") && !args.includes("--no-admin")) await child.waitFor(ADMIN_READY, options.timeoutMs ?? 20_000);
    const port = Number(ready.exec(child.output())?.[1]);
    if (!Number.isInteger(port) || port <= 0) {
      child.kill("SIGKILL");
      throw new Error(`No port in the line ${String(ready)} of:\n${child.output()}`);
    }
    return Object.assign(child, { port });
  }
}

/**
 * Stops a child by PID with SIGTERM, then SIGKILL if it does not exit in time.
 *
 * @param child The process.
 * @param graceMs How long SIGTERM gets.
 */
export async function stop(child: Child, graceMs = 5000): Promise<void> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
}
