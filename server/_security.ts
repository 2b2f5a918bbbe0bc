/**
 * ACL, TLS and the cluster secret for the server entrypoints: loads the ACL file (watching it), the
 * TLS identity and the cluster secret named by the `acl`, `tls` and `cluster` configuration sections
 * (`--acl`, `--tls-cert`, `--tls-key`, `--cluster-secret-file`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import type { Credentials } from "../core/auth/signing.ts";
import type { DialOptions, TlsServerOptions } from "../core/remoting/transport.ts";
import { AclFile } from "./acl/acl_file.ts";
import { AclGuard } from "./acl/acl_guard.ts";
import type { AclRules } from "./acl/acl_rules.ts";
import { checkClusterSecret, readClusterSecretFile } from "./_cluster_secret.ts";
import { type Config, ConfigError } from "./config.ts";
import type { Log } from "./logger.ts";

/** ACL and TLS settings ready to hand to `startBroker`, `startNameServer` and the admin server. */
export interface ServerSecurity {
  /** The request check, when ACL is on. */
  guard?: AclGuard;
  /** The rules in force, when ACL is on (for the admin API). */
  rules?: () => AclRules;
  /** The listeners' TLS identity, when TLS is on. */
  tls?: TlsServerOptions;
  /**
   * The replication listener's TLS: `tls`, plus the client CA slaves' certificates must chain to
   * when `tls.replicationClientCa` is set (mutual TLS).
   */
  replicationTls?: TlsServerOptions;
  /** How a broker dials its NameServers. */
  nameServerDial: DialOptions;
  /**
   * How a slave dials its master (HA and client ports): TLS whenever this broker has a TLS
   * identity, trusting `tls.ca` or else its own certificate (one self-signed certificate shared by
   * the group), and presenting that identity to a master that asks for a client certificate;
   * plain TCP without one.
   */
  replicationDial: DialOptions;
  /** The account a broker signs NameServer registrations with. */
  nameServerCredentials?: () => Credentials | undefined;
  /** The cluster secret (`cluster.secret` or `cluster.secretFile`), when configured. */
  clusterSecret?: string;
  /** With ACL: the secret key of an admin account, which replication peers may authenticate as. */
  peerAccountSecret?: (accessKey: string) => string | undefined;
  /** Stops watching the ACL file. */
  close(): void;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError(`Cannot read the TLS ${what} "${file}": ${(cause as Error).message}`, { cause });
  }
}

/**
 * Loads what the configuration asks for.
 *
 * @param config The merged configuration.
 * @param options `standalone`: the broker dials its in-process NameServer with TLS whenever the
 *   listeners use it, trusting `tls.ca` or else the certificate itself.
 * @returns The settings.
 * @throws {ConfigError} When a file is missing or invalid, or only one of cert and key is given.
 */
export function loadServerSecurity(
  config: Pick<Config, "acl" | "tls" | "cluster">,
  options: { standalone?: boolean; log?: Log } = {},
): ServerSecurity {
  const clusterSecret = loadClusterSecret(config.cluster, options.log);
  const secret = clusterSecret === undefined ? {} : { clusterSecret };
  const { cert, key, ca } = config.tls;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError("TLS needs both a certificate and a key (--tls-cert and --tls-key, or tls.cert and tls.key)");
  }
  const tls = cert === undefined ? undefined : { cert: readPem(cert, "certificate"), key: readPem(key!, "key") };
  const dialTls = config.tls.nameServers ?? (options.standalone === true && tls !== undefined);
  const trusted = ca !== undefined ? readPem(ca, "CA") : options.standalone === true ? tls?.cert : undefined;
  const nameServerDial: DialOptions = dialTls ? { tls: trusted === undefined ? {} : { ca: trusted } } : {};
  const replicationCa = ca !== undefined ? readPem(ca, "CA") : tls?.cert;
  const replicationDial: DialOptions = tls === undefined ? {} : { tls: { ...(replicationCa === undefined ? {} : { ca: replicationCa }), identity: tls } };
  const clientCa = config.tls.replicationClientCa;
  if (clientCa !== undefined && tls === undefined) {
    throw new ConfigError("Mutual TLS on the replication port (tls.replicationClientCa) needs the master's own certificate: set tls.cert and tls.key too");
  }
  const replicationTls = tls === undefined ? undefined : clientCa === undefined ? tls : { ...tls, clientCa: readPem(clientCa, "replication client CA") };
  const explicit = config.acl.accessKey !== undefined && config.acl.secretKey !== undefined
    ? { accessKey: config.acl.accessKey, secretKey: config.acl.secretKey }
    : undefined;
  if (config.acl.file === undefined) {
    return { tls, replicationTls, nameServerDial, replicationDial, ...secret, ...(explicit === undefined ? {} : { nameServerCredentials: () => explicit }), close() {} };
  }
  let file: AclFile;
  try {
    file = AclFile.open(config.acl.file, { log: options.log });
  } catch (cause) {
    throw new ConfigError((cause as Error).message, { cause });
  }
  const rules = () => file.rules;
  return {
    guard: new AclGuard({ rules }),
    rules,
    tls,
    replicationTls,
    nameServerDial,
    replicationDial,
    ...secret,
    peerAccountSecret: (accessKey) => {
      const account = file.rules.account(accessKey);
      return account?.admin === true ? account.secretKey : undefined;
    },
    nameServerCredentials: () => {
      if (explicit !== undefined) return explicit;
      const admin = file.rules.firstAdmin();
      return admin === undefined ? undefined : { accessKey: admin.accessKey, secretKey: admin.secretKey };
    },
    close: () => file.close(),
  };
}

function loadClusterSecret(cluster: Config["cluster"], log?: Log): string | undefined {
  if (cluster.secret !== undefined && cluster.secretFile !== undefined) {
    throw new ConfigError("Set the cluster secret once: cluster.secret (RMQ_CLUSTER_SECRET) or cluster.secretFile (--cluster-secret-file), not both");
  }
  if (cluster.secret !== undefined) return checkClusterSecret(cluster.secret, "cluster.secret (RMQ_CLUSTER_SECRET)");
  if (cluster.secretFile !== undefined) return readClusterSecretFile(cluster.secretFile, log);
  return undefined;
}
