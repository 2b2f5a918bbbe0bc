/**
 * A slave's replication client (RocketMQ's `HAClient`): connects to the master's HA listener,
 * says where its CommitLog ends, writes every chunk it receives at the same offsets (verified
 * record by record, see `server/store/replica.ts`), acknowledges what it stored, and reconnects
 * with backoff when the link drops.
 *
 * @module
 */
import { importHmacKey } from "../../core/auth/signing.ts";
import type { Dialer, Transport } from "../../core/remoting/transport.ts";
import type { Log, LogLevel } from "../logger.ts";
import type { MessageStore } from "../store/message_store.ts";
import { type HaSlaveCredentials, newNonce, proveKey, verifyKeyProof } from "./ha_auth.ts";
import {
  encodeAuth,
  encodeHello,
  encodeReport,
  HA_PROTOCOL_VERSION,
  HaAuthKind,
  type HaFrame,
  HaFrameDecoder,
  HaFrameType,
  MAX_HANDSHAKE_FRAME,
} from "./ha_protocol.ts";

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;
/** What a link the master closed before answering may mean. */
const CLOSED_EARLY_HINT = "is it a master's HA port? A master with mutual TLS (tls.replicationClientCa) closes the link of a slave whose " +
  "certificate (tls.cert) that CA did not sign, and its log says so";
/** A master that has not welcomed the slave this long after the dial is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Options of `HaSlave`. */
export interface HaSlaveOptions {
  /** Dials the master (TLS when the replication link uses it). */
  dial: Dialer;
  store: MessageStore;
  brokerName: string;
  brokerId: number;
  /** The master's HA address: configured, or learned from the NameServers; undefined until known. A link to another address (or while undefined) takes no more bytes and is dropped. */
  masterHaAddress: () => string | undefined;
  /** Called while no master address is known (the broker re-registers to learn it). */
  onNeedAddress?: () => void;
  /** Called when the master accepted the link, with its client address. */
  onConnected?: (masterAddress: string) => void;
  /**
   * What the slave proves itself with; it then also requires the master to prove the same key
   * before it takes a byte. @default none: only an open master accepts it
   */
  credentials?: () => HaSlaveCredentials | undefined;
  /** How often the stored offset is reported besides after each write. @default 1000 */
  reportIntervalMs?: number;
  log: Log;
}

/** A slave's replication state, for admin views. */
export interface HaSlaveStatus {
  /** The master's HA address in use, if known. */
  masterHaAddress: string | null;
  /** The master's client address, once a link was accepted. */
  masterAddress: string | null;
  connected: boolean;
  /** The slave's CommitLog end. */
  offset: number;
  /** The master's replicable end, as last heard. */
  masterOffset: number;
  /** `masterOffset - offset` (0 when not yet known). */
  lagBytes: number;
  /** Why the last link failed, if it did. */
  lastError: string | null;
}

/** The replication client of a slave. */
export class HaSlave {
  readonly #o: HaSlaveOptions;
  #closed = false;
  #transport: Transport | undefined;
  #connected = false;
  #masterOffset = 0;
  #masterAddress: string | undefined;
  #haAddress: string | undefined;
  #lastError: string | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  /** @param options Master, store and identity. */
  constructor(options: HaSlaveOptions) {
    this.#o = options;
  }

  /** Starts connecting (and reconnecting) to the master. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Replication state for admin views and metrics. */
  status(): HaSlaveStatus {
    const offset = this.#o.store.stats.commitLogMaxOffset;
    return {
      masterHaAddress: this.#haAddress ?? this.#o.masterHaAddress() ?? null,
      masterAddress: this.#masterAddress ?? null,
      connected: this.#connected,
      offset,
      masterOffset: this.#masterOffset,
      lagBytes: Math.max(0, this.#masterOffset - offset),
      lastError: this.#lastError ?? null,
    };
  }

  /** Stops: closes the link and stops reconnecting. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#transport?.close();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!this.#closed) {
      const address = this.#o.masterHaAddress();
      if (address === undefined) {
        this.#fail("No master replication address known yet: set haMasterAddress, or start the master so the NameServers name it", "warn");
        this.#o.onNeedAddress?.();
      } else {
        this.#haAddress = address;
        const welcomed = await this.#session(address);
        if (welcomed) delay = RETRY_MIN_MS;
      }
      if (this.#closed) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /** Whether the link's master is no longer the one to copy from (another is named, or none is yet safe). */
  #stale(address: string): boolean {
    return this.#o.masterHaAddress() !== address;
  }

