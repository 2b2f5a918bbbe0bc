/**
 * Large topic tables written straight into a broker's data dir before it starts, for tests of
 * registration, replication and limits with tens of thousands of topics.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A topic name near the 127-character limit, so a table is as large as names allow.
 *
 * @param i The topic's number.
 * @returns `bulk_000042_ttt…` (122 characters).
 */
export function bulkTopicName(i: number): string {
  return `bulk_${String(i).padStart(6, "0")}_${"t".repeat(110)}`;
}

/**
 * Writes `count` topics (4 queues each) as a broker's topic table.
 *
 * @param dataDir The broker's data dir.
 * @param count How many.
 */
export function writeTopicTable(dataDir: string, count: number): void {
  const topics: Record<string, { topicName: string; readQueueNums: number; writeQueueNums: number; perm: number; order: boolean }> = {};
  for (let i = 0; i < count; i++) {
    const name = bulkTopicName(i);
    topics[name] = { topicName: name, readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false };
  }
  mkdirSync(join(dataDir, "config"), { recursive: true });
  writeFileSync(join(dataDir, "config", "topics.json"), JSON.stringify({ version: 1, topics }));
}
