import type { HostAddress } from "../../core/model/message.ts";
import { parseAddress } from "../../core/remoting/transport.ts";

/** Hosts of recent peer addresses: every send of a connection names the same one. */
const HOSTS = new Map<string, HostAddress>();
const HOSTS_MAX = 4096;

/**
 * Turns a connection's `host:port` into a record host, unwrapping IPv4-mapped IPv6 addresses.
 *
 * @param address The peer address.
 * @returns The host (frozen, shared), or 0.0.0.0:0 when it cannot be parsed (in-memory peers).
 */
export function toHostAddress(address: string): HostAddress {
  let host = HOSTS.get(address);
  if (host === undefined) {
    if (HOSTS.size >= HOSTS_MAX) HOSTS.clear();
    host = Object.freeze(parseHost(address));
    HOSTS.set(address, host);
  }
  return host;
}

function parseHost(address: string): HostAddress {
  try {
    const { host, port } = parseAddress(address);
    const mapped = host.toLowerCase().startsWith("::ffff:") ? host.slice(7) : host;
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(mapped) || mapped.includes(":")) return { address: mapped, port };
    return { address: "0.0.0.0", port };
  } catch {
    return { address: "0.0.0.0", port: 0 };
  }
}
