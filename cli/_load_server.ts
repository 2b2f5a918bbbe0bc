/**
 * The server the load tool starts: a standalone (NameServer + Broker) in a child process under Bun
 * or Deno, on free loopback ports and a temporary data directory, with its startup time and idle
 * memory measured and its CPU and memory readable by PID while the load runs.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { processMemory } from "./_load_stats.ts";

/** A runtime the server can run under. */
export type ServerRuntime = "bun" | "deno";

/** How the started server came up. */
export interface ServerStartup {
  runtime: ServerRuntime;
  pid: number;
  /** From spawn to the first TCP connection the broker port accepted. */
  firstConnectionMs: number;
  /** From spawn to the "Standalone ready" line. */
  readyMs: number;
  /** Resident memory once started and idle for a moment. */
  idleRssBytes: number | null;
}

/** A running server of the load tool's own. */
export interface LoadServer {
  /** NameServer address (`127.0.0.1:port`). */
  namesrv: string;
  /** Broker address. */
  broker: string;
  /** The gRPC address (RocketMQ 5 clients), when `grpc` was asked for. */
  grpc?: string;
  startup: ServerStartup;
  /** Stops the process by its PID and deletes its data directory. */
  stop(): Promise<void>;
}

/** Options of `startLoadServer`. */
export interface LoadServerOptions {
  runtime: ServerRuntime;
  /** Broker flush mode. */
  flush: "async" | "sync";
  /** Settle time before idle memory is read. @default 500 */
  idleMs?: number;
  /** Serve gRPC (RocketMQ 5 clients) on a free port too. @default false */
  grpc?: boolean;
  /** Serve the admin API and dashboard on a free port too. @default false */
  admin?: boolean;
  /** The command that runs `rmq`, such as a binary of `bun build --compile`. @default this checkout's sources under `runtime` */
  command?: readonly string[];
  /** How long startup may take. @default 30000 */
  timeoutMs?: number;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The command that runs `rmq` under a runtime: this checkout's sources, or this very binary. */
function rmqCommand(runtime: ServerRuntime): string[] {
  const self = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
  const local = (name: string) => {
    const path = join(ROOT, "node_modules", ".bin", name);
    return existsSync(path) ? path : name;
  };
  if (runtime === "deno") {
    return [self === "deno" ? process.execPath : local("deno"), "run", "-A", join(ROOT, "cli", "deno.ts")];
  }
  const entry = join(ROOT, "cli", "bun.ts");
  // A binary of `bun build --compile` holds no sources: it runs itself.
  if (self === "bun" && !existsSync(entry)) return [process.execPath];
  return [self === "bun" ? process.execPath : local("bun"), "run", entry];
}

/** A free TCP port on 127.0.0.1. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  process.kill(child.pid!, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
  }, 10_000);
  return exited.then(() => clearTimeout(timer));
}

/**
 * Starts a standalone server in a child process and waits until it is ready.
 *
 * @param options Runtime and flush mode.
 * @returns The server; stop it when done.
 * @throws {Error} When the process exits or does not get ready in time.
 */
export async function startLoadServer(options: LoadServerOptions): Promise<LoadServer> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-bench-"));
  const [nsPort, brokerPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const grpcPort = options.grpc === true ? await freeLoopbackPort() : undefined;
  const adminPort = options.admin === true ? await freeLoopbackPort() : undefined;
  const [command, ...args] = options.command ?? rmqCommand(options.runtime);
  const started = performance.now();
  const child = spawn(command!, [
    ...args, "standalone", "--host", "127.0.0.1", "--namesrv-port", String(nsPort), "--port", String(brokerPort),
    "--data-dir", dir, "--flush", options.flush,
    ...(adminPort === undefined ? ["--no-admin"] : ["--admin-port", String(adminPort)]), ...(grpcPort === undefined ? ["--no-grpc"] : ["--grpc-port", String(grpcPort)]),
  ], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const cleanup = async () => {
    await stopChild(child, exited);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ready = new Promise<number>((resolve, reject) => {
      const onData = (chunk: Uint8Array) => {
        output += new TextDecoder().decode(chunk);
        if (output.includes("Standalone ready")) resolve(performance.now() - started);
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("error", reject);
      child.once("exit", (code, signal) => reject(new Error(`Server exited with ${code ?? signal} before it was ready: ${output.trim()}`)));
      timer = setTimeout(() => reject(new Error(`Server not ready after ${options.timeoutMs ?? 30_000} ms: ${output.trim()}`)), options.timeoutMs ?? 30_000);
    }).finally(() => clearTimeout(timer));
    let firstConnectionMs: number | undefined;
    let readyMs: number | undefined;
    ready.then((ms) => (readyMs = ms), () => {});
    while (firstConnectionMs === undefined) {
      if (await tryConnect(brokerPort)) firstConnectionMs = performance.now() - started;
      else if (readyMs !== undefined) firstConnectionMs = readyMs;
      else if (child.exitCode !== null || child.signalCode !== null) await ready;
      else await new Promise((resolve) => setTimeout(resolve, 2));
    }
    readyMs = await ready;
    await new Promise((resolve) => setTimeout(resolve, options.idleMs ?? 500));
    return {
      namesrv: `127.0.0.1:${nsPort}`,
      broker: `127.0.0.1:${brokerPort}`,
      ...(grpcPort === undefined ? {} : { grpc: `127.0.0.1:${grpcPort}` }),
      startup: {
        runtime: options.runtime,
        pid: child.pid!,
        firstConnectionMs,
        readyMs,
        idleRssBytes: processMemory(child.pid!).rssBytes,
      },
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
