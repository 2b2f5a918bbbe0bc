/**
 * Consumer groups as their members describe them in heartbeats: who is online, what each member
 * subscribes to, and when membership changes (members are told to rebalance).
 *
 * @module
 */
import { normalizeTagExpression } from "../../core/model/tag_expression.ts";
import type { ConsumerData, HeartbeatHeader, SubscriptionData } from "../../core/protocol/headers.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";

/** One member of a consumer group. */
export interface ConsumerMember {
  readonly clientId: string;
  /** The connection its latest heartbeat came on; NOTIFY_CONSUMER_IDS_CHANGED goes there. */
  connection: Connection;
  /** Access key of the account whose heartbeat registered it (ACL on); only it may act for the member. */
  owner: string | undefined;
  /** e.g. `bun 1.3.0`. */
  runtime: string;
  /** `host:port` of that connection. */
  remoteAddress: string;
  /** When the latest heartbeat arrived (ms since epoch). */
  lastHeartbeat: number;
  consumeType: ConsumerData["consumeType"];
  messageModel: ConsumerData["messageModel"];
  consumeFromWhere: ConsumerData["consumeFromWhere"];
  subscriptions: SubscriptionData[];
}

/** A member as admin views show it (no connection object, no owner). */
export type ConsumerMemberInfo = Omit<ConsumerMember, "connection" | "owner">;

/** Members of one group that disagree about one topic. */
export interface SubscriptionConflict {
  topic: string;
  /** Each distinct expression with the members using it; `null` means "not subscribed". */
  variants: { expression: string | null; clientIds: string[] }[];
}

/** Why a group's subscriptions are inconsistent: members would silently lose messages. */
export interface SubscriptionInconsistency {
  group: string;
  /** Topics the members disagree on, sorted by topic. */
  conflicts: SubscriptionConflict[];
}

/** A consumer group for admin views. */
export interface ConsumerGroupInfo {
  group: string;
  /** From the most recent heartbeat of any member. */
  consumeType: ConsumerData["consumeType"];
  messageModel: ConsumerData["messageModel"];
  consumeFromWhere: ConsumerData["consumeFromWhere"];
  /** Sorted by client id. */
  members: ConsumerMemberInfo[];
  /** Every topic any member subscribes to, with the newest expression (highest version). */
  subscriptions: SubscriptionData[];
  /** Set when members subscribe differently. */
  inconsistency?: SubscriptionInconsistency;
}

/** Why a member left its group. */
export type LeaveReason = "unregistered" | "expired" | "connection closed";

/** Options of `ConsumerManager`. */
export interface ConsumerManagerOptions {
  /** A member silent for longer is dropped. @default 120000 */
  clientExpiryMs?: number;
  /** How often silent members are looked for. @default 10000, or clientExpiryMs when shorter */
  scanIntervalMs?: number;
  /** Called after a member left a group, for whatever it held (queue locks). */
  onMemberRemoved?: (group: string, clientId: string, reason: LeaveReason) => void;
  /** Where log lines go. @default no logging */
  log?: (line: string) => void;
  /** Clock (ms since epoch). @default Date.now */
  now?: () => number;
}

interface Group {
  members: Map<string, ConsumerMember>;
  consumeType: ConsumerData["consumeType"];
  messageModel: ConsumerData["messageModel"];
  consumeFromWhere: ConsumerData["consumeFromWhere"];
  /** Signature of the last inconsistency logged ("" when consistent). */
  inconsistencyLogged: string;
}

/** Tracks consumer group members from heartbeats, expires silent ones and notifies changes. */
export class ConsumerManager {
  readonly #groups = new Map<string, Group>();
  readonly #expiryMs: number;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #onMemberRemoved: ConsumerManagerOptions["onMemberRemoved"];
  readonly #log: (line: string) => void;
  readonly #now: () => number;

