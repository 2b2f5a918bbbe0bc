import type { HostAddress } from "../../core/model/message.ts";
import { parseAddress } from "../../core/remoting/transport.ts";

/**
 * Turns a connection's `host:port` into a record host, unwrapping IPv4-mapped IPv6 addresses.
 *
 * @param address The peer address.
 * @returns The host, or 0.0.0.0:0 when it cannot be parsed (in-memory peers).
 */
export function toHostAddress(address: string): HostAddress {
  try {
    const { host, port } = parseAddress(address);
    const mapped = host.toLowerCase().startsWith("::ffff:") ? host.slice(7) : host;
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(mapped) || mapped.includes(":")) return { address: mapped, port };
    return { address: "0.0.0.0", port };
  } catch {
    return { address: "0.0.0.0", port: 0 };
  }
}
