/**
 * ReceiptRenewal's schedule against a recording POP target and a hand-moved clock: renewals by
 * RocketMQ's proxy's steps, the hand-back after `maxMs` with the group's backoff, a refused handle
 * dropped, a departed client's deliveries made visible after `clearInvisibleMs`, and all of them
 * when it closes.
 */
import { afterEach, expect, test } from "bun:test";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { PopRefusal } from "../../../server/broker/pop/pop_service.ts";
import { ReceiptRenewal, type RenewalTarget } from "../../../server/grpc/receipt_renewal.ts";
import { until } from "../../_helpers/wait.ts";

let clock = 1_000_000;
const changes: [string, number][] = [];
let refuse = false;
const target: RenewalTarget = {
  changeInvisibleTime(_group, _topic, handle, ms) {
    changes.push([handle, ms]);
    if (refuse) return Promise.reject(new PopRefusal(ResponseCode.INVALID_RECEIPT_HANDLE, "Handle is stale"));
    return Promise.resolve({ handle: `${handle}'`, popTime: clock, invisibleTime: ms });
  },
  backoffMs: (_group, attempt) => 1000 * attempt,
};
let renewal: ReceiptRenewal | undefined;

afterEach(async () => {
  await renewal?.close();
  changes.length = 0;
  refuse = false;
});

function start(): ReceiptRenewal {
  renewal = new ReceiptRenewal(target, { invisibleMs: 60_000, aheadMs: 10_000, periodMs: 5, maxMs: 200_000, clearInvisibleMs: 1000 }, () => {}, () => clock);
  renewal.track("c1", { group: "g", topic: "t", handle: "h", popTime: clock, invisibleTime: 60_000, attempt: 2 });
  return renewal;
}

test("renews 1 then 3 minutes ahead of visibility, hands back after maxMs with the group's backoff, and settles with the current handle", async () => {
  const r = start();
  clock += 45_000;
  await Bun.sleep(30);
  expect(changes).toEqual([]);
  clock += 6_000;
  await until(() => changes.length === 1, 2000, "the first renewal");
  clock += 55_000;
  await until(() => changes.length === 2, 2000, "the second renewal");
  expect(changes).toEqual([["h", 60_000], ["h'", 180_000]]);
  // Past maxMs (200 s after the receive): the third look hands it back after the backoff of attempt 2.
  clock += 175_000;
  await until(() => changes.length === 3, 2000, "the hand-back");
  expect(changes[2]).toEqual(["h''", 2000]);
  expect(r.size).toBe(0);
  expect(await r.settle("g", "h")).toBe("h");
});

test("a settled delivery is no longer renewed; the client keeps its first handle", async () => {
  const r = start();
  clock += 51_000;
  await until(() => changes.length === 1, 2000, "the renewal");
  expect(await r.settle("other group", "h")).toBe("h");
  expect(await r.settle("g", "h")).toBe("h'");
  clock += 60_000;
  await Bun.sleep(30);
  expect(changes.length).toBe(1);
});

test("a refused handle is dropped, and a departed client's deliveries become visible after clearInvisibleMs", async () => {
  const r = start();
  refuse = true;
  clock += 51_000;
  await until(() => r.size === 0, 2000, "the refused delivery to be dropped");
  refuse = false;
  r.track("c2", { group: "g", topic: "t", handle: "k", popTime: clock, invisibleTime: 60_000, attempt: 1 });
  r.clear("c1");
  expect(r.size).toBe(1);
  r.clear("c2");
  await until(() => changes.length === 2, 2000, "the clear");
  expect(changes[1]).toEqual(["k", 1000]);
});

test("closing makes every delivery still being renewed visible after clearInvisibleMs", async () => {
  const r = start();
  r.track("c2", { group: "g", topic: "t", handle: "k", popTime: clock, invisibleTime: 60_000, attempt: 1 });
  await r.close();
  expect(changes.sort()).toEqual([["h", 1000], ["k", 1000]]);
  expect(r.size).toBe(0);
});
