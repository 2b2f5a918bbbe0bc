/**
 * The store's side of replication: the master reads raw CommitLog bytes from an offset, cut at
 * record boundaries; the slave checks what it received (record by record: size, magic, CRC, the
 * physical offset each record claims) before it writes the bytes at the same offsets and indexes
 * them. See docs/REPLICATION.md.
 *
 * @module
 */

import { BLANK_MAGIC, BLANK_MARKER_SIZE, readRecordIndexFields, readRecordOffsets, verifyRecord } from "../../core/model/record.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { DispatchItem, QueueTable } from "./queue_table.ts";

/** What `readReplicaChunk` read. */
export interface ReplicaChunk {
  /** Where the bytes start (the offset asked for). */
  offset: number;
  /** Whole records, possibly ending with a segment's blank marker; empty when nothing is new. */
  bytes: Uint8Array;
  /** Where the next chunk starts: after the last record, or the next segment after a blank marker. */
  next: number;
}

/** The CommitLog reads the master needs. */
export interface ReplicaSource {
  readonly segmentSize: number;
  read(offset: number, target: Uint8Array): number;
}

/**
 * Reads whole records from `offset` up to `end` (the master's visible end), at most `maxBytes`
 * unless the first record alone is larger. Never crosses a segment: a chunk that reaches a
 * segment's blank marker ends with it.
 *
 * @param log The CommitLog.
 * @param offset A record boundary (or a segment start).
 * @param end Bytes at or past it are not read (not yet visible to consumers).
 * @param maxBytes Byte budget of the chunk.
 * @returns The chunk.
 * @throws {RangeError} When the bytes at `offset` are not a record or blank marker.
 */
export function readReplicaChunk(log: ReplicaSource, offset: number, end: number, maxBytes: number): ReplicaChunk {
  if (offset >= end) return { offset, bytes: new Uint8Array(0), next: offset };
  let buffer = new Uint8Array(Math.min(maxBytes, end - offset));
  let n = log.read(offset, buffer);
  if (n < 8) {
    throw new RangeError(`No record at CommitLog offset ${offset} (read ${n} bytes below the end ${end})`);
  }
  const view = () => new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const firstSize = view().getInt32(0);
  if (view().getInt32(4) !== BLANK_MAGIC && firstSize > n) {
    // One record larger than the budget: send it alone.
    if (firstSize <= 0 || offset + firstSize > end) throw new RangeError(`Bad record size ${firstSize} at CommitLog offset ${offset}`);
    buffer = new Uint8Array(firstSize);
    n = log.read(offset, buffer);
    if (n !== firstSize) throw new RangeError(`Record at CommitLog offset ${offset} is cut short`);
  }
  const data = view();
  let pos = 0;
  while (n - pos >= 8) {
    const size = data.getInt32(pos);
    if (data.getInt32(pos + 4) === BLANK_MAGIC) {
      const next = offset + pos + size;
      return { offset, bytes: buffer.subarray(0, pos + BLANK_MARKER_SIZE), next };
    }
    if (size <= 0) throw new RangeError(`Bad record size ${size} at CommitLog offset ${offset + pos}`);
    if (pos + size > n) break;
    pos += size;
  }
  return { offset, bytes: buffer.subarray(0, pos), next: offset + pos };
}

/** What `checkReplicaChunk` found in a chunk. */
export interface CheckedChunk {
  /** ConsumeQueue entries for the chunk's records. */
  items: DispatchItem[];
  /** The log's end once the chunk is written (the segment end after a blank marker). */
  end: number;
}

/**
 * Verifies a chunk received from the master before it is written: every record whole, with its
 * magic, layout and body CRC right and claiming the physical offset it will be written at; a
 * blank marker only last and reaching exactly to its segment's end.
 *
 * @param offset Where the chunk starts.
 * @param bytes The chunk.
 * @param segmentSize The CommitLog's segment size.
 * @param queues The queue table the records will be indexed in.
 * @returns The ConsumeQueue entries and the new end.
 * @throws {RangeError} Naming the offset and what is wrong.
 */
export function checkReplicaChunk(offset: number, bytes: Uint8Array, segmentSize: number, queues: QueueTable): CheckedChunk {
  const items: DispatchItem[] = [];
  const limit = offset - (offset % segmentSize) + segmentSize;
  let pos = 0;
  while (pos < bytes.length) {
    const at = offset + pos;
    const check = verifyRecord(bytes, pos, bytes.length - pos);
    if (!check.ok) throw new RangeError(`Replicated record at CommitLog offset ${at} is invalid: ${check.reason}`);
    if (check.blank) {
      if (pos + BLANK_MARKER_SIZE !== bytes.length) {
        throw new RangeError(`Replicated blank marker at CommitLog offset ${at} is not the last thing in its chunk`);
      }
      if (at + check.size !== limit) {
        throw new RangeError(`Replicated blank marker at CommitLog offset ${at} does not reach its segment end ${limit}`);
      }
      return { items, end: limit };
    }
    if (at + check.size + BLANK_MARKER_SIZE > limit) {
      throw new RangeError(`Replicated record at CommitLog offset ${at} (${check.size} bytes) does not fit in its segment`);
    }
    const claimed = readRecordOffsets(bytes, pos).physicalOffset;
    if (claimed !== at) throw new RangeError(`Replicated record at CommitLog offset ${at} claims physical offset ${claimed}`);
    const fields = readRecordIndexFields(bytes, pos);
    items.push({
      state: queues.get(fields.topic, fields.queueId),
      queueOffset: fields.queueOffset,
      offset: at,
      size: fields.size,
      tagHash: tagHash(fields.tags),
    });
    pos += check.size;
  }
  return { items, end: offset + bytes.length };
}
