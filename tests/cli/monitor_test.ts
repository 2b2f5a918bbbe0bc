/**
 * `rmq monitor` in a real terminal (tmux): draws the broker and topics in place, and `q` exits and
 * restores the terminal. `--json --iterations` gives parseable snapshots.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { BUN, ROOT } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { type CliServer, rmq, startCliServer } from "./_cli.ts";

const HAS_TMUX = spawnSync("tmux", ["-V"]).status === 0;
let server: CliServer;
beforeAll(async () => {
  server = await startCliServer();
  expect((await rmq(["send", "-t", "watched", "-b", "x", "-n", server.namesrv])).code).toBe(0);
});
afterAll(() => server.close());

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await Bun.sleep(100);
  }
}

needs(HAS_TMUX ? undefined : "needs tmux (apt-get install tmux)")("monitor draws brokers and topics in tmux and exits on q", async () => {
  const session = `rmq-monitor-${process.pid}`;
  const command = `${BUN} run ${join(ROOT, "cli/bun.ts")} monitor --server ${server.adminUrl} --interval 0.3; echo "EXIT=$?"; sleep 20`;
  execFileSync("tmux", ["new-session", "-d", "-s", session, "-x", "150", "-y", "40", command]);
  const pane = () => execFileSync("tmux", ["capture-pane", "-p", "-t", session]).toString();
  try {
    await until(() => pane().includes("watched"));
    const screen = pane();
    expect(screen).toContain("rmq monitor");
    expect(screen).toMatch(/DefaultCluster\s+broker-a\s+0\s+master/);
    expect(screen).toMatch(/watched\s+4\s+1\s+1/);
    execFileSync("tmux", ["send-keys", "-t", session, "q"]);
    await until(() => pane().includes("EXIT=0"));
    // The alternate screen is gone: the monitor's frame is no longer on the pane.
    expect(pane()).not.toContain("Consumer groups");
  } finally {
    spawnSync("tmux", ["kill-session", "-t", session]);
  }
}, 30_000);

test("monitor --json --iterations prints one parseable snapshot per refresh", async () => {
  const run = await rmq(["monitor", "--json", "--iterations", "2", "--interval", "0.2", "--server", server.adminUrl]);
  expect(run.code).toBe(0);
  const snapshots = run.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
  expect(snapshots).toHaveLength(2);
  expect(snapshots[1].cluster.brokers[0].brokerName).toBe("broker-a");
  expect(snapshots[1].topics.map((t: { topic: string }) => t.topic)).toContain("watched");
  const bad = await rmq(["monitor", "--interval", "0", "--server", server.adminUrl]);
  expect(bad.code).toBe(2);
});
