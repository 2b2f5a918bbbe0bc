/**
 * The broker's topics: their queue counts and permissions, persisted atomically.
 *
 * @module
 */
import * as v from "valibot";
import { AUTO_CREATE_TOPIC_KEY, Perm } from "../../core/protocol/request_code.ts";
import { TopicConfig } from "../../core/protocol/headers.ts";
import type { JsonFile } from "../store/json_file.ts";

/** The persisted topic table. */
export type TopicTable = v.InferOutput<typeof TopicTable>;

/** Schema of the persisted topic table. */
export const TopicTable = v.object({ version: v.number(), topics: v.record(v.string(), TopicConfig) });

/** Options of `TopicConfigManager`. */
export interface TopicConfigManagerOptions {
  /** Create unknown topics on first send. @default false */
  autoCreateTopicEnable?: boolean;
  /** Queues of the auto-create template topic (`TBW102`). @default 8 */
  defaultTopicQueueNums?: number;
}

/** Holds the topic table and saves it on every change. */
export class TopicConfigManager {
  readonly #file: JsonFile<TopicTable>;
  readonly #topics = new Map<string, TopicConfig>();
  readonly #options: TopicConfigManagerOptions;
  #version = 0;
  /** Called after any change (the broker re-registers with NameServers). */
  onChange: (() => void) | undefined;

  /**
   * @param file Where the table lives.
   * @param options Auto-creation settings.
   */
  constructor(file: JsonFile<TopicTable>, options: TopicConfigManagerOptions = {}) {
    this.#file = file;
    this.#options = options;
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
    if (loaded?.source === "backup") return `Topic table restored from its backup: ${loaded.mainError?.message}`;
    return undefined;
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
   */
  async put(config: TopicConfig): Promise<void> {
    this.#topics.set(config.topicName, config);
    await this.#save();
  }

  /**
   * Creates a topic on first send from the template, RocketMQ-style.
   *
   * @param topic The new topic.
   * @param queueNums Queues the producer asked for.
   * @returns The new config, or undefined when auto-creation is off.
   */
  async autoCreate(topic: string, queueNums: number): Promise<TopicConfig | undefined> {
    const existing = this.#topics.get(topic);
    if (existing !== undefined) return existing;
    const template = this.#topics.get(AUTO_CREATE_TOPIC_KEY);
    if (template === undefined || (template.perm & Perm.INHERIT) === 0) return undefined;
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
    await this.#save();
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
      await this.#save();
    } catch (error) {
      // A delete that could not be saved changes nothing.
      this.#topics.set(topic, config);
      throw error;
    }
    return true;
  }

  async #save(): Promise<void> {
    this.#version++;
    const topics: Record<string, TopicConfig> = {};
    for (const [name, config] of this.#topics) if (name !== AUTO_CREATE_TOPIC_KEY) topics[name] = config;
    await this.#file.save({ version: this.#version, topics });
    this.onChange?.();
  }
}
