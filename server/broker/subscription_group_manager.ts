/**
 * Consumer group settings (RocketMQ's subscription group config): whether the group may consume,
 * whether it is FIFO (`consumeMessageOrderly`: POP hands out one message of a message group at a
 * time), how many redeliveries a message gets before its dead-letter topic (`retryMaxTimes`), and
 * the back-off of a message a consumer gives back (`retryPolicy`). Groups without settings use the
 * defaults; settings are saved atomically on every change.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName } from "../../core/protocol/headers.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, RetryPolicySchema } from "../../core/model/retry_policy.ts";
import type { JsonFile } from "../store/json_file.ts";

const int = v.pipe(v.number(), v.safeInteger());

/** One group's settings (documented in `SubscriptionGroupConfig`'s schema). */
export interface SubscriptionGroupConfig {
  groupName: string;
  consumeEnable: boolean;
  consumeMessageOrderly: boolean;
  retryMaxTimes: number;
  retryPolicy: RetryPolicy;
}

/** A change to a group's settings. */
export type SubscriptionGroupUpdate = Partial<Omit<SubscriptionGroupConfig, "groupName">>;

/** One group's settings. */
const configSchema = v.object({
  groupName: GroupName,
  /** Whether members may consume. @default true */
  consumeEnable: v.optional(v.boolean(), true),
  /** FIFO: POP hands out one message of a message group at a time, in queue order. @default false */
  consumeMessageOrderly: v.optional(v.boolean(), false),
  /** Redeliveries before the dead-letter topic (a message is delivered at most this plus one times). @default 16 */
  retryMaxTimes: v.optional(v.pipe(int, v.minValue(0), v.maxValue(64)), 16),
  /** Back-off of a message given back. @default exponential from 1 s, doubling to 2 h */
  retryPolicy: v.optional(RetryPolicySchema, DEFAULT_RETRY_POLICY),
});
/** One group's settings. */
export const SubscriptionGroupConfig: v.GenericSchema<unknown, SubscriptionGroupConfig> = configSchema;

/** The settings a change may give (all but the name optional: what is left out stays). */
export const SubscriptionGroupUpdate: v.GenericSchema<unknown, SubscriptionGroupUpdate> = v.partial(v.omit(configSchema, ["groupName"]));

/** The persisted table. */
export interface SubscriptionGroupTable {
  groups: Record<string, SubscriptionGroupConfig>;
}
/** Schema of the persisted table. */
export const SubscriptionGroupTable: v.GenericSchema<unknown, SubscriptionGroupTable> = v.object({ groups: v.record(GroupName, configSchema) });

/** Every group's settings. */
export class SubscriptionGroupManager {
  readonly #file: JsonFile<SubscriptionGroupTable>;
  readonly #groups = new Map<string, SubscriptionGroupConfig>();
  #saving: Promise<void> = Promise.resolve();
  /** Called after a group's settings changed. */
  onChange: ((group: string) => void) | undefined;

  /** @param file Where the settings live (`config/subscription_groups.json`). */
  constructor(file: JsonFile<SubscriptionGroupTable>) {
    this.#file = file;
  }

  /**
   * Loads the saved settings (a missing file is an empty table).
   *
   * @returns A warning when the last-good backup had to be used.
   */
  load(): string | undefined {
    const loaded = this.#file.load();
    if (loaded === undefined) return undefined;
    for (const [name, config] of Object.entries(loaded.value.groups)) this.#groups.set(name, config);
    return loaded.source === "backup" ? `Group settings restored from their backup: ${loaded.mainError?.message}` : undefined;
  }

  /**
   * A group's settings, the defaults when it has none.
   *
   * @param group The group.
   * @returns Its settings.
   */
  get(group: string): SubscriptionGroupConfig {
    return this.#groups.get(group) ?? v.parse(SubscriptionGroupConfig, { groupName: group });
  }

  /**
   * Whether a group has settings of its own.
   *
   * @param group The group.
   */
  has(group: string): boolean {
    return this.#groups.has(group);
  }

  /** Groups with settings of their own, sorted by name. */
  all(): SubscriptionGroupConfig[] {
    return [...this.#groups.values()].sort((a, b) => (a.groupName < b.groupName ? -1 : 1));
  }

  /**
   * Changes a group's settings (creating them from the defaults) and saves the table.
   *
   * @param group The group.
   * @param update The settings to change.
   * @returns The group's settings now.
   */
  async update(group: string, update: SubscriptionGroupUpdate): Promise<SubscriptionGroupConfig> {
    const merged = v.parse(SubscriptionGroupConfig, { ...this.get(group), ...stripUndefined(update), groupName: group });
    this.#groups.set(group, merged);
    await this.#save();
    this.onChange?.(group);
    return merged;
  }

  /**
   * Forgets a group's settings (it uses the defaults again).
   *
   * @param group The group.
   * @returns Whether it had settings.
   */
  async delete(group: string): Promise<boolean> {
    if (!this.#groups.delete(group)) return false;
    await this.#save();
    this.onChange?.(group);
    return true;
  }

  #save(): Promise<void> {
    const groups = Object.fromEntries(this.#groups);
    const run = () => this.#file.save({ groups });
    this.#saving = this.#saving.then(run, run);
    return this.#saving;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
