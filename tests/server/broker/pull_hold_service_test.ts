import { expect, test } from "bun:test";
import type { Command } from "../../../core/protocol/command.ts";
import { Connection } from "../../../core/remoting/connection.ts";
import { ANY_QUEUE, type HeldPull, PullHoldService } from "../../../server/broker/pull_hold_service.ts";

function pull(connection: Connection, id: number, woken: number[]): HeldPull {
  const request: Command = { code: 200050, id, flags: 0, header: {} };
  return { request, connection, deadline: Date.now() + 60_000, wake: () => woken.push(id) };
}

test("a dropped parked pull frees its slot and is never woken; the others still are", () => {
  const holds = new PullHoldService({ maxHeldPerConnection: 2 });
  const connection = new Connection();
  const woken: number[] = [];
  const first = pull(connection, 1, woken);
  const second = pull(connection, 2, woken);
  expect(holds.hold("t", ANY_QUEUE, first)).toBe("HELD");
  expect(holds.hold("t", ANY_QUEUE, second)).toBe("HELD");
  expect(holds.hold("t", ANY_QUEUE, pull(connection, 3, woken))).toBe("CONNECTION_FULL");
  expect(holds.drop(first.request)).toBe(true);
  expect(holds.size).toBe(1);
  expect(holds.heldBy(connection)).toBe(1);
  // Its slot is free for the connection's next pull.
  expect(holds.hold("t", ANY_QUEUE, pull(connection, 4, woken))).toBe("HELD");
  holds.notify("t", 0, 0);
  expect(woken).toEqual([2, 4]);
  expect(holds.size).toBe(0);
  holds.shutdown();
});

test("a request dropped while it is being answered (not parked) is not parked again", () => {
  const holds = new PullHoldService();
  const woken: number[] = [];
  const request = pull(new Connection(), 7, woken);
  expect(holds.hold("t", 0, request)).toBe("HELD");
  holds.notify("t", 0, 0);
  expect(woken).toEqual([7]);
  // The client gives up while the woken pull looks again; finding nothing, it would park anew.
  expect(holds.drop(request.request)).toBe(false);
  expect(holds.hold("t", 0, request)).toBe("DROPPED");
  expect(holds.size).toBe(0);
  holds.shutdown();
});
