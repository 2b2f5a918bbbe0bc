/**
 * Walks the CommitLog's records from an offset, for services that rebuild their state from the
 * log's tail at start (the timer store, the dedup window).
 *
 * @module
 */

import { BLANK_MAGIC } from "../../core/model/record.ts";
import type { MessageStore } from "./message_store.ts";

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Calls `visit` for every visible record from `from` to the end.
 *
 * @param store The store.
 * @param from A record boundary or segment start; clamped to the log's start.
 * @param visit Gets the chunk, the record's position in it and its CommitLog offset.
 * @returns How many records were visited.
 */
export function scanLog(store: MessageStore, from: number, visit: (bytes: Uint8Array, pos: number, offset: number) => void): number {
  let offset = Math.max(from, store.stats.commitLogMinOffset);
  const end = store.stats.visibleOffset;
  let visited = 0;
  while (offset < end) {
    const chunk = store.readReplica(offset, CHUNK_BYTES);
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
