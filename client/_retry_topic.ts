/**
 * How consumers present a message that came back through a retry topic: under the topic it was
 * first sent to.
 *
 * @module
 */
import { type MessageExt, MessageConst } from "../core/model/message.ts";

/**
 * Presents a message from a retry topic as the original: its `RETRY_TOPIC` property names the
 * topic it was first sent to.
 *
 * @param message A pulled message, changed in place (a pulled message may be a lazy view, whose
 * decoded-on-access fields a copy by spreading would drop).
 * @returns The message, with `topic` set back to the original topic when it was a retry.
 */
export function restoreRetryTopic(message: MessageExt): MessageExt {
  const original = message.properties[MessageConst.RETRY_TOPIC];
  if (original === undefined || original === message.topic) return message;
  message.topic = original;
  return message;
}
