/**
 * Real processes for multi-process tests: free loopback ports, servers started and awaited until
 * they print their listening line, and stopped by PID.
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

/** A free TCP port on 127.0.0.1. */
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

/**
 * Starts a process.
 *
 * @param command The executable.
 * @param args Its arguments.
 * @returns The running child.
 */
export function start(command: string, args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
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
