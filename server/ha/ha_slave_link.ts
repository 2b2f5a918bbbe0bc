/**
 * The master's end of one slave's replication link (RocketMQ's `HAConnection`): authenticates the
 * slave (see `ha_auth.ts`) before it learns anything, checks its `HELLO`, streams CommitLog chunks
 * from the offset it asked for, and tracks the offset it acknowledged. Anything the peer sends that
 * is not the protocol drops the link with a log line; the master keeps serving.
 *
 * @module
 */
import { importHmacKey } from "../../core/auth/signing.ts";
import type { Transport, TransportHandlers } from "../../core/remoting/transport.ts";
import type { LogLevel } from "../logger.ts";
import type { MessageStore } from "../store/message_store.ts";
import { type HaMasterAuth, masterSecret, newNonce, proveKey, requiresAuth, verifyKeyProof } from "./ha_auth.ts";
import {
  encodeChallenge,
  encodeData,
  encodeHello,
  encodeRefuse,
  encodeWelcome,
  HA_PROTOCOL_VERSION,
  type HaFrame,
  HaAuthKind,
  HaFrameDecoder,
  HaFrameType,
  type HelloFrame,
  MAX_SLAVE_FRAME,
} from "./ha_protocol.ts";

/** Bytes read from the CommitLog per `DATA` frame (a larger record goes alone). */
const CHUNK_BYTES = 1024 * 1024;
/** Bytes sent but not yet acknowledged, at most: bounds the slave's memory and the socket buffer. */
const WINDOW_BYTES = 16 * 1024 * 1024;
/** Bytes waiting in the socket buffer before the link waits for a drain. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** A peer that has not completed the handshake (`HELLO`, and `AUTH` when asked) within this time is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** What a link needs from the master. */
export interface LinkHost {
  readonly store: MessageStore;
  readonly brokerName: string;
  /** The master's client address, told to the slave. */
  readonly clientAddress: string;
  /** What slaves must prove; open (no proof) when it asks for none. */
  readonly auth: HaMasterAuth | undefined;
  log(line: string, level: LogLevel): void;
  /** The link said `WELCOME`. */
  linked(link: SlaveLink): void;
  /** The slave acknowledged more. */
  acked(link: SlaveLink): void;
  /** The link closed. */
  unlinked(link: SlaveLink): void;
}

/** One slave's link, from accept to close. */
export class SlaveLink {
  /** Give these to the listener for this connection. */
  readonly handlers: TransportHandlers;
  /** `host:port` of the peer. */
  readonly remoteAddress: string;
  /** The slave's `HELLO`, once received (its identity is only a claim until the link is live). */
  hello: HelloFrame | undefined;
  /** The slave holds every CommitLog byte below this. */
  ackOffset = 0;
  /** The next byte to send. */
  sendOffset = 0;
  /** When the link was accepted (`WELCOME` sent), ms since the epoch. */
  connectedAt = 0;
  readonly #host: LinkHost;
  readonly #transport: Transport;
  readonly #decoder = new HaFrameDecoder({ maxFrameSize: MAX_SLAVE_FRAME });
  readonly #handshakeTimer: ReturnType<typeof setTimeout>;
  /** `hello`: waiting for HELLO; `auth`: CHALLENGE sent, waiting for AUTH; `verifying`: checking it. */
  #state: "hello" | "auth" | "verifying" | "live" = "hello";
  /** The shared key and what the proofs cover, while authenticating. */
  #challenge: { key: Promise<CryptoKey>; hello: Uint8Array; nonce: Uint8Array } | undefined;
  /** The slave proved the key (or the master is open). */
  #authenticated = false;
  #lastSendAt = 0;
  #closed = false;

