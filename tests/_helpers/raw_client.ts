/**
 * Reads a whole queue back over a raw connection, for tests that check what a broker stored.
 */
import { bodyCrc } from "../../core/model/crc32.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";

/**
 * Pulls every message of a queue from offset 0, checking each body's CRC.
 *
 * @param connection A connection to the broker.
 * @param topic The topic.
 * @param queueId The queue.
 * @returns The messages in queue order.
 */
export async function drainQueue(connection: Connection, topic: string, queueId: number): Promise<MessageExt[]> {
  const out: MessageExt[] = [];
  let offset = 0;
  for (;;) {
    const answer = await connection.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: "drain",
      topic,
      queueId,
      queueOffset: offset,
      maxMsgNums: 256,
    }, undefined, 10_000);
    if (answer.code === ResponseCode.SUCCESS) {
      for (const message of decodeRecords(answer.body!)) {
        if (bodyCrc(message.body) !== message.bodyCRC) throw new Error(`CRC mismatch at ${topic}/${queueId}/${message.queueOffset}`);
        out.push(message);
      }
      offset = answer.header.nextBeginOffset as number;
    } else if (answer.code === ResponseCode.PULL_RETRY_IMMEDIATELY) {
      offset = answer.header.nextBeginOffset as number;
    } else if (answer.code === ResponseCode.PULL_NOT_FOUND || answer.code === ResponseCode.TOPIC_NOT_EXIST) {
      return out;
    } else {
      throw new Error(`Pull of ${topic}/${queueId}@${offset} answered ${answer.code}: ${answer.remark}`);
    }
  }
}
