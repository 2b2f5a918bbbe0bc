/**
 * System calls of a real process, seen through strace: which files were written and fsynced, and
 * what left on which socket, in the order they happened. Tests that must prove a disk call is made
 * (not only that data survives a process kill, which the page cache gives for free) read these.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type Child, start } from "./process.ts";

/** strace's path on this machine. */
const STRACE = "/usr/bin/strace";

/**
 * Why strace-based tests cannot run here, or undefined when they can: strace must be installed
 * and allowed to attach to another process (root, or `kernel.yama.ptrace_scope` 0).
 *
 * @returns The reason to skip, or undefined.
 */
export function straceUnavailable(): string | undefined {
  if (process.platform !== "linux") return "needs Linux (strace)";
  if (spawnSync(STRACE, ["-V"]).status !== 0) return `needs strace (${STRACE})`;
  let scope = "0";
  try {
    scope = readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8").trim();
  } catch {
    // no Yama: classic ptrace rules
  }
  if (process.getuid?.() !== 0 && scope !== "0") return "needs root (or kernel.yama.ptrace_scope=0) to attach strace";
  return undefined;
}

/** One system call as strace reported it. */
export interface Syscall {
  /** Thread that made it. */
  tid: number;
  name: string;
  /** The file descriptor argument. */
  fd: number;
  /** What the descriptor refers to: a path, or `TCP:[local->remote]` for a socket. */
  target: string;
  /** The data of a write-like call (what the call was given; `result` says how much was taken). */
  data: Uint8Array;
  /** The numeric arguments after the data (count, position…). */
  numbers: number[];
  /** The return value (negative for an error). */
  result: number;
  /** Position of the call's first line in the trace: comparable with other calls' `start`/`end`. */
  start: number;
  /** Position of the line with its return value. */
  end: number;
}

/** A strace attached to a running process. */
export interface Trace {
  /** Detaches and returns every traced call, in the order strace saw them. */
  stop(): Promise<Syscall[]>;
}

/**
 * Attaches strace to every thread of a process (and threads it starts later) and resolves once it
 * is attached. Data arguments are kept in full.
 *
 * @param pid The process.
 * @param syscalls The calls to trace, e.g. `["fdatasync", "pwrite64", "sendto"]`.
 * @param out The file strace writes to.
 * @returns The running trace.
 */
export async function attachStrace(pid: number, syscalls: readonly string[], out: string): Promise<Trace> {
  const tracer: Child = start(STRACE, ["-f", "-p", String(pid), "-yy", "-xx", "-s", "1048576", "-e", `trace=${syscalls.join(",")}`, "-o", out]);
  await tracer.waitFor(/attached/, 10_000);
  return {
    async stop() {
      tracer.kill("SIGINT");
      await tracer.exited;
      return parseStrace(readFileSync(out, "utf8"));
    },
  };
}

/**
 * Runs a command under strace until it exits.
 *
 * @param command The executable.
 * @param args Its arguments.
 * @param syscalls The calls to trace.
 * @param out The file strace writes to.
 * @returns The command's exit code, its output and every traced call.
 */
export async function straceCommand(
  command: string,
  args: readonly string[],
  syscalls: readonly string[],
  out: string,
): Promise<{ code: number | string; output: string; calls: Syscall[] }> {
  const child = start(STRACE, ["-f", "-yy", "-xx", "-s", "1048576", "-e", `trace=${syscalls.join(",")}`, "-o", out, "--", command, ...args]);
  const code = await child.exited;
  return { code, output: child.output(), calls: parseStrace(readFileSync(out, "utf8")) };
}

const HEX_STRING = /"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?/;

function hexBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 4 + 2, i * 4 + 4), 16);
  return out;
}

function decodeTarget(text: string): string {
  return text.startsWith("\\x") ? new TextDecoder().decode(hexBytes(text)) : text;
}

/**
 * Parses `strace -f -yy -xx` output. A call interrupted by another thread's line ("<unfinished
 * ...>" … "<... name resumed>") becomes one call with its `start` and `end` positions.
 *
 * @param text The trace.
 * @returns The calls, ordered by where they ended.
 */
export function parseStrace(text: string): Syscall[] {
  const calls: Syscall[] = [];
  const open = new Map<number, { name: string; args: string; start: number }>();
  const lines = text.split("\n");
  for (let position = 0; position < lines.length; position++) {
    const line = lines[position]!;
    const head = /^(\d+)\s+(.*)$/.exec(line);
    if (!head) continue;
    const tid = Number(head[1]);
    const rest = head[2]!;
    let name: string;
    let args: string;
    let start = position;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const begun = open.get(tid);
      open.delete(tid);
      if (begun === undefined || begun.name !== resumed[1]) continue;
      name = begun.name;
      args = begun.args + resumed[2]!;
      start = begun.start;
    } else {
      const call = /^(\w+)\((.*)$/.exec(rest);
      if (!call) continue; // signals, exits
      name = call[1]!;
      args = call[2]!;
      if (args.endsWith(" <unfinished ...>")) {
        open.set(tid, { name, args: args.slice(0, -" <unfinished ...>".length), start });
        continue;
      }
    }
    const result = /\)\s+=\s+(-?\d+)(?:\s.*)?$/.exec(args);
    if (!result) continue;
    const fd = /^(\d+)<(.*?)>(?:,|\))/.exec(args);
    if (!fd) continue;
    const afterFd = args.slice(fd[0].length);
    const data = HEX_STRING.exec(afterFd);
    const tail = data ? afterFd.slice(data.index + data[0].length) : afterFd;
    calls.push({
      tid,
      name,
      fd: Number(fd[1]),
      target: decodeTarget(fd[2]!),
      data: data ? hexBytes(data[1]!) : new Uint8Array(0),
      numbers: [...tail.slice(0, tail.lastIndexOf(")")).matchAll(/(?:^|,\s*)(-?\d+)(?=,|$)/g)].map((m) => Number(m[1])),
      result: Number(result[1]),
      start,
      end: position,
    });
  }
  return calls;
}
