/**
 * Where the fields of a stored record sit (RocketMQ's MessageExt encoding, version 1): the offsets
 * of the fixed part and the checks that find the variable part, shared by the record's eager
 * decoder (`record.ts`) and its lazy views (`record_view.ts`).
 *
 * @module
 */

import { SysFlag } from "./message.ts";

/** Magic code of a message record (`0xDAA320A7`). */
export const MESSAGE_MAGIC = 0xdaa320a7 | 0;
/** Largest topic in UTF-8 bytes (one signed length byte). */
export const MAX_TOPIC_BYTES = 127;
/** Offset of the queue offset field. */
export const QUEUE_OFFSET_POS = 20;
/** Offset of the physical offset field. */
export const PHYSICAL_OFFSET_POS = 28;
/** Offset of the sysflag field. */
export const SYSFLAG_POS = 36;
/** Offset of the born host field (the store timestamp follows it). */
export const BORN_HOST_POS = 48;
/** Bytes of the fixed part with IPv4 hosts, up to the body length field. */
export const FIXED_V4 = 84;
/** The smallest record: the fixed part, body, topic and properties lengths. */
export const MIN_RECORD_SIZE = FIXED_V4 + 4 + 1 + 2;
const TWO_32 = 0x100000000;

let lastTarget: Uint8Array | undefined;
let lastView: DataView | undefined;

/** A DataView of `bytes`, the last one made kept for the next call with the same array. */
export function viewOf(bytes: Uint8Array): DataView {
  if (bytes !== lastTarget) {
    lastTarget = bytes;
    lastView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return lastView!;
}

/** The signed 64-bit big-endian integer at `pos` (exact below 2^53). */
export function getInt64(view: DataView, pos: number): number {
  return view.getInt32(pos) * TWO_32 + view.getUint32(pos + 4);
}

/** Where the variable part of a record sits, as `layoutOf` finds it. */
export interface Layout {
  size: number;
  sysFlag: number;
  bornIpLength: 4 | 16;
  storeIpLength: 4 | 16;
  bodyPos: number;
  bodyLength: number;
  topicPos: number;
  topicLength: number;
  propertiesPos: number;
  propertiesLength: number;
}

/** The layout of the record at `pos`, or why its bytes are not one. */
export function layoutOf(view: DataView, pos: number, available: number): Layout | string {
  if (available < 8) return `only ${available} bytes left for a record header`;
  const size = view.getInt32(pos);
  const magic = view.getInt32(pos + 4);
  if (magic !== MESSAGE_MAGIC) return `bad magic code 0x${(magic >>> 0).toString(16)}`;
  if (size < MIN_RECORD_SIZE) return `record size ${size} is below the minimum ${MIN_RECORD_SIZE}`;
  if (size > available) return `record size ${size} exceeds the ${available} bytes available`;
  const sysFlag = view.getInt32(pos + SYSFLAG_POS);
  const bornIpLength = sysFlag & SysFlag.BORN_HOST_V6 ? 16 : 4;
  const storeIpLength = sysFlag & SysFlag.STORE_HOST_V6 ? 16 : 4;
  const bodyLengthPos = pos + FIXED_V4 + (bornIpLength - 4) + (storeIpLength - 4);
  const end = pos + size;
  if (bodyLengthPos + 4 > end) return "record too small for its hosts";
  const bodyLength = view.getInt32(bodyLengthPos);
  const bodyPos = bodyLengthPos + 4;
  if (bodyLength < 0 || bodyPos + bodyLength + 1 > end) return `bad body length ${bodyLength}`;
  const topicLength = view.getUint8(bodyPos + bodyLength);
  const topicPos = bodyPos + bodyLength + 1;
  if (topicLength > MAX_TOPIC_BYTES || topicPos + topicLength + 2 > end) {
    return `bad topic length ${topicLength}`;
  }
  const propertiesLength = view.getInt16(topicPos + topicLength);
  const propertiesPos = topicPos + topicLength + 2;
  if (propertiesLength < 0 || propertiesPos + propertiesLength !== end) {
    return `bad properties length ${propertiesLength}`;
  }
  return {
    size,
    sysFlag,
    bornIpLength,
    storeIpLength,
    bodyPos,
    bodyLength,
    topicPos,
    topicLength,
    propertiesPos,
    propertiesLength,
  };
}
