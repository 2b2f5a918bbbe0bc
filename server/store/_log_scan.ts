/**
 * Walks the CommitLog's records from an offset, for services that rebuild their state from the
 * log's tail at start (the timer store, the dedup window).
 *
 * @module
 */

import { BLANK_MAGIC } from "../../core/model/record.ts";
import type { MessageStore } from "./message_store.ts";
import type { Log } from "../logger.ts";

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Calls `visit` for every visible record from `from` to the end, stepping over the damaged
 * stretches recovery kept in place (`stats.recovery.quarantined`). Damage recovery did not see
 * ends the walk early, with `log` told where; it never throws.
 *
 * @param store The store.
 * @param from A record boundary or segment start; clamped to the log's start.
 * @param visit Gets the chunk, the record's position in it and its CommitLog offset.
 * @param log Told when the walk stops early at unreadable bytes.
 * @returns How many records were visited.
 */
export function scanLog(
  store: MessageStore,
  from: number,
  visit: (bytes: Uint8Array, pos: number, offset: number) => void,
  log: Log = () => {},
): number {
  let offset = Math.max(from, store.stats.commitLogMinOffset);
  const { visibleOffset: end, recovery } = store.stats;
  const damaged = recovery.quarantined.filter((region) => region.action === "kept" && region.to > offset);
  let visited = 0;
  while (offset < end) {
    while (damaged.length > 0 && damaged[0]!.to <= offset) damaged.shift();
    const region = damaged[0];
    if (region !== undefined && offset >= region.from) {
      offset = region.to;
      continue;
    }
    let chunk;
    try {
      // A chunk stops short of the next damaged stretch, so its records are whole.
      chunk = store.readReplica(offset, region === undefined ? CHUNK_BYTES : Math.max(1, Math.min(CHUNK_BYTES, region.from - offset)));
    } catch (error) {
      log(`Warning: the CommitLog is unreadable at offset ${offset} (${(error as Error).message}); its records after it were not scanned`, "warn");
      return visited;
    }
    if (chunk.next <= offset) break;
    const view = new DataView(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.byteLength);
    let pos = 0;
    while (pos + 8 <= chunk.bytes.length) {
      const size = view.getInt32(pos);
      if (view.getInt32(pos + 4) === BLANK_MAGIC) break;
      visit(chunk.bytes, pos, offset + pos);
      visited++;
      pos += size;
    }
    offset = chunk.next;
  }
  return visited;
}

/**
 * The record stored at a CommitLog offset, bytes as stored, whether or not its queue still serves
 * it (retention may have moved the queue's min offset past it while its segment is kept).
 *
 * @param store The store.
 * @param offset A record's offset.
 * @returns The bytes, or undefined when no visible record starts there.
 */
export function readLogRecord(store: MessageStore, offset: number): Uint8Array | undefined {
  if (offset < store.stats.commitLogMinOffset || offset >= store.stats.visibleOffset) return undefined;
  try {
    // A budget below a record's size still returns that record whole, and only it.
    const { bytes } = store.readReplica(offset, 8);
    if (bytes.length < 8) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const size = view.getInt32(0);
    return view.getInt32(4) === BLANK_MAGIC || size > bytes.length ? undefined : bytes.subarray(0, size);
  } catch {
    return undefined;
  }
}
