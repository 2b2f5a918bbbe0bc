/**
 * The NameServer's request processors, one per request code (RocketMQ's `DefaultRequestProcessor`).
 *
 * @module
 */
import {
  EmptyHeader,
  RegisterBrokerHeader,
  TopicHeader,
  UnregisterBrokerHeader,
} from "../../core/protocol/headers.ts";
import { SYSTEM_TOPICS } from "../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Processor, processor } from "../../core/remoting/dispatcher.ts";
import type { Log } from "../logger.ts";
import type { RouteTable } from "./route_table.ts";

/** Options of `createNameServerProcessors`. */
export interface NameServerProcessorsOptions {
  /** Where broker arrivals and departures are reported. */
  log?: Log;
}

/**
 * Builds the processors that serve a route table.
 *
 * @param routeTable The table to read and update.
 * @param options Logging.
 * @returns Processors keyed by request code, for `createDispatcher`.
 */
export function createNameServerProcessors(
  routeTable: RouteTable,
  options: NameServerProcessorsOptions = {},
  // deno-lint-ignore no-explicit-any -- each processor has its own header type, as createDispatcher takes them
): Record<number, Processor<any>> {
  const log = options.log;
  return {
    [RequestCode.REGISTER_BROKER]: processor(RegisterBrokerHeader, (header, _request, connection) => {
      let result;
      try {
        result = header.chunk === undefined ? routeTable.registerBroker(header, connection) : routeTable.registerBrokerChunk(header, header.chunk, connection);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        log?.(`Registration refused: ${error.message}`, "warn");
        return { code: ResponseCode.SYSTEM_ERROR, remark: error.message };
      }
      if (result === undefined) return { code: ResponseCode.SUCCESS, header: { haServerAddr: "", masterAddr: "" } };
      if (result.isNew) {
        const role = header.brokerId === 0 ? "master" : `slave ${header.brokerId}`;
        log?.(`Broker "${header.brokerName}" (${role}) of cluster "${header.clusterName}" registered from ${header.brokerAddr}`, "info");
      }
      return {
        code: ResponseCode.SUCCESS,
        header: { haServerAddr: result.haServerAddr, masterAddr: result.masterAddr },
      };
    }),

    [RequestCode.UNREGISTER_BROKER]: processor(UnregisterBrokerHeader, (header) => {
      if (routeTable.unregisterBroker(header)) {
        log?.(`Broker "${header.brokerName}" at ${header.brokerAddr} unregistered`, "info");
      }
      return { code: ResponseCode.SUCCESS };
    }),

    [RequestCode.GET_ROUTEINFO_BY_TOPIC]: processor(TopicHeader, (header) => {
      const route = routeTable.getRoute(header.topic);
      if (route === undefined) {
        return { code: ResponseCode.TOPIC_NOT_EXIST, remark: `No route for topic "${header.topic}"` };
      }
      return { code: ResponseCode.SUCCESS, header: { ...route } };
    }),

    [RequestCode.GET_BROKER_CLUSTER_INFO]: processor(EmptyHeader, () => ({
      code: ResponseCode.SUCCESS,
      header: { ...routeTable.getClusterInfo() },
    })),

    [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER]: processor(EmptyHeader, () => ({
      code: ResponseCode.SUCCESS,
      header: { topics: routeTable.getTopicList() },
    })),

    [RequestCode.DELETE_TOPIC_IN_NAMESRV]: processor(TopicHeader, (header) => {
      // Without TBW102's route producers cannot have topics auto-created until brokers register again.
      if (SYSTEM_TOPICS.has(header.topic)) {
        return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${header.topic}" is reserved for the brokers` };
      }
      if (routeTable.deleteTopic(header.topic)) log?.(`Topic "${header.topic}" deleted`, "info");
      return { code: ResponseCode.SUCCESS };
    }),
  };
}
