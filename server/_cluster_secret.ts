/**
 * The cluster secret: one key shared by a cluster's NameServers and brokers. Brokers sign
 * `REGISTER_BROKER`/`UNREGISTER_BROKER` with it (the request signing of `core/auth/signing.ts`,
 * under the reserved access key `CLUSTER_ACCESS_KEY`), and replication peers prove it to each other
 * in the HA handshake (`server/ha/ha_auth.ts`). It is never sent. See docs/SECURITY.md.
 *
 * @module
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Credentials } from "../core/auth/signing.ts";
import { ConfigError } from "./config.ts";
import type { Log } from "./logger.ts";

/** The access key under which requests signed with the cluster secret travel. */
export const CLUSTER_ACCESS_KEY = "rmq-cluster";

/** The shortest cluster secret accepted. */
export const MIN_CLUSTER_SECRET_LENGTH = 16;

/** The file standalone keeps its generated secret in, under its data dir. */
export const CLUSTER_SECRET_FILE = "cluster.secret";

/**
 * The signing credentials of a cluster secret.
 *
 * @param secret The secret.
 * @returns Credentials under `CLUSTER_ACCESS_KEY`.
 */
export function clusterCredentials(secret: string): Credentials {
  return { accessKey: CLUSTER_ACCESS_KEY, secretKey: secret };
}

/**
 * Validates a secret (surrounding whitespace, such as a file's final newline, is not part of it).
 *
 * @param text The secret as configured.
 * @param where Where it came from, for the message.
 * @returns The trimmed secret.
 * @throws {ConfigError} When it is shorter than `MIN_CLUSTER_SECRET_LENGTH`.
 */
export function checkClusterSecret(text: string, where: string): string {
  const secret = text.trim();
  if (secret.length < MIN_CLUSTER_SECRET_LENGTH) {
    throw new ConfigError(
      `Cluster secret from ${where} has ${secret.length} characters, at least ${MIN_CLUSTER_SECRET_LENGTH} are needed ` +
        "(make one with: openssl rand -hex 32)",
    );
  }
  return secret;
}

/**
 * A new random secret: 32 random bytes as hex.
 *
 * @returns The secret.
 */
export function generateClusterSecret(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads a cluster secret file, warning when other users may read it.
 *
 * @param path The file.
 * @param log Where the warning goes.
 * @returns The secret.
 * @throws {ConfigError} When the file cannot be read or holds too short a secret.
 */
export function readClusterSecretFile(path: string, log?: Log): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ConfigError(
      `Cannot read the cluster secret file "${path}": ${(cause as Error).message} ` +
        `(create one with: openssl rand -hex 32 > ${path} && chmod 600 ${path})`,
      { cause },
    );
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    log?.(`Warning: cluster secret file "${path}" may be read by other users (mode ${mode.toString(8).padStart(4, "0")}): chmod 600 it`, "warn");
  }
  return checkClusterSecret(text, `file "${path}"`);
}

/**
 * Reads the secret file, creating it (mode 0600, fsynced) with a new secret when it is missing.
 *
 * @param path The file.
 * @param log Where warnings go.
 * @returns The secret and whether it was just created.
 * @throws {ConfigError} When the file exists but is unusable, or cannot be created.
 */
export function loadOrCreateClusterSecret(path: string, log?: Log): { secret: string; created: boolean } {
  const secret = generateClusterSecret();
  let fd: number;
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return { secret: readClusterSecretFile(path, log), created: false };
    throw new ConfigError(`Cannot create the cluster secret file "${path}": ${(error as Error).message}`, { cause: error });
  }
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { secret, created: true };
}

/**
 * Standalone's secret when none is configured: `<dataDir>/cluster.secret`, created on first start
 * and read on later ones, with a log line saying where it is (joining brokers need the file).
 *
 * @param dataDir Standalone's data dir.
 * @param log Where the line (and warnings) go.
 * @returns The secret.
 * @throws {ConfigError} When the file exists but is unusable, or cannot be created.
 */
export function standaloneClusterSecret(dataDir: string, log: Log): string {
  const file = join(dataDir, CLUSTER_SECRET_FILE);
  const loaded = loadOrCreateClusterSecret(file, log);
  log(`Cluster secret ${loaded.created ? "created in" : "read from"} ${file}: brokers joining this NameServer need it (--cluster-secret-file ${file})`, "info");
  return loaded.secret;
}
