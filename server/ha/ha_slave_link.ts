/**
 * The master's end of one slave's replication link (RocketMQ's `HAConnection`): checks the
 * slave's `HELLO`, streams CommitLog chunks from the offset it asked for, and tracks the offset it
 * acknowledged. Anything the peer sends that is not the protocol drops the link with a log line;
 * the master keeps serving.
 *
 * @module
 */
import type { Transport, TransportHandlers } from "../../core/remoting/transport.ts";
import type { MessageStore } from "../store/message_store.ts";
import {
  encodeData,
  encodeRefuse,
  encodeWelcome,
  HA_PROTOCOL_VERSION,
  type HaFrame,
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
/** A peer that has not said `HELLO` within this time is dropped. */
export const HELLO_TIMEOUT_MS = 10_000;

/** What a link needs from the master. */
export interface LinkHost {
  readonly store: MessageStore;
  readonly brokerName: string;
  /** The master's client address, told to the slave. */
  readonly clientAddress: string;
  log(line: string): void;
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
  /** The slave's `HELLO`, once received. */
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
  readonly #helloTimer: ReturnType<typeof setTimeout>;
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
    this.#helloTimer = setTimeout(() => this.drop(`no HELLO within ${HELLO_TIMEOUT_MS / 1000} s`), HELLO_TIMEOUT_MS);
    this.handlers = {
      data: (chunk) => this.#receive(chunk),
      close: (error) => this.#closedByPeer(error),
      drain: () => this.pump(),
    };
  }

  /** Whether the slave was accepted and the link is open. */
  get live(): boolean {
    return this.hello !== undefined && !this.#closed;
  }

  /** Describes the slave for log lines. */
  get name(): string {
    return this.hello === undefined ? `Replication peer ${this.remoteAddress}` : `Slave ${this.hello.brokerId} (${this.remoteAddress})`;
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
      if (this.hello === undefined) {
        if (frame.type !== HaFrameType.HELLO) {
          this.drop(`sent frame type 0x${frame.type.toString(16)} before HELLO`);
          return;
        }
        this.#onHello(frame);
      } else if (frame.type === HaFrameType.REPORT) {
        this.#onReport(frame.offset);
      } else {
        this.drop(`sent frame type 0x${frame.type.toString(16)} where a REPORT was expected`);
        return;
      }
    }
  }

  #onHello(hello: HelloFrame): void {
    clearTimeout(this.#helloTimer);
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
    this.hello = hello;
    if (refusal !== undefined) {
      this.drop(refusal);
      return;
    }
    this.ackOffset = start;
    this.sendOffset = start;
    this.connectedAt = Date.now();
    this.#send(encodeWelcome({
      version: HA_PROTOCOL_VERSION,
      startOffset: start,
      masterOffset: end,
      masterAddress: this.#host.clientAddress,
    }));
    this.#host.log(`${this.name} of "${brokerName}" connected; replicating from CommitLog offset ${start} (master at ${end})`);
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
    this.#host.log(`${this.name} dropped: it ${reason}`);
    this.#transport.write(encodeRefuse(`${this.hello === undefined ? "The peer" : `Slave ${this.hello.brokerId}`} ${reason}`));
    this.close();
  }

  /** Closes the link without a word (master shutdown, a newer link of the same slave). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#helloTimer);
    this.#transport.close();
    this.#host.unlinked(this);
  }

  #closedByPeer(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#helloTimer);
    if (this.hello !== undefined) {
      this.#host.log(`${this.name} disconnected${error === undefined ? "" : `: ${error.message}`} (acknowledged up to ${this.ackOffset})`);
    }
    this.#host.unlinked(this);
  }
}
