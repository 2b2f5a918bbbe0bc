/**
 * The client side of remoting: one lazily opened connection per server address, shared by every
 * request to that address.
 *
 * @module
 */
import { BrokerError, ClientError, ConnectionClosedError } from "../core/errors.ts";
import type { Command, Header } from "../core/protocol/command.ts";
import { ResponseCode } from "../core/protocol/request_code.ts";
import { connect, type Connection, type RequestHandler } from "../core/remoting/connection.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import type { Credentials } from "../core/auth/signing.ts";
import { credentialsOf, OrderedSigner } from "./_signer.ts";

/** Options of a `RemotingClient`. */
export interface RemotingClientOptions {
  /** Opens sockets. */
  dial: Dialer;
  /** Timeout of a request that names none. @default 3000 */
  requestTimeoutMs?: number;
  /** How long opening a connection may take. @default 3000 */
  connectTimeoutMs?: number;
  /** Largest response frame accepted. @default the codec's default (8 MiB) */
  maxFrameSize?: number;
  /**
   * Handles requests a server sends on one of the pool's connections (NOTIFY_CONSUMER_IDS_CHANGED
   * from a broker, for example). Without one they are answered with REQUEST_CODE_NOT_SUPPORTED.
   */
  onRequest?: RequestHandler;
  /**
   * Connections kept to each address. Requests pick one by `lane` (a queue id, say), so requests of
   * one lane keep their order while several connections let client and server work overlap.
   * @default 2
   */
  connectionsPerAddress?: number;
  /**
   * Sign every request for a server with ACL on (`accessKey`, `timestamp`, `signature` header
   * fields). @default the credentials `dial` carries (`defaultDialer({ credentials })`), else none
   */
  credentials?: Credentials;
}

/** One request to send. */
export interface RemotingRequest {
  /** The `RequestCode`. */
  code: number;
  /** Header fields. */
  header: Header;
  /** Payload bytes. */
  body?: Uint8Array;
  /** How long to wait for the answer. @default options.requestTimeoutMs */
  timeoutMs?: number;
  /** Picks the connection (modulo `connectionsPerAddress`); one lane's requests stay in order. @default 0 */
  lane?: number;
}

/** A request for `invoke`, with the response codes that count as an answer rather than an error. */
export interface InvokeRequest extends RemotingRequest {
  /** Response codes returned instead of thrown. @default [ResponseCode.SUCCESS] */
  accept?: readonly number[];
}

const SUCCESS_ONLY: readonly number[] = [ResponseCode.SUCCESS];

/**
 * What `invoke` does with a response: returns it when its code is accepted.
 *
 * @param response The response.
 * @param accept The codes that count as an answer.
 * @param address The server it came from (for the error).
 * @param code The request code (for the error).
 * @returns The response.
 * @throws {BrokerError} When the response code is not accepted.
 */
export function checkAccepted(response: Command, accept: readonly number[], address: string, code: number): Command {
  if (!accept.includes(response.code)) throw new BrokerError(response.code, response.remark ?? `Request ${code} to ${address} failed`);
  return response;
}

/**
 * A pool of connections keyed by `host:port`. A connection is opened on first use; once it closes,
 * the next request opens a new one.
 */
export class RemotingClient {
  readonly #dial: Dialer;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxFrameSize: number | undefined;
  readonly #onRequest: RequestHandler | undefined;
  /** Keyed by address, then `address#lane` for lanes above 0. */
  readonly #connections = new Map<string, Promise<Connection>>();
  /** Connections known open, by the same keys: requests on them skip the pool's promises. */
  readonly #ready = new Map<string, Connection>();
  readonly #lanes: number;
  /** The keys of an address's lanes, by lane index. */
  readonly #laneKeys = new Map<string, string[]>();
  readonly #signer: OrderedSigner | undefined;
  #closed = false;

  /**
   * Creates an empty pool.
   *
   * @param options The dialer and timeouts.
   */
  constructor(options: RemotingClientOptions) {
    this.#dial = options.dial;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.#maxFrameSize = options.maxFrameSize;
    this.#onRequest = options.onRequest;
    this.#lanes = Math.max(1, options.connectionsPerAddress ?? 2);
    const credentials = options.credentials ?? credentialsOf(options.dial);
    this.#signer = credentials === undefined ? undefined : new OrderedSigner(credentials);
  }

