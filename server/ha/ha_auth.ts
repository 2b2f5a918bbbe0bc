/**
 * Mutual authentication of a replication link. Both ends hold one key: the cluster secret, or (with
 * ACL) the secret key of an admin account the slave names. Neither sends it; each proves it over
 * nonces of both sides:
 *
 * ```text
 * slave → master  HELLO      … authKind, accessKey, slave nonce Ns
 * master → slave  CHALLENGE  master nonce Nm, HMAC-SHA256(key, "RMQ-HA-MASTER\n" ‖ HELLO ‖ Nm)
 * slave → master  AUTH       HMAC-SHA256(key, "RMQ-HA-SLAVE\n" ‖ HELLO ‖ Nm)     (after checking the master's)
 * master → slave  WELCOME    (after checking the slave's), or REFUSE
 * ```
 *
 * `HELLO` is the frame as encoded (it carries Ns and the slave's identity and offset), so each proof
 * is fresh, bound to this link and to its direction: a peer cannot replay either, nor turn one side's
 * proof into the other's. Proofs are checked with `crypto.subtle.verify` (constant time).
 *
 * @module
 */
import { HA_NONCE_BYTES, HaAuthKind, type HelloFrame } from "./ha_protocol.ts";

/** What a slave proves itself with. */
export type HaSlaveCredentials =
  | { kind: "secret"; secret: string }
  | { kind: "account"; accessKey: string; secretKey: string };

/** What a master accepts. With neither, it is open: slaves connect without a proof. */
export interface HaMasterAuth {
  /** The cluster secret. */
  clusterSecret?: string;
  /** ACL: the secret key of an account allowed to replicate (an admin), undefined for any other. */
  accountSecret?: (accessKey: string) => string | undefined;
}

const ENCODER = new TextEncoder();
const LABELS = { master: ENCODER.encode("RMQ-HA-MASTER\n"), slave: ENCODER.encode("RMQ-HA-SLAVE\n") } as const;

/** Whether a master with these settings asks slaves for a proof. */
export function requiresAuth(auth: HaMasterAuth | undefined): boolean {
  return auth?.clusterSecret !== undefined || auth?.accountSecret !== undefined;
}

/**
 * A fresh random nonce.
 *
 * @returns `HA_NONCE_BYTES` random bytes.
 */
export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(HA_NONCE_BYTES));
}

/**
 * The key a master checks a slave's `HELLO` against.
 *
 * @param auth The master's settings (authentication is required).
 * @param hello The slave's `HELLO`.
 * @returns The shared secret, or why the slave cannot authenticate (a fragment after "Slave 1 …").
 */
export function masterSecret(auth: HaMasterAuth, hello: HelloFrame): { secret: string } | { refusal: string } {
  switch (hello.authKind) {
    case HaAuthKind.CLUSTER_SECRET:
      if (auth.clusterSecret !== undefined) return { secret: auth.clusterSecret };
      return { refusal: "offers the cluster secret, but this master has none set: give both the same cluster secret (cluster.secretFile), or give the slave an ACL admin account" };
    case HaAuthKind.ACCOUNT: {
      if (auth.accountSecret === undefined) {
        return { refusal: `offers ACL account "${hello.accessKey}", but this master has no ACL: give the slave the cluster secret (cluster.secretFile)` };
      }
      const secret = auth.accountSecret(hello.accessKey);
      if (secret === undefined) return { refusal: `offers ACL account "${hello.accessKey}", which is unknown here or lacks the admin right` };
      return { secret };
    }
    default:
      return { refusal: "did not authenticate: this master requires the cluster secret (cluster.secretFile) or, with ACL, an admin account (acl.accessKey)" };
  }
}

/**
 * Computes one side's proof.
 *
 * @param key The HMAC key of the shared secret (`importHmacKey`).
 * @param side Whose proof.
 * @param hello The `HELLO` frame's bytes, as encoded.
 * @param masterNonce The master's nonce.
 * @returns The 32-byte proof.
 */
export async function proveKey(key: CryptoKey, side: "master" | "slave", hello: Uint8Array, masterNonce: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, transcript(side, hello, masterNonce)));
}

/**
 * Checks one side's proof in constant time.
 *
 * @param key The HMAC key of the shared secret.
 * @param side Whose proof it claims to be.
 * @param hello The `HELLO` frame's bytes, as encoded.
 * @param masterNonce The master's nonce.
 * @param proof The proof received.
 * @returns Whether it is right.
 */
export async function verifyKeyProof(
  key: CryptoKey,
  side: "master" | "slave",
  hello: Uint8Array,
  masterNonce: Uint8Array,
  proof: Uint8Array,
): Promise<boolean> {
  return await crypto.subtle.verify("HMAC", key, proof as Uint8Array<ArrayBuffer>, transcript(side, hello, masterNonce));
}

function transcript(side: "master" | "slave", hello: Uint8Array, masterNonce: Uint8Array): Uint8Array<ArrayBuffer> {
  const label = LABELS[side];
  const out = new Uint8Array(label.length + hello.length + masterNonce.length);
  out.set(label);
  out.set(hello, label.length);
  out.set(masterNonce, label.length + hello.length);
  return out;
}
