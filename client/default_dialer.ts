/**
 * Picks the TCP dialer of the runtime the client runs on.
 *
 * @module
 */
import type { Credentials } from "../core/auth/signing.ts";
import type { Dialer, DialOptions, TlsClientOptions } from "../core/remoting/transport.ts";
import { ClientError } from "../core/errors.ts";
import { withCredentials } from "./_signer.ts";

/*
 * The Bun and Deno adapters are named through variables so each type-checker only follows the
 * adapter it has types for (tsc runs without Deno's, `deno check` without Bun's); the runtime
 * resolves them relative to this module. The Node adapter needs no globals, so bundlers for Node
 * see it directly.
 */
const BUN_DIALER = "./bun/connect.ts";
const DENO_DIALER = "./deno/connect.ts";

/** Options of `defaultDialer`. */
export interface DefaultDialerOptions {
  /** Dial TLS, trusting `ca` (PEM) when given. @default plain TCP */
  tls?: TlsClientOptions;
  /** Sign every request with this account (for servers with ACL on). @default unsigned */
  credentials?: Credentials;
}

/**
 * Loads the dialer for the current runtime: Bun's `Bun.connect`, Deno's `Deno.connect`, or
 * `node:net` on Node (`Deno.connectTls`, `node:tls` and Bun's TLS with `tls`). The adapter is
 * imported on demand, so no runtime's globals are touched on the others. Other runtimes (Workers,
 * browsers) have no TCP socket of their own: there the clients need a `dial` option
 * (`cloudflareDialer`, `webSocketDialer`, `duplexDialer`).
 *
 * @param options TLS and ACL credentials.
 * @returns The dialer.
 * @throws {ClientError} On a runtime other than Bun, Deno and Node.
 *
 * @example Dial a TLS broker with ACL on
 * ```ts ignore
 * import { defaultDialer } from "./default_dialer.ts";
 * import { Producer } from "./producer.ts";
 * const ca = await Deno.readTextFile("ca.pem");
 * const dial = await defaultDialer({ tls: { ca }, credentials: { accessKey: "ak1", secretKey: "secret-1" } });
 * const producer = new Producer({ nameServer: "127.0.0.1:9876", dial });
 * ```
 */
export async function defaultDialer(options: DefaultDialerOptions = {}): Promise<Dialer> {
  let adapter: { dial: Dialer; createDialer(options: DialOptions): Dialer };
  if ("Bun" in globalThis) adapter = (await import(BUN_DIALER)) as typeof adapter;
  else if ("Deno" in globalThis) adapter = (await import(DENO_DIALER)) as typeof adapter;
  else if ((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== undefined) {
    adapter = await import("./node/connect.ts");
  } else {
    throw new ClientError(
      "No TCP dialer for this runtime: pass a dial option (cloudflareDialer(connect) in Workers, webSocketDialer() in browsers, " +
        "duplexDialer() for any Web Streams socket)",
    );
  }
  const dial = options.tls === undefined ? adapter.dial : adapter.createDialer({ tls: options.tls });
  return options.credentials === undefined ? dial : withCredentials(dial, options.credentials);
}
