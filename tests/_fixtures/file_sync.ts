/**
 * Writes and syncs a file through `FileSegmentStorage` three times, then syncs its directory,
 * printing a marker (one `write` to stdout) before and after each call, for a test that watches
 * the system calls in between. Usage: `bun tests/_fixtures/file_sync.ts <dir>`.
 */
import { writeSync } from "node:fs";
import { FileSegmentStorage } from "../../server/store/file_segment_storage.ts";
import { joinPath } from "../../server/store/segment_storage.ts";

const dir = process.argv[2]!;
const storage = new FileSegmentStorage();
storage.mkdir(dir);
const file = storage.open(joinPath(dir, "00000000000000000000"), { create: true });
for (let i = 0; i < 3; i++) {
  file.write(new Uint8Array(4096).fill(i + 1), i * 4096);
  writeSync(1, `SYNC ${i}\n`);
  await file.sync();
  writeSync(1, `SYNCED ${i}\n`);
}
file.close();
writeSync(1, "SYNCDIR\n");
await storage.syncDir(dir);
writeSync(1, "SYNCEDDIR\n");
