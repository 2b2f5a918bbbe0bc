/**
 * Signs and checks recall handles with a key only this broker knows (HMAC-SHA256, 16 bytes kept),
 * so a handle cannot be forged or altered to cancel another timer. The key is made at first start
 * and kept in `<dataDir>/config/recall_key.json`.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import * as v from "valibot";
import {
  decodeRecallHandle,
  encodeRecallHandle,
  type RecallHandleFields,
  recallHandleSubject,
} from "../../core/model/recall_handle.ts";
import { JsonFile } from "../store/json_file.ts";
import type { SegmentStorage } from "../store/segment_storage.ts";
import type { Log } from "../logger.ts";

const KeyFile = v.object({ key: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)) });

/** Issues and verifies this broker's recall handles. */
export class RecallSigner {
  readonly #key: Uint8Array;

  private constructor(key: Uint8Array) {
    this.#key = key;
  }

  /**
   * Loads the key, making and saving one when there is none. A damaged key file (and backup) is
   * replaced by a new key, with a warning: handles issued before no longer recall their timers
   * (they are refused as not issued by this broker), which loses no message.
   *
   * @param path The key file.
   * @param storage Disk port.
   * @param log Where the warning goes.
   * @returns The signer.
   */
  static async load(path: string, storage: SegmentStorage, log: Log = () => {}): Promise<RecallSigner> {
    const file = new JsonFile(path, {
      storage,
      validate: (value) => {
        const parsed = v.safeParse(KeyFile, value);
        if (!parsed.success) throw new TypeError(v.summarize(parsed.issues));
        return parsed.output;
      },
    });
    let loaded: ReturnType<typeof file.load>;
    try {
      loaded = file.load();
    } catch (error) {
      log(`Warning: recall key unusable, making a new one (recall handles issued before are refused): ${(error as Error).message}`, "warn");
    }
    if (loaded?.source === "backup") log(`Warning: recall key restored from its backup: ${loaded.mainError?.message}`, "warn");
    if (loaded !== undefined) return new RecallSigner(Uint8Array.from(Buffer.from(loaded.value.key, "hex")));
    const key = randomBytes(32);
    await file.save({ key: key.toString("hex") });
    return new RecallSigner(Uint8Array.from(key));
  }

  #mac(fields: Omit<RecallHandleFields, "mac">): string {
    return createHmac("sha256", this.#key).update(recallHandleSubject(fields)).digest("hex").slice(0, 32);
  }

  /**
   * The handle of a stored timer.
   *
   * @param fields Broker, topic, due time and timer id.
   * @returns The handle text.
   */
  issue(fields: Omit<RecallHandleFields, "mac">): string {
    return encodeRecallHandle({ ...fields, mac: this.#mac(fields) });
  }

  /**
   * Checks a handle sent with a recall.
   *
   * @param handle The handle text.
   * @param expected The topic the recall names and this broker's name.
   * @returns Its fields, or a sentence saying why it is refused.
   */
  check(handle: string, expected: { topic: string; brokerName: string }): RecallHandleFields | string {
    const fields = decodeRecallHandle(handle);
    if (typeof fields === "string") return fields;
    if (fields.brokerName !== expected.brokerName) {
      return `Recall handle belongs to broker "${fields.brokerName}", not "${expected.brokerName}"`;
    }
    if (fields.topic !== expected.topic) return `Recall handle is for topic "${fields.topic}", not "${expected.topic}"`;
    const good = Buffer.from(this.#mac(fields), "hex");
    if (!timingSafeEqual(good, Buffer.from(fields.mac, "hex"))) return "Recall handle was not issued by this broker (its signature does not match)";
    return fields;
  }
}