  #staleReason(address: string): string {
    const current = this.#o.masterHaAddress();
    return current === undefined
      ? `Replication from master ${address} stopped: it is no longer the group's master, and the new one is not yet known to be safe to copy from`
      : `Replication from master ${address} stopped: the group's master is now ${current}`;
  }

  /** Logs a failure once (the same failure again on every retry would flood the log). */
  #fail(message: string, level: LogLevel): void {
    if (message !== this.#lastError) this.#o.log(message, level);
    this.#lastError = message;
  }

  /** One link, from dial to close. @returns whether the master accepted it. */
  async #session(address: string): Promise<boolean> {
    const { store } = this.#o;
    const segmentSize = store.commitLogSegmentSize;
    // Small frames only until WELCOME (which, with credentials, follows the master's proof).
    const decoder = new HaFrameDecoder({
      maxFrameSize: MAX_HANDSHAKE_FRAME,
      upgrade: { after: HaFrameType.WELCOME, maxFrameSize: Math.min(segmentSize, 256 * 1024 * 1024) + 64 },
    });
    const credentials = this.#o.credentials?.();
    const key = credentials === undefined ? undefined : importHmacKey(credentials.kind === "secret" ? credentials.secret : credentials.secretKey);
    const what = credentials?.kind === "account" ? `the secret key of account "${credentials.accessKey}"` : "the cluster secret";
    const helloBytes = encodeHello({
      version: HA_PROTOCOL_VERSION,
      offset: store.stats.commitLogMaxOffset,
      segmentSize,
      brokerId: this.#o.brokerId,
      brokerName: this.#o.brokerName,
      authKind: credentials === undefined ? HaAuthKind.NONE : credentials.kind === "secret" ? HaAuthKind.CLUSTER_SECRET : HaAuthKind.ACCOUNT,
      accessKey: credentials?.kind === "account" ? credentials.accessKey : "",
      nonce: newNonce(),
    });
    let expected = store.stats.commitLogMaxOffset;
    let welcomed = false;
    let challenged = false;
    let failure: string | undefined;
    let chain = Promise.resolve();
    let reportTimer: ReturnType<typeof setInterval> | undefined;
    let handshakeTimer: ReturnType<typeof setTimeout> | undefined;
    let transport: Transport | undefined;
    let closed!: () => void;
    const done = new Promise<void>((resolve) => (closed = resolve));
    const fail = (message: string) => {
      failure ??= message;
      transport?.close();
    };
    const handle = async (frame: HaFrame): Promise<void> => {
      if (frame.type === HaFrameType.REFUSE) {
        failure ??= `Master ${address} refused replication: ${frame.reason}`;
        return;
      }
      if (!welcomed && frame.type === HaFrameType.CHALLENGE) {
        if (key === undefined) {
          fail(`Master ${address} requires authentication: give this slave the cluster secret (cluster.secretFile) or an ACL admin account`);
          return;
        }
        if (challenged) throw new Error("sent a second CHALLENGE");
        challenged = true;
        const k = await key;
        if (!(await verifyKeyProof(k, "master", helloBytes, frame.nonce, frame.proof))) {
          fail(`Master ${address} failed to prove ${what}: the secrets differ, or it is not the real master; nothing was replicated`);
          return;
        }
        transport?.write(encodeAuth(await proveKey(k, "slave", helloBytes, frame.nonce)));
        return;
      }
      if (!welcomed) {
        if (frame.type !== HaFrameType.WELCOME) throw new Error(`sent frame type 0x${frame.type.toString(16)} before WELCOME`);
        if (key !== undefined && !challenged) {
          fail(`Master ${address} accepted the link without proving ${what}: it has none set, or it is not the real master; nothing was replicated`);
          return;
        }
        if (frame.version !== HA_PROTOCOL_VERSION) throw new Error(`speaks protocol version ${frame.version}, this slave ${HA_PROTOCOL_VERSION}`);
        const empty = expected === 0 && frame.startOffset % segmentSize === 0;
        if (frame.startOffset !== expected && !empty) {
          throw new Error(`offered CommitLog offset ${frame.startOffset}, but this slave's log ends at ${expected}`);
        }
        clearTimeout(handshakeTimer);
        expected = frame.startOffset;
        welcomed = true;
        this.#connected = true;
        this.#masterOffset = frame.masterOffset;
        this.#masterAddress = frame.masterAddress;
        this.#lastError = undefined;
        this.#o.log(
          `Replicating from master ${address} (clients: ${frame.masterAddress}) from CommitLog offset ${expected}; master at ${frame.masterOffset}` +
            (key === undefined ? "" : ` (authenticated with ${what})`),
          "info",
        );
        this.#o.onConnected?.(frame.masterAddress);
        reportTimer = setInterval(() => {
          if (this.#stale(address)) fail(this.#staleReason(address));
          else transport?.write(encodeReport(expected));
        }, this.#o.reportIntervalMs ?? 1000);
        return;
      }
      if (frame.type !== HaFrameType.DATA) throw new Error(`sent frame type 0x${frame.type.toString(16)} where DATA was expected`);
      if (frame.offset !== expected) throw new Error(`sent bytes at CommitLog offset ${frame.offset}, expected ${expected}`);
      this.#masterOffset = frame.masterOffset;
      if (frame.bytes.length === 0) return;
      // Bytes of a master no longer named (another was elected) would not continue the new master's log.
      if (this.#stale(address)) {
        fail(this.#staleReason(address));
        return;
      }
      expected = await store.appendReplica(frame.offset, frame.bytes);
      transport?.write(encodeReport(expected));
    };
    try {
      transport = await this.#o.dial(address, {
        data: (chunk) => {
          // A TLS record (alert 0x15 or handshake 0x16, version 3.x) where a frame length should be.
          if (!welcomed && failure === undefined && chunk.length >= 2 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03) {
            fail(`Master ${address} answered with TLS: it serves replication over TLS; give the slave tls.cert and tls.key (and tls.ca) too`);
            return;
          }
          let frames: HaFrame[];
          try {
            frames = decoder.push(chunk);
          } catch (error) {
            fail(`Master ${address} sent a malformed replication frame: ${(error as Error).message}`);
            return;
          }
          for (const frame of frames) {
            chain = chain.then(() => (failure === undefined ? handle(frame) : undefined)).catch((error) => {
              fail(`Replication from master ${address} stopped: it ${(error as Error).message}`);
            });
          }
        },
        close: (error) => {
          if (error !== undefined && failure === undefined) {
            failure = welcomed
              ? `Replication link to master ${address} closed: ${error.message}`
              : `Replication link to master ${address} closed before the master answered: ${error.message}; ${CLOSED_EARLY_HINT}`;
          }
          closed();
        },
      });
    } catch (error) {
      this.#fail(`Cannot connect to master ${address} for replication: ${(error as Error).message}`, "error");
      return false;
    }
    this.#transport = transport;
    if (this.#closed) transport.close();
    handshakeTimer = setTimeout(
      () => fail(`Master ${address} did not complete the replication handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`),
      HANDSHAKE_TIMEOUT_MS,
    );
    transport.write(helloBytes);
    await done;
    await chain;
    clearTimeout(handshakeTimer);
    clearInterval(reportTimer);
    this.#connected = false;
    this.#transport = undefined;
    if (this.#closed) return welcomed;
    // A link that served and then closed is a warning (it reconnects); any other end, an error.
    const level = failure === undefined && welcomed ? "warn" : "error";
    if (failure === undefined) {
      failure = welcomed
        ? `Replication link to master ${address} closed; reconnecting`
        : `Replication link to master ${address} closed before the master answered: ${CLOSED_EARLY_HINT}`;
    }
    this.#fail(failure, level);
    return welcomed;
  }
}
