/**
 * RocketMQ 5's message types: what a message is (from its properties and sysflag) and what a topic
 * accepts (its `messageType` attribute). A topic given no type accepts every type (`MIXED`), as
 * one auto-created on first use does; a typed topic takes only its own type.
 *
 * @module
 */
import { MessageConst, SysFlag } from "./message.ts";

/** The type of one message. */
export type MessageType = "NORMAL" | "FIFO" | "DELAY" | "TRANSACTION";

/** What a topic accepts: one message type, or `MIXED` for every type. */
export type TopicMessageType = MessageType | "MIXED";

/** Every topic message type, `MIXED` last. */
export const TOPIC_MESSAGE_TYPES: readonly TopicMessageType[] = ["NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED"];

/**
 * The type of a message as sent: a transaction when prepared, FIFO with a message group, a delay
 * with a delivery time or delay level, else normal.
 *
 * @param properties Its properties.
 * @param sysFlag Its sysflag.
 * @returns The type.
 */
export function messageTypeOf(properties: Readonly<Record<string, string>>, sysFlag: number): MessageType {
  if ((sysFlag & SysFlag.TRANSACTION_PREPARED) !== 0 || properties[MessageConst.TRAN_MSG] === "true") return "TRANSACTION";
  if (properties[MessageConst.SHARDING_KEY] !== undefined) return "FIFO";
  if (
    properties[MessageConst.DELAY] !== undefined || properties[MessageConst.TIMER_DELIVER_MS] !== undefined ||
    properties[MessageConst.TIMER_DELAY_MS] !== undefined || properties[MessageConst.TIMER_DELAY_SEC] !== undefined
  ) return "DELAY";
  return "NORMAL";
}

/**
 * Whether a topic takes a message of a type.
 *
 * @param topic The topic's name, for the refusal.
 * @param accepted The topic's `messageType` attribute (undefined: every type).
 * @param type The message's type.
 * @returns Why not, or undefined when it does.
 */
export function refuseMessageType(topic: string, accepted: TopicMessageType | undefined, type: MessageType): string | undefined {
  if (accepted === undefined || accepted === "MIXED" || accepted === type) return undefined;
  return `Topic "${topic}" takes ${accepted} messages, not ${type} ones`;
}
