/**
 * Runs one of the `_node/` scripts (Apache's RocketMQ 5 Node.js client, unchanged) in a Node
 * process and reads its JSON lines.
 */
import { join } from "node:path";
import { childEnv } from "../../_helpers/process.ts";

/** One JSON line a script printed. */
export type Line = Record<string, unknown>;

/**
 * Runs `node _node/<script> ...args` to its end.
 *
 * @param script The script's file name in `_node/`.
 * @param args Its arguments.
 * @returns The lines it printed before `{"done":true}`.
 * @throws {Error} When it exits non-zero or does not print `{"done":true}` last, with its output.
 */
export async function runNodeScript(script: string, args: string[]): Promise<Line[]> {
  const child = Bun.spawn(["node", join(import.meta.dir, "_node", script), ...args], { env: childEnv(), stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const lines = stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Line);
  if (code !== 0 || lines.at(-1)?.done !== true) throw new Error(`node ${script} ${args.join(" ")} exited ${code}:\n${stdout}\n${stderr}`);
  return lines.slice(0, -1);
}
