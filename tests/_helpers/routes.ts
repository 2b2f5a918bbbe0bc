/**
 * Route lookups straight from a NameServer, for tests that watch who serves a topic.
 */
import type { TopicRouteData } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";

/**
 * The master address a NameServer routes a topic to.
 *
 * @param connection A connection to the NameServer.
 * @param topic The topic.
 * @param brokerName The broker group. @default the first one routed
 * @returns The master's address, or undefined when the topic has no route (or no such group).
 */
export async function masterOf(connection: Connection, topic: string, brokerName?: string): Promise<string | undefined> {
  const route = await connection.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic });
  if (route.code !== ResponseCode.SUCCESS) return undefined;
  const groups = (route.header as unknown as TopicRouteData).brokerDatas;
  return (brokerName === undefined ? groups[0] : groups.find((b) => b.brokerName === brokerName))?.brokerAddrs["0"];
}
