/**
 * Deno's TCP dialer for server-to-server links (broker to NameServer).
 *
 * @module
 */
import { readWriteTransport } from "../../core/remoting/read_write.ts";
import { type Dialer, parseAddress } from "../../core/remoting/transport.ts";

/**
 * Dials `host:port` with `Deno.connect`.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = async (address, handlers) => {
  const { host, port } = parseAddress(address);
  const conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
  conn.setNoDelay(true);
  return readWriteTransport(conn, address, () => handlers);
};
