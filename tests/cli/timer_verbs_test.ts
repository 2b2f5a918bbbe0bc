/**
 * `rmq send --delay-ms|--deliver-at|--dedup-id` and `rmq recall` against a real standalone system.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type CliServer, rmq, startCliServer } from "./_cli.ts";

let server: CliServer;
beforeAll(async () => {
  server = await startCliServer();
});
afterAll(() => server.close());

describe("rmq timers and dedup ids", () => {
  test("send --delay-ms prints a recall handle that recall takes once; --dedup-id repeats are marked", async () => {
    const sent = await rmq(["send", "-t", "cli_timers", "-b", "later", "--delay-ms", "600000", "--json", "-n", server.namesrv]);
    expect(sent.code).toBe(0);
    const { recallHandle } = JSON.parse(sent.stdout) as { recallHandle: string };
    expect(recallHandle).toMatch(/^[A-Za-z0-9_-]+$/);
    const recalled = await rmq(["recall", "-t", "cli_timers", "--handle", recallHandle, "-n", server.namesrv]);
    expect(recalled.stdout).toBe("Recalled: the timer message will not be delivered\n");
    expect(recalled.code).toBe(0);
    // A timer already delivered cannot be recalled.
    const soon = await rmq(["send", "-t", "cli_timers", "-b", "soon", "--delay-ms", "200", "--json", "-n", server.namesrv]);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const stale = await rmq(["recall", "-t", "cli_timers", "--handle", JSON.parse(soon.stdout).recallHandle, "-n", server.namesrv]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("no longer pending");
    const forged = await rmq(["recall", "-t", "cli_timers", "--handle", "bm9wZQ", "-n", server.namesrv]);
    expect(forged.code).toBe(2);

    const past = await rmq(["send", "-t", "cli_timers", "-b", "now", "--deliver-at", "2020-01-01T00:00:00Z", "--json", "-n", server.namesrv]);
    expect(JSON.parse(past.stdout).recallHandle).toBeUndefined();
    const bad = await rmq(["send", "-t", "cli_timers", "-b", "x", "--deliver-at", "someday", "-n", server.namesrv]);
    expect(bad.code).toBe(2);

    const first = await rmq(["send", "-t", "cli_dedup", "-b", "once", "--dedup-id", "cli-1", "--json", "-n", server.namesrv]);
    const second = await rmq(["send", "-t", "cli_dedup", "-b", "once", "--dedup-id", "cli-1", "--json", "-n", server.namesrv]);
    expect(JSON.parse(second.stdout)).toEqual({ ...JSON.parse(first.stdout), uniqueKey: JSON.parse(second.stdout).uniqueKey, duplicate: true });
  }, 60_000);
});
