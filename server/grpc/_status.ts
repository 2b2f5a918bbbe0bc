/**
 * RocketMQ 5's status codes (`apache.rocketmq.v2.Code`) for the broker's response codes.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import type { Reply } from "../../core/remoting/dispatcher.ts";
import { Code, type Status, StatusSchema } from "./gen/apache/rocketmq/v2/definition_pb.ts";

/** `OK`, shared: a status is never changed once built. */
export const OK_STATUS: Status = create(StatusSchema, { code: Code.OK, message: "OK" });

/**
 * A status.
 *
 * @param code The code.
 * @param message What happened, for a person.
 * @returns The status.
 */
export function status(code: Code, message: string): Status {
  return create(StatusSchema, { code, message });
}

const BY_RESPONSE: Readonly<Record<number, Code>> = {
  [ResponseCode.SUCCESS]: Code.OK,
  [ResponseCode.SYSTEM_ERROR]: Code.INTERNAL_SERVER_ERROR,
  [ResponseCode.SYSTEM_BUSY]: Code.TOO_MANY_REQUESTS,
  [ResponseCode.REQUEST_CODE_NOT_SUPPORTED]: Code.NOT_IMPLEMENTED,
  [ResponseCode.FLUSH_DISK_TIMEOUT]: Code.MASTER_PERSISTENCE_TIMEOUT,
  [ResponseCode.SLAVE_NOT_AVAILABLE]: Code.HA_NOT_AVAILABLE,
  [ResponseCode.FLUSH_SLAVE_TIMEOUT]: Code.SLAVE_PERSISTENCE_TIMEOUT,
  [ResponseCode.MESSAGE_ILLEGAL]: Code.BAD_REQUEST,
  [ResponseCode.SERVICE_NOT_AVAILABLE]: Code.INTERNAL_SERVER_ERROR,
  [ResponseCode.NO_PERMISSION]: Code.FORBIDDEN,
  [ResponseCode.TOPIC_NOT_EXIST]: Code.TOPIC_NOT_FOUND,
  [ResponseCode.PULL_NOT_FOUND]: Code.MESSAGE_NOT_FOUND,
  [ResponseCode.QUERY_NOT_FOUND]: Code.NOT_FOUND,
  [ResponseCode.SUBSCRIPTION_PARSE_FAILED]: Code.ILLEGAL_FILTER_EXPRESSION,
  [ResponseCode.TRANSACTION_STATE_GROUP_WRONG]: Code.INVALID_TRANSACTION_ID,
  [ResponseCode.FLOW_CONTROL]: Code.TOO_MANY_REQUESTS,
  [ResponseCode.TRANSACTION_NOT_FOUND]: Code.INVALID_TRANSACTION_ID,
  [ResponseCode.ILLEGAL_OPERATION]: Code.PRECONDITION_FAILED,
  [ResponseCode.INVALID_HEADER]: Code.BAD_REQUEST,
  [ResponseCode.FLUSH_DISK_FAILED]: Code.INTERNAL_SERVER_ERROR,
  [ResponseCode.INVALID_RECEIPT_HANDLE]: Code.INVALID_RECEIPT_HANDLE,
  // v2 has no code of its own for it: RocketMQ's proxy answers an expired handle as invalid too.
  [ResponseCode.RECEIPT_HANDLE_EXPIRED]: Code.INVALID_RECEIPT_HANDLE,
};

/**
 * The status of a processor's reply: its code mapped, its remark as the message.
 *
 * @param reply The reply.
 * @returns The status (`OK_STATUS` for SUCCESS).
 */
export function statusOf(reply: Reply): Status {
  return statusOfCode(reply.code, reply.remark);
}

/**
 * The status of a broker response code and remark.
 *
 * @param code The response code.
 * @param remark What happened.
 * @returns The status (`OK_STATUS` for SUCCESS).
 */
export function statusOfCode(code: number, remark: string | undefined): Status {
  if (code === ResponseCode.SUCCESS) return OK_STATUS;
  return status(BY_RESPONSE[code] ?? Code.INTERNAL_SERVER_ERROR, remark ?? `Broker answered response code ${code}`);
}
