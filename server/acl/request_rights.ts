/**
 * What each request code needs from the signing account: a topic right (PUB or SUB), a group right,
 * the admin right, or only a valid signature. Codes not listed need the admin right, so a new
 * request code is closed until someone decides otherwise.
 *
 * These checks see only the header. What a header selects only through broker state is checked
 * again by the processor with the request's `Access` (`access.ts`): the topic of the stored message
 * a request names by commit log offset (VIEW_MESSAGE_BY_ID, CONSUMER_SEND_MSG_BACK), the groups
 * UNREGISTER_CLIENT leaves when it names none, and the account that registered the client id a
 * heartbeat, unregister or queue lock names.
 *
 * @module
 */
import type { Header } from "../../core/protocol/command.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import type { AclAccount, AclRules } from "./acl_rules.ts";

type Check = (rules: AclRules, account: AclAccount, header: Header) => string | undefined;

/**
 * Why an account may not publish to a topic.
 *
 * @param rules The rules in force.
 * @param account The account.
 * @param topic The topic (anything but a string is left to header validation).
 * @returns The refusal, or undefined when allowed.
 */
export function publish(rules: AclRules, account: AclAccount, topic: unknown): string | undefined {
  if (typeof topic !== "string" || rules.topicAllowed(account, topic, "PUB")) return undefined;
  return `Account "${account.accessKey}" may not publish to topic "${topic}"`;
}

/**
 * Why an account may not subscribe to (read) a topic.
 *
 * @param rules The rules in force.
 * @param account The account.
 * @param topic The topic (anything but a string is left to header validation).
 * @returns The refusal, or undefined when allowed.
 */
export function subscribe(rules: AclRules, account: AclAccount, topic: unknown): string | undefined {
  if (typeof topic !== "string" || rules.topicAllowed(account, topic, "SUB")) return undefined;
  return `Account "${account.accessKey}" may not subscribe to topic "${topic}"`;
}

/**
 * Why an account may not use a consumer group.
 *
 * @param rules The rules in force.
 * @param account The account.
 * @param name The group (anything but a string is left to header validation).
 * @returns The refusal, or undefined when allowed.
 */
export function group(rules: AclRules, account: AclAccount, name: unknown): string | undefined {
  if (typeof name !== "string" || rules.groupAllowed(account, name)) return undefined;
  return `Account "${account.accessKey}" may not use consumer group "${name}"`;
}

/**
 * Why an account may not act as a producer group (take its transactions' check-backs, end them).
 *
 * @param rules The rules in force.
 * @param account The account.
 * @param name The group (anything but a string is left to header validation).
 * @returns The refusal, or undefined when allowed.
 */
export function producerGroup(rules: AclRules, account: AclAccount, name: unknown): string | undefined {
  // "" names no group (a producer that only takes replies unregisters with it).
  if (typeof name !== "string" || name === "" || rules.groupAllowed(account, name)) return undefined;
  return `Account "${account.accessKey}" may not use producer group "${name}"`;
}

function records(value: unknown): Header[] {
  return Array.isArray(value) ? value.filter((item): item is Header => typeof item === "object" && item !== null) : [];
}

/** Requests any valid account may make (route and metadata reads, offsets bounds are topic reads). */
const ANY_ACCOUNT: Check = () => undefined;
/**
 * Requests naming a stored message by commit log offset: any account may ask; the processor reads
 * the record and refuses unless the account may subscribe to the topic it is stored in.
 */
const STORED_MESSAGE: Check = () => undefined;
const TOPIC_PUB: Check = (rules, account, h) => publish(rules, account, h.topic);
const TOPIC_PUB_V2: Check = (rules, account, h) => publish(rules, account, h.b);
const TOPIC_SUB: Check = (rules, account, h) => subscribe(rules, account, h.topic);
const GROUP_TOPIC_SUB: Check = (rules, account, h) => group(rules, account, h.consumerGroup) ?? subscribe(rules, account, h.topic);
const GROUP_SUB: Check = (rules, account, h) => group(rules, account, h.consumerGroup);
const UNREGISTER: Check = (rules, account, h) => group(rules, account, h.consumerGroup) ?? producerGroup(rules, account, h.producerGroup);
/** END_TRANSACTION: the producer group's right and PUB on the topic; the processor checks both again against the stored half message. */
const END_TRANSACTION: Check = (rules, account, h) => producerGroup(rules, account, h.producerGroup) ?? publish(rules, account, h.topic);
const LOCK: Check = (rules, account, h) => {
  const denied = group(rules, account, h.consumerGroup);
  if (denied !== undefined) return denied;
  for (const mq of records(h.mqs)) {
    const topicDenied = subscribe(rules, account, mq.topic);
    if (topicDenied !== undefined) return topicDenied;
  }
  return undefined;
};
const HEARTBEAT: Check = (rules, account, h) => {
  for (const name of Array.isArray(h.producerGroups) ? h.producerGroups : []) {
    const denied = producerGroup(rules, account, name);
    if (denied !== undefined) return denied;
  }
  for (const consumer of records(h.consumers)) {
    const denied = group(rules, account, consumer.group);
    if (denied !== undefined) return denied;
    for (const subscription of records(consumer.subscriptions)) {
      const topicDenied = subscribe(rules, account, subscription.topic);
      if (topicDenied !== undefined) return topicDenied;
    }
  }
  return undefined;
};

