/**
 * The broker's topics: their queue counts and permissions. With a journal, each change is appended
 * to it (one line, one fsync) and the whole table is rewritten only once the journal holds about
 * half as many changes as the table has topics (at least 1,024); without one, every change
 * rewrites the table atomically. Changes that arrive while a write runs share the next write (group
 * commit). The table holds at most `maxTopicCount` topics, and auto-creation is rate-limited.
 *
 * @module
 */
import * as v from "valibot";
import { AUTO_CREATE_TOPIC_KEY, Perm, ResponseCode } from "../../core/protocol/request_code.ts";
import { TopicConfig, TopicName } from "../../core/protocol/headers.ts";
import type { JsonFile } from "../store/json_file.ts";
import type { JsonJournal } from "../store/json_journal.ts";
import { StateFileError } from "./state_files.ts";

/** The persisted topic table. */
export interface TopicTable {
  version: number;
  topics: Record<string, TopicConfig>;
}

/** Schema of the persisted topic table. */
export const TopicTable: v.GenericSchema<unknown, TopicTable> = v.object({ version: v.number(), topics: v.record(v.string(), TopicConfig) });

/** One change to the topic table. */
export type TopicChange = { put: TopicConfig } | { delete: string };

/** One change to the topic table, as the journal keeps it. */
export const TopicChange: v.GenericSchema<unknown, TopicChange> = v.union([v.strictObject({ put: TopicConfig }), v.strictObject({ delete: TopicName })]);

/** The journal is folded into a new snapshot once it holds this many changes, or half the table's size if larger. */
const MIN_COMPACT_ENTRIES = 1024;

/** Most topics a broker holds unless configured otherwise. */
export const DEFAULT_MAX_TOPIC_COUNT = 100_000;

/** Topics auto-created per second (and in one burst) unless configured otherwise. */
export const DEFAULT_AUTO_CREATE_TOPIC_RATE = 100;

/** Options of `TopicConfigManager`. */
export interface TopicConfigManagerOptions {
  /** Create unknown topics on first send. @default false */
  autoCreateTopicEnable?: boolean;
  /** Queues of the auto-create template topic (`TBW102`). @default 8 */
  defaultTopicQueueNums?: number;
  /** Most topics the table holds (retry and dead-letter topics count); creating more is refused. @default DEFAULT_MAX_TOPIC_COUNT */
  maxTopicCount?: number;
  /** Topics auto-created per second at most (also the burst); more sends to new topics get SYSTEM_BUSY. @default DEFAULT_AUTO_CREATE_TOPIC_RATE */
  autoCreateTopicRate?: number;
  /** The broker's name, for refusals. @default "broker" */
  brokerName?: string;
  /** The clock, in ms. @default Date.now */
  now?: () => number;
  /** Where changes are appended between snapshots. @default none: every change rewrites the table */
  journal?: JsonJournal<TopicChange>;
}

/** Why a send's auto-creation created nothing: answer this. */
export interface TopicRefusal {
  code: number;
  remark: string;
}

/** Holds the topic table and saves it on every change. */
export class TopicConfigManager {
  readonly #file: JsonFile<TopicTable>;
  readonly #topics = new Map<string, TopicConfig>();
  readonly #options: TopicConfigManagerOptions;
  readonly #maxTopics: number;
  readonly #rate: number;
  readonly #now: () => number;
  #version = 0;
  /** The write under way (resolved when none). */
  #writing: Promise<void> = Promise.resolve();
  /** The next write, shared by every change made while `#writing` runs. */
  #queued: Promise<void> | undefined;
  /** Changes the next write carries (to the journal). */
  #changes: TopicChange[] = [];
  /** The next write must be a snapshot (the table was replaced). */
  #snapshotNext = false;
  /** Auto-creation tokens (a bucket of `#rate`, refilled at `#rate` per second). */
  #tokens: number;
  #tokensAt: number;
  /** Called after any change is saved (the broker re-registers with NameServers). */
  onChange: (() => void) | undefined;

  /**
   * @param file Where the table lives.
   * @param options Auto-creation settings and limits.
   */
  constructor(file: JsonFile<TopicTable>, options: TopicConfigManagerOptions = {}) {
    this.#file = file;
    this.#options = options;
    this.#maxTopics = options.maxTopicCount ?? DEFAULT_MAX_TOPIC_COUNT;
    this.#rate = options.autoCreateTopicRate ?? DEFAULT_AUTO_CREATE_TOPIC_RATE;
    this.#now = options.now ?? Date.now;
    this.#tokens = this.#rate;
    this.#tokensAt = this.#now();
  }

