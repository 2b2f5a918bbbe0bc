/**
 * Client-side ACL signing: a signer that keeps the order of the requests it signs, and the way
 * credentials travel with a dialer (`defaultDialer({ credentials })`), so every client built on a
 * `Dialer` (producer, consumers, admin) signs without an option of its own.
 *
 * @module
 */
import { type Credentials, RequestSigner } from "../core/auth/signing.ts";
import type { Header } from "../core/protocol/command.ts";
import type { Dialer } from "../core/remoting/transport.ts";

const DIALER_CREDENTIALS = new WeakMap<Dialer, Credentials>();

/**
 * Returns a dialer that dials like `dial` and carries credentials, which every `RemotingClient`
 * using it signs requests with.
 *
 * @param dial The dialer.
 * @param credentials The account's key pair.
 * @returns The dialer carrying the credentials.
 *
 * @example Sign the requests of a WebSocket client
 * ```ts ignore
 * import { withCredentials } from "./_signer.ts";
 * import { webSocketDialer } from "./web_socket_dialer.ts";
 * const urls: Record<string, string> = { "10.0.0.5:9876": "wss://mq.example.com/namesrv", "10.0.0.6:10911": "wss://mq.example.com/broker-a" };
 * const dial = withCredentials(webSocketDialer({ url: (address) => urls[address]! }), { accessKey: "web", secretKey: "web-secret-1" });
 * ```
 */
export function withCredentials(dial: Dialer, credentials: Credentials): Dialer {
  const carrying: Dialer = (address, handlers) => dial(address, handlers);
  DIALER_CREDENTIALS.set(carrying, { accessKey: credentials.accessKey, secretKey: credentials.secretKey });
  return carrying;
}

/**
 * The credentials a dialer carries.
 *
 * @param dial The dialer.
 * @returns Its credentials, if any.
 */
export function credentialsOf(dial: Dialer): Credentials | undefined {
  return DIALER_CREDENTIALS.get(dial);
}

/**
 * Signs requests, handing back signed headers in the order `sign` was called: hashing runs
 * concurrently, but requests of one lane still leave in the order they were made.
 */
export class OrderedSigner {
  readonly #signer: RequestSigner;
  #tail: Promise<unknown> = Promise.resolve();

  /** @param credentials The account's key pair. */
  constructor(credentials: Credentials) {
    this.#signer = new RequestSigner(credentials);
  }

  /**
   * Signs a request.
   *
   * @param code The request code.
   * @param header The header.
   * @param body The body, if any.
   * @returns The signed header, after every earlier call's.
   */
  sign(code: number, header: Header, body?: Uint8Array): Promise<Header> {
    const signing = this.#signer.sign(code, header, body);
    const ordered = Promise.all([this.#tail, signing]).then(([, signed]) => signed);
    this.#tail = ordered.catch(() => {});
    return ordered;
  }
}