  /**
   * @param host The master.
   * @param transport The accepted socket.
   */
  constructor(host: LinkHost, transport: Transport) {
    this.#host = host;
    this.#transport = transport;
    this.remoteAddress = transport.remoteAddress;
    this.#handshakeTimer = setTimeout(
      () => this.drop(`did not complete the handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`),
      HANDSHAKE_TIMEOUT_MS,
    );
    this.handlers = {
      data: (chunk) => this.#receive(chunk),
      close: (error) => this.#closedByPeer(error),
      drain: () => this.pump(),
    };
  }

  /** Whether the slave was accepted (authenticated, `WELCOME` sent) and the link is open. */
  get live(): boolean {
    return this.#state === "live" && !this.#closed;
  }

  /** Whether the handshake is still under way. */
  get pending(): boolean {
    return this.#state !== "live" && !this.#closed;
  }

  /** Describes the slave for log lines (by its claimed id only once it authenticated, or on an open master). */
  get name(): string {
    if (this.hello === undefined) return `Replication peer ${this.remoteAddress}`;
    if (!this.#authenticated) return `Replication peer ${this.remoteAddress} (claiming slave ${this.hello.brokerId})`;
    return `Slave ${this.hello.brokerId} (${this.remoteAddress})`;
  }

  #receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    let frames: HaFrame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.drop(`sent a malformed frame: ${(error as Error).message}`);
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      const expected = this.#state === "hello" ? HaFrameType.HELLO : this.#state === "auth" ? HaFrameType.AUTH : this.#state === "live" ? HaFrameType.REPORT : undefined;
      if (frame.type !== expected) {
        const what = this.#state === "hello" ? "before HELLO" : this.#state === "live" ? "where a REPORT was expected" : "where AUTH was expected";
        this.drop(`sent frame type 0x${frame.type.toString(16)} ${this.#state === "verifying" ? "before its AUTH was checked" : what}`);
        return;
      }
      if (frame.type === HaFrameType.HELLO) this.#onHello(frame);
      else if (frame.type === HaFrameType.AUTH) void this.#onAuth(frame.proof);
      else if (frame.type === HaFrameType.REPORT) this.#onReport(frame.offset);
    }
  }

  #onHello(hello: HelloFrame): void {
    this.hello = hello;
    const auth = this.#host.auth;
    if (!requiresAuth(auth)) {
      this.#authenticated = true;
      if (hello.authKind !== HaAuthKind.NONE) {
        this.drop("offers a proof, but this master accepts slaves without authentication: give the master the same cluster secret (cluster.secretFile)");
        return;
      }
      this.#accept(hello);
      return;
    }
    if (hello.version !== HA_PROTOCOL_VERSION) {
      this.drop(`speaks replication protocol version ${hello.version}, this master ${HA_PROTOCOL_VERSION}`);
      return;
    }
    const secret = masterSecret(auth!, hello);
    if ("refusal" in secret) {
      this.drop(secret.refusal);
      return;
    }
    const key = importHmacKey(secret.secret);
    const challenge = { key, hello: encodeHello(hello), nonce: newNonce() };
    this.#challenge = challenge;
    this.#state = "auth";
    key.then((k) => proveKey(k, "master", challenge.hello, challenge.nonce)).then(
      (proof) => {
        if (!this.#closed) this.#send(encodeChallenge(challenge.nonce, proof));
      },
      (error) => this.drop(`cannot be challenged: ${(error as Error).message}`),
    );
  }

  async #onAuth(proof: Uint8Array): Promise<void> {
    const challenge = this.#challenge!;
    this.#state = "verifying";
    let right = false;
    try {
      right = await verifyKeyProof(await challenge.key, "slave", challenge.hello, challenge.nonce, proof);
    } catch {
      right = false;
    }
    if (this.#closed) return;
    if (!right) {
      const what = this.hello!.authKind === HaAuthKind.ACCOUNT ? `the secret key of account "${this.hello!.accessKey}"` : "the cluster secret";
      this.drop(`failed authentication: its proof of ${what} is wrong`);
      return;
    }
    this.#authenticated = true;
    this.#accept(this.hello!);
  }

  /** Checks the slave's identity and offset (after it authenticated, or on an open master) and welcomes it. */
  #accept(hello: HelloFrame): void {
    clearTimeout(this.#handshakeTimer);
    const { store, brokerName } = this.#host;
    const stats = store.stats;
    const end = stats.visibleOffset;
    let refusal: string | undefined;
    let start = hello.offset;
    if (hello.version !== HA_PROTOCOL_VERSION) {
      refusal = `speaks replication protocol version ${hello.version}, this master ${HA_PROTOCOL_VERSION}`;
    } else if (hello.brokerName !== brokerName) {
      refusal = `belongs to broker group "${hello.brokerName}", this master to "${brokerName}"`;
    } else if (hello.brokerId === 0) {
      refusal = "has brokerId 0, which is the master's; a slave needs brokerId 1 or more";
    } else if (hello.segmentSize !== store.commitLogSegmentSize) {
      refusal = `uses CommitLog segments of ${hello.segmentSize} bytes, this master ${store.commitLogSegmentSize}: ` +
        "set the same commitLogSegmentSize on both";
    } else if (hello.offset > end) {
      refusal = `holds CommitLog bytes up to ${hello.offset}, past this master's end ${end}: its CommitLog is not a copy of ` +
        "this master's; move the slave's store directory aside to copy the master afresh";
    } else if (hello.offset < stats.commitLogMinOffset) {
      if (hello.offset === 0) start = stats.commitLogMinOffset;
      else {
        refusal = `needs CommitLog offset ${hello.offset}, but this master deleted everything below ${stats.commitLogMinOffset} ` +
          "(retention, fileReservedTimeHours): the slave cannot catch up; move its store directory aside to copy the master " +
          `from ${stats.commitLogMinOffset}`;
      }
    }
    if (refusal === undefined && start < end) {
      try {
        store.readReplica(start, 64);
      } catch (error) {
        refusal = `asked for CommitLog offset ${start}, which is not a record boundary on this master: ${(error as Error).message}`;
      }
    }
    if (refusal !== undefined) {
      this.drop(refusal);
      return;
    }
    this.#state = "live";
    this.ackOffset = start;
    this.sendOffset = start;
    this.connectedAt = Date.now();
    this.#send(encodeWelcome({
      version: HA_PROTOCOL_VERSION,
      startOffset: start,
      masterOffset: end,
      masterAddress: this.#host.clientAddress,
    }));
    this.#host.log(`${this.name} of "${brokerName}" connected; replicating from CommitLog offset ${start} (master at ${end})`, "info");
    this.#host.linked(this);
    this.pump();
  }

  #onReport(offset: number): void {
    if (offset > this.sendOffset) {
      this.drop(`acknowledged CommitLog offset ${offset}, past what was sent (${this.sendOffset})`);
      return;
    }
    if (offset < this.ackOffset) {
      this.drop(`acknowledged CommitLog offset ${offset}, below its earlier acknowledgement ${this.ackOffset}`);
      return;
    }
    if (offset === this.ackOffset) return;
    this.ackOffset = offset;
    this.#host.acked(this);
    this.pump();
  }

  /** Sends what is new, while the window and the socket buffer have room. */
  pump(): void {
    if (!this.live) return;
    const store = this.#host.store;
    while (this.#transport.bufferedAmount < HIGH_WATER_BYTES && this.sendOffset - this.ackOffset < WINDOW_BYTES) {
      let chunk;
      try {
        chunk = store.readReplica(this.sendOffset, CHUNK_BYTES);
      } catch (error) {
        this.drop(`cannot be served: ${(error as Error).message}`);
        return;
      }
      if (chunk.bytes.length === 0) return;
      this.#send(encodeData(chunk.offset, store.stats.visibleOffset, chunk.bytes));
      this.sendOffset = chunk.next;
    }
  }

  /** Sends an empty `DATA` frame when nothing was sent for a second, so the slave sees the master's end. */
  heartbeat(now: number): void {
    if (!this.live || now - this.#lastSendAt < 1000) return;
    this.#send(encodeData(this.sendOffset, this.#host.store.stats.visibleOffset, new Uint8Array(0)));
  }

  #send(bytes: Uint8Array): void {
    this.#lastSendAt = Date.now();
    this.#transport.write(bytes);
  }

  /**
   * Closes the link with a log line and a `REFUSE` naming the reason.
   *
   * @param reason What the peer did wrong (a sentence fragment after its name).
   */
  drop(reason: string): void {
    if (this.#closed) return;
    this.#host.log(`${this.name} dropped: it ${reason}`, "warn");
    this.#transport.write(encodeRefuse(`${this.hello === undefined ? "The peer" : `Slave ${this.hello.brokerId}`} ${reason}`));
    this.close();
  }

  /** Closes the link without a word (master shutdown, a newer link of the same slave). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#handshakeTimer);
    this.#transport.close();
    this.#host.unlinked(this);
  }

  #closedByPeer(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#handshakeTimer);
    if (this.#state === "live") {
      this.#host.log(`${this.name} disconnected${error === undefined ? "" : `: ${error.message}`} (acknowledged up to ${this.ackOffset})`, "warn");
    }
    this.#host.unlinked(this);
  }
}
