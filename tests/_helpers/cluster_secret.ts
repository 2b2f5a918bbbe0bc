/**
 * The cluster secret test processes share: one file (mode 0600) per test process, given to every
 * NameServer and broker the helpers start, so multi-process tests run with registration and
 * replication authenticated, as a real cluster does.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let file: string | undefined;

/** The shared secret's text. */
export const TEST_CLUSTER_SECRET = "test-cluster-secret-0123456789abcdef";

/**
 * The path of the shared secret file, written on first use.
 *
 * @returns The file's path.
 */
export function testClusterSecretFile(): string {
  if (file === undefined) {
    file = join(mkdtempSync(join(tmpdir(), "rmq-secret-")), "cluster.secret");
    writeFileSync(file, `${TEST_CLUSTER_SECRET}\n`, { mode: 0o600 });
  }
  return file;
}

/**
 * Writes another secret file (for a peer that must be refused).
 *
 * @param secret Its text.
 * @returns The file's path.
 */
export function otherClusterSecretFile(secret: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "rmq-secret-")), "cluster.secret");
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return path;
}
