/**
 * The address of the broker that stored a message, from the store host its record (or offset
 * message id) names.
 *
 * @module
 */
import type { HostAddress } from "../core/model/message.ts";
import { parseAddress } from "../core/remoting/transport.ts";

const UNSPECIFIED_OR_LOOPBACK = /^(0\.0\.0\.0|::|127\.\d+\.\d+\.\d+|::1)$/;

/**
 * Finds the known broker address a store host stands for: the same host and port, else (for an
 * unspecified or loopback store host) the only known broker on that port, else the store host
 * itself as `host:port`.
 *
 * @param known Broker addresses of the cached routes.
 * @param host The store host.
 * @returns The address to send to.
 */
export function storedByAddress(known: readonly string[], host: HostAddress): string {
  const samePort: string[] = [];
  for (const address of known) {
    let parsed: { host: string; port: number };
    try {
      parsed = parseAddress(address);
    } catch {
      continue;
    }
    if (parsed.port !== host.port) continue;
    if (parsed.host.toLowerCase() === host.address.toLowerCase()) return address;
    samePort.push(address);
  }
  if (samePort.length === 1 && UNSPECIFIED_OR_LOOPBACK.test(host.address)) return samePort[0]!;
  return host.address.includes(":") ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
}