  /**
   * The open connection to an address, opening it if needed. Concurrent callers share one attempt.
   *
   * @param address The server as `host:port`.
   * @param lane Which of the address's connections. @default 0
   * @returns The connection.
   * @throws {ConnectionClosedError} When the server cannot be reached in time.
   * @throws {ClientError} After `shutdown()`.
   */
  async connection(address: string, lane = 0): Promise<Connection> {
    const key = this.#key(address, lane);
    for (let attempt = 0;; attempt++) {
      if (this.#closed) throw new ClientError("Client is shut down");
      let opening = this.#connections.get(key);
      if (opening === undefined) {
        const fresh = this.#open(address, key);
        this.#connections.set(key, fresh);
        fresh.catch(() => {
          if (this.#connections.get(key) === fresh) this.#connections.delete(key);
        });
        opening = fresh;
      }
      const connection = await opening;
      if (!connection.closed) {
        if (!this.#closed && this.#connections.get(key) === opening) this.#ready.set(key, connection);
        return connection;
      }
      if (this.#connections.get(key) === opening) this.#connections.delete(key);
      // A pooled connection closed: open one new one, but do not spin on a server that hangs up at once.
      if (attempt > 0) throw new ConnectionClosedError(`Connection to ${address} closed as soon as it opened`);
    }
  }

  /**
   * Sends a request and returns the response, whatever its code.
   *
   * @param address The server.
   * @param request Code, header, body and timeout.
   * @returns The response.
   * @throws {ConnectionClosedError} When the connection cannot be opened or closes first.
   * @throws {RequestTimeoutError} When no answer comes in time.
   */
  request(address: string, request: RemotingRequest): Promise<Command> {
    if (this.#signer === undefined && !this.#closed) {
      const ready = this.#ready.get(this.#key(address, request.lane));
      if (ready !== undefined && !ready.closed) {
        return ready.request(request.code, request.header, request.body, request.timeoutMs ?? this.#requestTimeoutMs);
      }
    }
    return this.#request(address, request);
  }

  #key(address: string, lane = 0): string {
    const index = lane === 0 ? 0 : Math.abs(Math.trunc(lane)) % this.#lanes;
    if (index === 0) return address;
    // Built once an address: a key made per request is a string to build and hash each time.
    let keys = this.#laneKeys.get(address);
    if (keys === undefined) {
      keys = Array.from({ length: this.#lanes }, (_, i) => i === 0 ? address : `${address}#${i}`);
      this.#laneKeys.set(address, keys);
    }
    return keys[index]!;
  }

  async #request(address: string, request: RemotingRequest): Promise<Command> {
    if (this.#signer !== undefined) {
      const [connection, header] = await Promise.all([
        this.connection(address, request.lane),
        this.#signer.sign(request.code, request.header, request.body),
      ]);
      return await connection.request(request.code, header, request.body, request.timeoutMs ?? this.#requestTimeoutMs);
    }
    const connection = await this.connection(address, request.lane);
    return await connection.request(request.code, request.header, request.body, request.timeoutMs ?? this.#requestTimeoutMs);
  }

  /**
   * Sends a request and returns the response when its code is accepted.
   *
   * @param address The server.
   * @param request Code, header, body, timeout and accepted response codes.
   * @returns The response.
   * @throws {BrokerError} When the response code is not accepted.
   * @throws {ConnectionClosedError} When the connection cannot be opened or closes first.
   * @throws {RequestTimeoutError} When no answer comes in time.
   */
  invoke(address: string, request: InvokeRequest): Promise<Command> {
    const accept = request.accept ?? SUCCESS_ONLY;
    return this.request(address, request).then((response) => checkAccepted(response, accept, address, request.code));
  }

  /**
   * Sends a request that gets no answer. Resolves once the request is queued on the connection.
   *
   * @param address The server.
   * @param request Code, header and body.
   * @throws {ConnectionClosedError} When the connection cannot be opened.
   */
  async oneway(address: string, request: RemotingRequest): Promise<void> {
    const signing = this.#signer?.sign(request.code, request.header, request.body);
    const connection = await this.connection(address, request.lane);
    const header = signing === undefined ? request.header : await signing;
    if (connection.closed) throw new ConnectionClosedError(`Connection to ${address} is closed`);
    connection.oneway(request.code, header, request.body);
    await connection.writable();
  }

  /**
   * Closes the connections to one address (the next request opens new ones).
   *
   * @param address The server.
   */
  async closeConnection(address: string): Promise<void> {
    const keys = [...this.#connections.keys()].filter((key) => key === address || key.startsWith(`${address}#`));
    await Promise.all(keys.map((key) => this.#closeKey(key)));
  }

  /** Closes every connection; later requests fail with `ClientError`. */
  async shutdown(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#connections.keys()].map((key) => this.#closeKey(key)));
  }

  async #closeKey(key: string): Promise<void> {
    const opening = this.#connections.get(key);
    this.#ready.delete(key);
    if (opening === undefined) return;
    this.#connections.delete(key);
    try {
      (await opening).close();
    } catch {
      // It never opened.
    }
  }

  async #open(address: string, key: string): Promise<Connection> {
    try {
      const connection = await connect(this.#dial, address, {
        maxFrameSize: this.#maxFrameSize,
        requestTimeoutMs: this.#requestTimeoutMs,
        connectTimeoutMs: this.#connectTimeoutMs,
        onRequest: this.#onRequest,
        onClose: (connection) => this.#forget(key, connection),
      });
      if (this.#closed) {
        connection.close();
        throw new ClientError("Client is shut down");
      }
      return connection;
    } catch (error) {
      if (error instanceof ConnectionClosedError || error instanceof ClientError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConnectionClosedError(`Cannot connect to ${address}: ${reason}`, { cause: error });
    }
  }

  /** Drops a closed connection from the pool, unless a newer one already replaced it. */
  #forget(key: string, closed: Connection): void {
    if (this.#ready.get(key) === closed) this.#ready.delete(key);
    const current = this.#connections.get(key);
    if (current === undefined) return;
    current.then((connection) => {
      if (connection === closed && this.#connections.get(key) === current) this.#connections.delete(key);
    }, () => {});
  }
}