const CHECKS: Readonly<Record<number, Check>> = {
  [RequestCode.SEND_MESSAGE]: TOPIC_PUB,
  [RequestCode.SEND_BATCH_MESSAGE]: TOPIC_PUB,
  [RequestCode.SEND_MESSAGE_V2]: TOPIC_PUB_V2,
  [RequestCode.SEND_BATCH_MESSAGE_V2]: TOPIC_PUB_V2,
  [RequestCode.SEND_BATCH_RECORDS]: TOPIC_PUB_V2,
  [RequestCode.PULL_MESSAGE]: GROUP_TOPIC_SUB,
  [RequestCode.QUERY_CONSUMER_OFFSET]: GROUP_TOPIC_SUB,
  [RequestCode.UPDATE_CONSUMER_OFFSET]: GROUP_TOPIC_SUB,
  [RequestCode.GET_MAX_OFFSET]: TOPIC_SUB,
  [RequestCode.GET_MIN_OFFSET]: TOPIC_SUB,
  [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP]: TOPIC_SUB,
  [RequestCode.HEART_BEAT]: HEARTBEAT,
  [RequestCode.UNREGISTER_CLIENT]: UNREGISTER,
  [RequestCode.GET_CONSUMER_LIST_BY_GROUP]: GROUP_SUB,
  [RequestCode.CONSUMER_SEND_MSG_BACK]: GROUP_SUB,
  [RequestCode.LOCK_BATCH_MQ]: LOCK,
  [RequestCode.UNLOCK_BATCH_MQ]: LOCK,
  [RequestCode.GET_ROUTEINFO_BY_TOPIC]: ANY_ACCOUNT,
  [RequestCode.GET_BROKER_CLUSTER_INFO]: ANY_ACCOUNT,
  [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER]: ANY_ACCOUNT,
  [RequestCode.GET_ALL_TOPIC_CONFIG]: ANY_ACCOUNT,
  [RequestCode.GET_BROKER_RUNTIME_INFO]: ANY_ACCOUNT,
  [RequestCode.VIEW_MESSAGE_BY_ID]: STORED_MESSAGE,
  // POP: the group and SUB on the topic; a receipt handle is bound to both by its tag.
  [RequestCode.POP_MESSAGE]: GROUP_TOPIC_SUB,
  [RequestCode.ACK_MESSAGE]: GROUP_TOPIC_SUB,
  [RequestCode.BATCH_ACK_MESSAGE]: GROUP_TOPIC_SUB,
  [RequestCode.CHANGE_MESSAGE_INVISIBLETIME]: GROUP_TOPIC_SUB,
  // Every record the answer holds is checked to be of the header's topic.
  [RequestCode.QUERY_MESSAGE]: TOPIC_SUB,
  [RequestCode.END_TRANSACTION]: END_TRANSACTION,
  [RequestCode.SEND_REPLY_MESSAGE]: TOPIC_PUB,
  [RequestCode.SEND_REPLY_MESSAGE_V2]: TOPIC_PUB_V2,
};

const CODE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(RequestCode).map(([name, code]) => [code, name]));

/**
 * Checks an authenticated request against the account's rights.
 *
 * @param rules The rules in force.
 * @param account The signing account.
 * @param code The request code.
 * @param header The request header.
 * @returns Why the request is refused, or undefined when it is allowed.
 */
export function checkRights(rules: AclRules, account: AclAccount, code: number, header: Header): string | undefined {
  const check = CHECKS[code];
  if (check !== undefined) return check(rules, account, header);
  if (account.admin) return undefined;
  return `Account "${account.accessKey}" may not make request ${CODE_NAMES.get(code) ?? code}: it needs the admin right`;
}