  /** Topics in the table (the template topic not counted). */
  get size(): number {
    return this.#topics.size - (this.#topics.has(AUTO_CREATE_TOPIC_KEY) ? 1 : 0);
  }

  /**
   * Loads the persisted table (a missing file is an empty table) and adds the template topic.
   *
   * @returns A warning when the last-good backup had to be used.
   */
  load(): string | undefined {
    const loaded = this.#file.load();
    if (loaded !== undefined) {
      this.#version = loaded.value.version;
      for (const [name, config] of Object.entries(loaded.value.topics)) this.#topics.set(name, config);
    }
    const warnings: string[] = [];
    if (loaded?.source === "backup") warnings.push(`Topic table restored from its backup: ${loaded.mainError?.message}`);
    const journal = this.#options.journal;
    if (journal !== undefined) {
      let read;
      try {
        read = journal.read();
      } catch (error) {
        throw new StateFileError(
          `${(error as Error).message}. Refusing to start rather than lose the topic changes after it. To recover, restore the ` +
            `journal from a backup, or cut it before that line (every change it still holds is then kept)`,
          { cause: error },
        );
      }
      for (const change of read.entries) {
        if ("put" in change) this.#topics.set(change.put.topicName, change.put);
        else this.#topics.delete(change.delete);
      }
      this.#version += read.entries.length;
      if (read.tornTail) warnings.push(`Topic journal "${journal.path}" ended in a torn line (a change cut off by a crash, never acknowledged): ignored`);
    }
    if (this.#options.autoCreateTopicEnable) {
      const n = this.#options.defaultTopicQueueNums ?? 8;
      this.#topics.set(AUTO_CREATE_TOPIC_KEY, {
        topicName: AUTO_CREATE_TOPIC_KEY,
        readQueueNums: n,
        writeQueueNums: n,
        perm: Perm.READ | Perm.WRITE | Perm.INHERIT,
        order: false,
      });
    } else {
      this.#topics.delete(AUTO_CREATE_TOPIC_KEY);
    }
    return warnings.length === 0 ? undefined : warnings.join("; ");
  }

  /** Whether unknown topics are created on first send. */
  get autoCreateTopicEnable(): boolean {
    return this.#options.autoCreateTopicEnable ?? false;
  }

  /** Bumped on every change. */
  get version(): number {
    return this.#version;
  }

  /**
   * @param topic The topic name.
   * @returns Its config, if the broker serves it.
   */
  get(topic: string): TopicConfig | undefined {
    return this.#topics.get(topic);
  }

  /** Every topic, template included. */
  all(): TopicConfig[] {
    return [...this.#topics.values()];
  }

  /**
   * Creates or updates a topic and saves the table.
   *
   * @param config The topic's config.
   * @throws {RangeError} When the topic is new and the table holds `maxTopicCount` topics.
   */
  async put(config: TopicConfig): Promise<void> {
    const refusal = this.#full(config.topicName);
    if (refusal !== undefined) throw new RangeError(refusal);
    this.#topics.set(config.topicName, config);
    await this.#save({ put: config });
  }

  /** The refusal of a new topic when the table is full. */
  #full(topic: string): string | undefined {
    if (this.#topics.has(topic) || this.size < this.#maxTopics) return undefined;
    return `Cannot create topic "${topic}": broker "${this.#options.brokerName ?? "broker"}" already holds ${this.size} topics, ` +
      `its maximum (broker.maxTopicCount); delete unused topics or raise the limit`;
  }

  /** Takes an auto-creation token; false when the rate is exhausted. */
  #takeToken(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#tokensAt) / 1000) * this.#rate);
    this.#tokensAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /**
   * Creates a topic on first send from the template, RocketMQ-style, within the topic cap and the
   * auto-creation rate.
   *
   * @param topic The new topic.
   * @param queueNums Queues the producer asked for.
   * @returns The new config, undefined when auto-creation is off, or a refusal to answer (the
   *   table is full, or too many topics were auto-created this second).
   */
  async autoCreate(topic: string, queueNums: number): Promise<TopicConfig | TopicRefusal | undefined> {
    const existing = this.#topics.get(topic);
    if (existing !== undefined) return existing;
    const template = this.#topics.get(AUTO_CREATE_TOPIC_KEY);
    if (template === undefined || (template.perm & Perm.INHERIT) === 0) return undefined;
    const full = this.#full(topic);
    if (full !== undefined) return { code: ResponseCode.SYSTEM_ERROR, remark: full };
    if (!this.#takeToken()) {
      return {
        code: ResponseCode.SYSTEM_BUSY,
        remark: `Not creating topic "${topic}" now: more than ${this.#rate} topics were auto-created in the last second ` +
          "(broker.autoCreateTopicRate); retry later, or create topics ahead with rmq topic create",
      };
    }
    const n = Math.min(queueNums, template.writeQueueNums);
    const config: TopicConfig = {
      topicName: topic,
      readQueueNums: n,
      writeQueueNums: n,
      perm: template.perm & ~Perm.INHERIT,
      order: false,
    };
    await this.put(config);
    return config;
  }

  /**
   * Creates a broker-owned topic (a group's retry or dead-letter topic) unless it exists, the way
   * RocketMQ does on heartbeat and send-back.
   *
   * @param topic The topic.
   * @param queueNums Its read and write queue count.
   * @param perm Its permission bits (`Perm`).
   * @returns The existing or new config.
   * @throws {RangeError} When the topic is new and the table holds `maxTopicCount` topics.
   */
  async ensure(topic: string, queueNums: number, perm: number): Promise<TopicConfig> {
    const existing = this.#topics.get(topic);
    if (existing !== undefined) return existing;
    const config: TopicConfig = { topicName: topic, readQueueNums: queueNums, writeQueueNums: queueNums, perm, order: false };
    await this.put(config);
    return config;
  }

  /**
   * Replaces every topic with a master's table (a slave's periodic copy). The template topic stays
   * as this broker configures it.
   *
   * @param configs The master's topics.
   * @returns Whether anything changed; the table is saved only then.
   */
  async replaceAll(configs: readonly TopicConfig[]): Promise<boolean> {
    const next = new Map(configs.filter((c) => c.topicName !== AUTO_CREATE_TOPIC_KEY).map((c) => [c.topicName, c]));
    const current = [...this.#topics.values()].filter((c) => c.topicName !== AUTO_CREATE_TOPIC_KEY);
    const same = current.length === next.size && current.every((c) => {
      const other = next.get(c.topicName);
      return other !== undefined && other.readQueueNums === c.readQueueNums && other.writeQueueNums === c.writeQueueNums &&
        other.perm === c.perm && other.order === c.order && other.retentionHours === c.retentionHours;
    });
    if (same) return false;
    const template = this.#topics.get(AUTO_CREATE_TOPIC_KEY);
    this.#topics.clear();
    for (const [name, config] of next) this.#topics.set(name, config);
    if (template !== undefined) this.#topics.set(AUTO_CREATE_TOPIC_KEY, template);
    await this.#save(undefined);
    return true;
  }

  /**
   * Deletes a topic and saves the table.
   *
   * @param topic The topic.
   * @returns Whether it existed.
   */
  async delete(topic: string): Promise<boolean> {
    const config = this.#topics.get(topic);
    if (config === undefined) return false;
    this.#topics.delete(topic);
    try {
      await this.#save({ delete: topic });
    } catch (error) {
      // A delete that could not be saved changes nothing.
      this.#topics.set(topic, config);
      throw error;
    }
    return true;
  }

  /**
   * Persists a change (`undefined`: the whole table was replaced). Once the write under way (if
   * any) is done, one write carries every change made until it starts: an append to the journal,
   * or a snapshot of the table when there is no journal, it grew past its bound, or the table was
   * replaced. Resolves once a write covering this change is durable.
   */
  #save(change: TopicChange | undefined): Promise<void> {
    this.#version++;
    if (change === undefined) this.#snapshotNext = true;
    else this.#changes.push(change);
    this.#queued ??= this.#writing.catch(() => {}).then(() => {
      this.#queued = undefined;
      const write = this.#write();
      this.#writing = write;
      return write;
    }).then(() => this.onChange?.());
    return this.#queued;
  }

  async #write(): Promise<void> {
    const changes = this.#changes.splice(0);
    const journal = this.#options.journal;
    const snapshot = this.#snapshotNext || journal === undefined ||
      journal.entries + changes.length >= Math.max(MIN_COMPACT_ENTRIES, this.#topics.size / 2);
    this.#snapshotNext = false;
    try {
      if (!snapshot) return await journal!.append(changes);
      const topics: Record<string, TopicConfig> = {};
      for (const [name, config] of this.#topics) if (name !== AUTO_CREATE_TOPIC_KEY) topics[name] = config;
      await this.#file.save({ version: this.#version, topics });
      await journal?.reset();
    } catch (error) {
      this.#snapshotNext = true; // these changes are only in memory: the next write saves the whole table
      throw error;
    }
  }
}
