/**
 * A slave's copy of its master's state besides messages (RocketMQ's `SlaveSynchronize`): topic
 * configs, consumer offsets and delay-level progress, fetched over the master's client port when
 * the replication link comes up and every 10 s, so a consumer that switches to the slave resumes
 * near where it was.
 *
 * @module
 */
import * as v from "valibot";
import { type Credentials, RequestSigner } from "../../core/auth/signing.ts";
import type { Header } from "../../core/protocol/command.ts";
import { DelayOffsetTable, OffsetTable, TopicConfig } from "../../core/protocol/headers.ts";
import { EpochTable } from "../../core/protocol/controller.ts";
import type { EpochFile } from "./epoch_file.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import type { Log } from "../logger.ts";

const TopicConfigs = v.object({ topicConfigs: v.record(v.string(), TopicConfig) });

/**
 * The broker's metadata a slave keeps as copies of its master's, handed in by the broker so that
 * replication depends on no broker module: each `replace…` takes the master's whole table.
 */
export interface ReplicatedMetadata {
  /** Replaces the topic table (saving it when it changed). */
  replaceTopics(configs: readonly TopicConfig[]): Promise<void>;
  /** Replaces every group's committed offsets (saved by `persist`). */
  replaceOffsets(offsets: OffsetTable["offsets"]): void;
  /** Replaces the delay levels' delivery progress (saved by `persist`). */
  replaceDelayOffsets(offsets: DelayOffsetTable["offsets"]): void;
  /** Saves the offsets and delay progress that changed. */
  persist(): Promise<void>;
  /** Whether the topic table holds `topic`. */
  hasTopic(topic: string): boolean;
}

/** Options of `SlaveSync`. */
export interface SlaveSyncOptions {
  /** Dials the master's client port (TLS when the cluster uses it). */
  dial: Dialer;
  /** Where the copies go. */
  metadata: ReplicatedMetadata;
  /** Controller mode: the epochs file, kept as a copy of the master's (GET_BROKER_EPOCH_CACHE). @default none */
  epochs?: EpochFile;
  /** The account requests are signed with when the master enforces ACL (they need the admin right). */
  credentials?: () => Credentials | undefined;
  /** @default 10000 */
  intervalMs?: number;
  log: Log;
}

/** What the last sync did, for admin views. */
export interface SlaveSyncStatus {
  lastSyncAt: number | null;
  lastError: string | null;
}

/** Copies topics, consumer offsets and delay offsets from the master periodically. */
export class SlaveSync {
  readonly #o: SlaveSyncOptions;
  #master: string | undefined;
  #connection: Promise<Connection> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #signer: RequestSigner | undefined;
  #lastSyncAt: number | undefined;
  #lastError: string | undefined;
  #closed = false;

  /** @param options Where to copy to and how to reach the master. */
  constructor(options: SlaveSyncOptions) {
    this.#o = options;
  }

  /** Starts the periodic copy (it does nothing until `setMaster`). */
  start(): void {
    this.#timer ??= setInterval(() => void this.syncNow(), this.#o.intervalMs ?? 10_000);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /**
   * Names the master's client address (from the replication link) and copies from it now.
   *
   * @param address `host:port` of the master's client listener.
   */
  setMaster(address: string): void {
    if (address !== this.#master) {
      this.#master = address;
      void this.#connection?.then((c) => c.close(), () => {});
      this.#connection = undefined;
    }
    void this.syncNow();
  }

  /** The last copy's time and error. */
  status(): SlaveSyncStatus {
    return { lastSyncAt: this.#lastSyncAt ?? null, lastError: this.#lastError ?? null };
  }

  /**
   * Copies now; when a copy is under way, once more after it (it may have read the master before
   * whatever prompted this call). Failures are logged, never thrown.
   */
  syncNow(): Promise<void> {
    if (this.#master === undefined || this.#closed) return Promise.resolve();
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#sync(this.#master!);
      } while (this.#again && !this.#closed);
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #sync(master: string): Promise<void> {
    try {
      const topics = await this.#request(master, RequestCode.GET_ALL_TOPIC_CONFIG, TopicConfigs);
      const offsets = await this.#request(master, RequestCode.GET_ALL_CONSUMER_OFFSET, OffsetTable);
      const delays = await this.#request(master, RequestCode.GET_ALL_DELAY_OFFSET, DelayOffsetTable);
      const epochs = this.#o.epochs === undefined ? undefined : await this.#request(master, RequestCode.GET_BROKER_EPOCH_CACHE, EpochTable);
      if (this.#closed) return;
      const metadata = this.#o.metadata;
      await metadata.replaceTopics(Object.values(topics.topicConfigs));
      metadata.replaceOffsets(offsets.offsets);
      metadata.replaceDelayOffsets(delays.offsets);
      await metadata.persist();
      if (epochs !== undefined) await this.#o.epochs!.adopt(epochs.epochs);
      if (this.#lastError !== undefined) this.#o.log(`Copying topics and offsets from master ${master} works again`, "info");
      this.#lastError = undefined;
      this.#lastSyncAt = Date.now();
    } catch (error) {
      const message = `Cannot copy topics and offsets from master ${master}: ${(error as Error).message}`;
      if (message !== this.#lastError) this.#o.log(message, "error");
      this.#lastError = message;
    }
  }

  async #request<T>(master: string, code: number, schema: v.GenericSchema<unknown, T>): Promise<T> {
    const connection = await this.#connect(master);
    const response = await connection.request(code, await this.#sign(code, {}), undefined, 5000);
    if (response.code !== ResponseCode.SUCCESS) {
      throw new Error(`request ${code} answered ${response.code}: ${response.remark ?? "no remark"}`);
    }
    const parsed = v.safeParse(schema, response.header);
    if (!parsed.success) throw new Error(`request ${code} answered a malformed table: ${v.summarize(parsed.issues)}`);
    return parsed.output;
  }

  #connect(master: string): Promise<Connection> {
    const existing = this.#connection;
    if (existing !== undefined) {
      return existing.then((c) => (c.closed ? this.#reconnect(master) : c), () => this.#reconnect(master));
    }
    return this.#reconnect(master);
  }

  #reconnect(master: string): Promise<Connection> {
    const connection = connect(this.#o.dial, master);
    this.#connection = connection;
    connection.catch(() => {
      if (this.#connection === connection) this.#connection = undefined;
    });
    return connection;
  }

  async #sign(code: number, header: Header): Promise<Header> {
    const credentials = this.#o.credentials?.();
    if (credentials === undefined) return header;
    this.#signer ??= new RequestSigner(credentials);
    return await this.#signer.sign(code, header);
  }

  /** Stops copying and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.then((c) => c.close(), () => {});
  }
}