  /** @param options Expiry and hooks. */
  constructor(options: ConsumerManagerOptions = {}) {
    this.#expiryMs = options.clientExpiryMs ?? 120_000;
    this.#onMemberRemoved = options.onMemberRemoved;
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
    const scanMs = options.scanIntervalMs ?? Math.min(10_000, this.#expiryMs);
    this.#timer = setInterval(() => this.scanExpired(), scanMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /**
   * Records a heartbeat: the client becomes (or stays) a member of each group it names.
   * Groups whose set of client ids changed are notified.
   *
   * @param connection The connection the heartbeat came on.
   * @param heartbeat The heartbeat header.
   * @param owner The access key of the account that signed it (ACL on).
   */
  heartbeat(connection: Connection, heartbeat: HeartbeatHeader, owner?: string): void {
    const now = this.#now();
    for (const data of heartbeat.consumers) {
      let group = this.#groups.get(data.group);
      if (group === undefined) {
        group = {
          members: new Map(),
          consumeType: data.consumeType,
          messageModel: data.messageModel,
          consumeFromWhere: data.consumeFromWhere,
          inconsistencyLogged: "",
        };
        this.#groups.set(data.group, group);
      }
      group.consumeType = data.consumeType;
      group.messageModel = data.messageModel;
      group.consumeFromWhere = data.consumeFromWhere;
      const existing = group.members.get(heartbeat.clientId);
      const member: ConsumerMember = {
        clientId: heartbeat.clientId,
        connection,
        owner,
        runtime: heartbeat.runtime,
        remoteAddress: connection.remoteAddress,
        lastHeartbeat: now,
        consumeType: data.consumeType,
        messageModel: data.messageModel,
        consumeFromWhere: data.consumeFromWhere,
        subscriptions: data.subscriptions,
      };
      group.members.set(heartbeat.clientId, member);
      if (existing === undefined) {
        this.#log(`Consumer "${heartbeat.clientId}" joined group "${data.group}" from ${member.remoteAddress} (${group.members.size} members)`);
        this.#notify(data.group, group);
      }
      this.#checkConsistency(data.group, group);
    }
  }

  /**
   * Removes a client from one group, or from every group.
   *
   * @param clientId The client.
   * @param group The group; every group when undefined.
   * @returns The groups it left.
   */
  unregister(clientId: string, group?: string): string[] {
    const names = group === undefined ? [...this.#groups.keys()] : [group];
    return names.filter((name) => this.#remove(name, clientId, "unregistered"));
  }

  /**
   * @param clientId A client.
   * @returns The groups it is a member of, sorted.
   */
  groupsOf(clientId: string): string[] {
    return [...this.#groups].filter(([, group]) => group.members.has(clientId)).map(([name]) => name).sort();
  }

  /**
   * Drops the members whose latest heartbeat came on a connection that closed.
   *
   * @param connection The closed connection.
   */
  connectionClosed(connection: Connection): void {
    for (const [name, group] of [...this.#groups]) {
      for (const member of [...group.members.values()]) {
        if (member.connection === connection) this.#remove(name, member.clientId, "connection closed");
      }
    }
  }

  /**
   * Drops members silent for longer than `clientExpiryMs` (runs on a timer too).
   *
   * @returns How many memberships were dropped.
   */
  scanExpired(): number {
    const oldest = this.#now() - this.#expiryMs;
    let dropped = 0;
    for (const [name, group] of [...this.#groups]) {
      for (const member of [...group.members.values()]) {
        if (member.lastHeartbeat < oldest && this.#remove(name, member.clientId, "expired")) dropped++;
      }
    }
    return dropped;
  }

  /** Groups with at least one member, sorted. */
  groups(): string[] {
    return [...this.#groups.keys()].sort();
  }

  /**
   * @param group The consumer group.
   * @returns Its members' client ids, sorted (empty for an unknown group).
   */
  clientIds(group: string): string[] {
    const found = this.#groups.get(group);
    return found === undefined ? [] : [...found.members.keys()].sort();
  }

  /**
   * @param group The consumer group.
   * @param clientId The client.
   * @returns The member, if the client is in the group.
   */
  member(group: string, clientId: string): ConsumerMember | undefined {
    return this.#groups.get(group)?.members.get(clientId);
  }

  /**
   * What a group subscribes to on a topic: the newest subscription (highest version) any member's
   * heartbeat named, for pulls that do not carry their own (RocketMQ clients leave it out).
   *
   * @param group The consumer group.
   * @param topic The topic.
   * @returns The subscription, or undefined when no member subscribes to the topic.
   */
  subscription(group: string, topic: string): SubscriptionData | undefined {
    let newest: SubscriptionData | undefined;
    for (const member of this.#groups.get(group)?.members.values() ?? []) {
      for (const subscription of member.subscriptions) {
        if (subscription.topic === topic && (newest === undefined || subscription.version > newest.version)) newest = subscription;
      }
    }
    return newest;
  }

  /**
   * A group's members and subscriptions, for admin views.
   *
   * @param group The consumer group.
   * @returns The group, or undefined when no member is online.
   */
  groupInfo(group: string): ConsumerGroupInfo | undefined {
    const found = this.#groups.get(group);
    if (found === undefined) return undefined;
    const members = [...found.members.values()]
      .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0))
      .map(({ connection: _, owner: _owner, ...info }) => ({ ...info, subscriptions: info.subscriptions.map((s) => ({ ...s })) }));
    const newest = new Map<string, SubscriptionData>();
    for (const member of members) {
      for (const subscription of member.subscriptions) {
        const seen = newest.get(subscription.topic);
        if (seen === undefined || subscription.version > seen.version) newest.set(subscription.topic, subscription);
      }
    }
    const info: ConsumerGroupInfo = {
      group,
      consumeType: found.consumeType,
      messageModel: found.messageModel,
      consumeFromWhere: found.consumeFromWhere,
      members,
      subscriptions: [...newest.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0)),
    };
    const inconsistency = this.inconsistency(group);
    if (inconsistency !== undefined) info.inconsistency = inconsistency;
    return info;
  }

  /**
   * Compares the subscriptions of a group's members: every member should subscribe to the same
   * topics with the same expressions, or messages are lost (a queue goes to a member that filters
   * them out or does not read that topic).
   *
   * @param group The consumer group.
   * @returns The disagreements, or undefined when the members agree (or the group is unknown).
   */
  inconsistency(group: string): SubscriptionInconsistency | undefined {
    const found = this.#groups.get(group);
    if (found === undefined || found.members.size < 2) return undefined;
    const byMember = [...found.members.values()].map((member) => ({
      clientId: member.clientId,
      expressions: new Map(member.subscriptions.map((s) => [s.topic, normalizeExpression(s)])),
    }));
    const topics = new Set(byMember.flatMap((m) => [...m.expressions.keys()]));
    const conflicts: SubscriptionConflict[] = [];
    for (const topic of [...topics].sort()) {
      const variants = new Map<string | null, string[]>();
      for (const member of byMember) {
        const expression = member.expressions.get(topic) ?? null;
        const ids = variants.get(expression);
        if (ids === undefined) variants.set(expression, [member.clientId]);
        else ids.push(member.clientId);
      }
      if (variants.size > 1) {
        conflicts.push({
          topic,
          variants: [...variants].map(([expression, clientIds]) => ({ expression, clientIds: clientIds.sort() })),
        });
      }
    }
    return conflicts.length === 0 ? undefined : { group, conflicts };
  }

  /** Groups whose members subscribe inconsistently, with their disagreements. */
  inconsistentGroups(): SubscriptionInconsistency[] {
    return this.groups().map((g) => this.inconsistency(g)).filter((i) => i !== undefined);
  }

  /** Stops the expiry timer. */
  shutdown(): void {
    clearInterval(this.#timer);
  }

  #remove(name: string, clientId: string, reason: LeaveReason): boolean {
    const group = this.#groups.get(name);
    if (group === undefined || !group.members.delete(clientId)) return false;
    this.#log(`Consumer "${clientId}" left group "${name}" (${reason}; ${group.members.size} members left)`);
    if (group.members.size === 0) this.#groups.delete(name);
    try {
      this.#onMemberRemoved?.(name, clientId, reason);
    } catch (error) {
      this.#log(`Cleanup after "${clientId}" left group "${name}" failed: ${(error as Error).message}`);
    }
    if (group.members.size > 0) {
      this.#notify(name, group);
      this.#checkConsistency(name, group);
    }
    return true;
  }

  /** Tells every member's connection to rebalance (oneway, once per connection). */
  #notify(name: string, group: Group): void {
    const sent = new Set<Connection>();
    for (const member of group.members.values()) {
      const connection = member.connection;
      if (connection.closed || sent.has(connection)) continue;
      sent.add(connection);
      connection.oneway(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { consumerGroup: name });
    }
  }

  /** Logs when a group becomes inconsistent, changes how, or becomes consistent again. */
  #checkConsistency(name: string, group: Group): void {
    const inconsistency = this.inconsistency(name);
    const signature = inconsistency === undefined ? "" : JSON.stringify(inconsistency.conflicts);
    if (signature === group.inconsistencyLogged) return;
    group.inconsistencyLogged = signature;
    if (inconsistency === undefined) {
      this.#log(`Consumer group "${name}" subscriptions are consistent again`);
      return;
    }
    const detail = inconsistency.conflicts.map((c) =>
      `topic "${c.topic}": ${c.variants.map((v) => `${v.expression === null ? "not subscribed" : `"${v.expression}"`} by ${v.clientIds.join(", ")}`).join("; ")}`
    ).join(" | ");
    this.#log(`Warning: consumer group "${name}" has inconsistent subscriptions, messages may be lost: ${detail}`);
  }
}

/** `B||A `, `A || B` and `A || B || A` are the same tag expression, empty is `*`; SQL92 ones are named so. */
function normalizeExpression(subscription: SubscriptionData): string {
  if (subscription.expressionType === "SQL92") return `SQL92: ${subscription.expression.trim()}`;
  return normalizeTagExpression(subscription.expression);
}
