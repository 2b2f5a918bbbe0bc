/**
 * Consumer group administration: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (RocketMQ's code), the wire
 * form of `PUT /api/groups/:group/config`, which a change on a whole cluster sends to every master.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";
import { SubscriptionGroupUpdate } from "../subscription_group_manager.ts";

/** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP request: the group and the settings to change. */
export const UpdateGroupHeader = v.intersect([v.object({ groupName: GroupName }), SubscriptionGroupUpdate]);
export type UpdateGroupHeader = v.InferOutput<typeof UpdateGroupHeader>;

/** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: changes the group's settings; the answer's `config` holds them all. */
export function updateGroupProcessor(ctx: BrokerContext): Processor<UpdateGroupHeader> {
  return processor(UpdateGroupHeader, async ({ groupName, ...update }) => {
    const config = await ctx.groups.update(groupName, update);
    return { code: ResponseCode.SUCCESS, header: { config } };
  });
}
