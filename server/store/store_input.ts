/**
 * Storing a stored message again under another topic, queue or properties (delayed and timer
 * delivery, carrying a timer forward): what the new record keeps of the old one.
 *
 * @module
 */
import type { MessageExt } from "../../core/model/message.ts";
import { encodeProperties } from "../../core/model/properties.ts";
import type { StoreInput } from "./store_types.ts";

/**
 * The put input that stores `message` again: body, flag, sysflag, born time and host, reconsume
 * times and prepared-transaction offset as they were; topic, queue and properties as given.
 *
 * @param message The stored message.
 * @param destination Where the copy goes and its properties.
 * @returns The input for `MessageStore.putMessage`.
 */
export function restoredInput(message: MessageExt, destination: { topic: string; queueId: number; properties: Record<string, string> }): StoreInput {
  return {
    topic: destination.topic,
    queueId: destination.queueId,
    flag: message.flag,
    sysFlag: message.sysFlag,
    bornTimestamp: message.bornTimestamp,
    bornHost: message.bornHost,
    reconsumeTimes: message.reconsumeTimes,
    preparedTransactionOffset: message.preparedTransactionOffset,
    body: message.body,
    properties: encodeProperties(destination.properties),
  };
}
