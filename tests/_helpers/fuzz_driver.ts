/**
 * The loop the wire fuzz tests share: many connections at once, each carrying a few well-framed
 * requests and usually one malformed frame after them, with a probe of the servers every so often.
 */
import { readFileSync } from "node:fs";
import { exchange } from "./raw_socket.ts";
import type { Random } from "./random.ts";

/** What `runFuzzCases` is given. */
export interface FuzzCases {
  /** Cases to send in all. */
  cases: number;
  /** Connections writing at once. */
  concurrency: number;
  /** The generator the cases come from. */
  random: Random;
  /** The chance a connection goes to the NameServer rather than the broker. */
  nameServerShare: number;
  /** The ports of the two servers. */
  ports: { broker: number; nameServer: number };
  /** A well-framed request. */
  commandCase(toNameServer: boolean): Uint8Array;
  /** A malformed frame, after which the server closes the connection. */
  badCase(toNameServer: boolean): { bytes: Uint8Array; kind: string };
  /** Run after every `probeEvery` cases (one at a time). */
  probe(): Promise<void>;
  probeEvery: number;
}

/** What the cases did. */
export interface FuzzOutcome {
  generated: number;
  connections: number;
  /** Connections the server did not close within 5 s. */
  slow: number;
  /** Cases sent, by kind (`command` for the well-framed ones). */
  kinds: Map<string, number>;
}

/**
 * Sends the cases.
 *
 * @param options The cases, servers and probe.
 * @returns Counts of what was sent.
 */
export async function runFuzzCases(options: FuzzCases): Promise<FuzzOutcome> {
  const { cases, random } = options;
  const kinds = new Map<string, number>();
  const count = (kind: string, n: number) => kinds.set(kind, (kinds.get(kind) ?? 0) + n);
  let generated = 0;
  let connections = 0;
  let slow = 0;
  let nextProbeAt = options.probeEvery;
  let probing: Promise<void> = Promise.resolve();
  const worker = async () => {
    while (generated < cases) {
      const toNameServer = random.chance(options.nameServerShare);
      const parts: Uint8Array[] = [];
      for (let n = random.int(6); n > 0 && generated < cases; n--, generated++) parts.push(options.commandCase(toNameServer));
      count("command", parts.length);
      if (generated < cases && random.chance(0.9)) {
        const bad = options.badCase(toNameServer);
        parts.push(bad.bytes);
        generated++;
        count(bad.kind, 1);
      }
      if (parts.length === 0) continue;
      const bytes = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      connections++;
      if ((await exchange(toNameServer ? options.ports.nameServer : options.ports.broker, bytes)) === "slow") slow++;
      if (generated >= nextProbeAt) {
        nextProbeAt += options.probeEvery;
        probing = probing.then(options.probe);
        await probing;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await probing;
  return { generated, connections, slow, kinds };
}

/**
 * A process's resident memory.
 *
 * @param pid The process.
 * @returns Bytes (Linux `/proc`).
 */
export function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024;
}
