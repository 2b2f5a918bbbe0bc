/**
 * The key receipt handles are signed with: derived from the cluster secret when there is one (so
 * every broker of a cluster can tell its own handles from forged ones the same way after a
 * restart or a move of its data), else 32 random bytes kept in `config/pop_key.json`, made once.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, randomBytes } from "node:crypto";
import * as v from "valibot";
import type { JsonFile } from "../../store/json_file.ts";

/** Schema of the key file. */
export const PopKeyFile = v.object({ key: v.pipe(v.string(), v.base64(), v.minLength(43)) });
/** The key file. */
export type PopKeyFile = v.InferOutput<typeof PopKeyFile>;

/**
 * The receipt handle key.
 *
 * @param file Where a random key is kept.
 * @param secret The cluster secret, when set.
 * @returns 32 bytes, and a warning when the key file was unusable and a new key was made (handles
 *   issued before are refused from then on: their messages come back after their invisible time).
 */
export async function popKey(file: JsonFile<PopKeyFile>, secret: string | undefined): Promise<{ key: Uint8Array; warning?: string }> {
  if (secret !== undefined) return { key: createHmac("sha256", secret).update("rocketmq-ts POP receipt handles").digest() };
  let warning: string | undefined;
  try {
    const loaded = file.load();
    if (loaded !== undefined) return { key: Buffer.from(loaded.value.key, "base64") };
  } catch (error) {
    warning = `POP receipt handle key is unusable (${(error as Error).message}); a new key is made and handles issued before are refused`;
  }
  const key = randomBytes(32);
  await file.save({ key: key.toString("base64") });
  return warning === undefined ? { key } : { key, warning };
}
