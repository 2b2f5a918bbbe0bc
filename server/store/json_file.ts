/**
 * Small JSON state files (checkpoint, topic config, consumer offsets) saved atomically: write a
 * temporary file, fsync it, move the current file to `.bak`, rename the temporary file into
 * place, fsync the directory. Loading falls back to the `.bak` copy when the main file is
 * missing or corrupt. When there is no good current file to keep (the first save, or one after
 * the main file was found damaged), `.bak` gets a copy of the new content, so a file saved once is
 * never the only copy.
 *
 * A saved object carries the CRC-32 of its compact JSON under the key `"#crc32"`, so a flipped bit
 * that still parses (a topic name, an offset digit) is found at load instead of trusted. A file
 * without the key (written by hand) is taken as it is.
 *
 * @module
 */

import { crc32 } from "../../core/model/crc32.ts";
import { parentDir, type SegmentStorage } from "./segment_storage.ts";

/** Options of `JsonFile`. */
export interface JsonFileOptions<T> {
  /** Where the file lives. */
  storage: SegmentStorage;
  /** Checks a parsed value and returns it typed; throw to reject it as corrupt. */
  validate?: (value: unknown) => T;
}

/** What `JsonFile.load()` found. */
export interface JsonFileLoad<T> {
  value: T;
  /** `backup` when the main file was missing or corrupt and `.bak` served instead. */
  source: "main" | "backup";
  /** Why the main file was not used, when `source` is `backup`. */
  mainError?: Error;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** One JSON file with a last-good `.bak` copy. */
export class JsonFile<T> {
  /** The main file's path. */
  readonly path: string;
  #storage: SegmentStorage;
  #validate: (value: unknown) => T;
  /** The save in progress, if any. */
  #saving: Promise<void> = Promise.resolve();

  /**
   * @param path The main file's path; `.tmp` and `.bak` siblings are used beside it.
   * @param options Storage and validation.
   */
  constructor(path: string, options: JsonFileOptions<T>) {
    this.path = path;
    this.#storage = options.storage;
    this.#validate = options.validate ?? ((value) => value as T);
  }

  /**
   * Reads the file, falling back to `.bak`.
   *
   * @returns The value and where it came from, or undefined when neither file exists.
   * @throws {Error} When a file exists but neither holds a valid value.
   */
  load(): JsonFileLoad<T> | undefined {
    let mainError: Error | undefined;
    if (this.#storage.exists(this.path)) {
      try {
        return { value: this.#read(this.path), source: "main" };
      } catch (error) {
        mainError = error as Error;
      }
    }
    const backup = `${this.path}.bak`;
    if (!this.#storage.exists(backup)) {
      if (mainError) throw new Error(`Cannot load "${this.path}" and no backup exists`, { cause: mainError });
      return undefined;
    }
    try {
      const result: JsonFileLoad<T> = { value: this.#read(backup), source: "backup" };
      result.mainError = mainError ?? new Error(`File "${this.path}" is missing`);
      return result;
    } catch (error) {
      throw new Error(`Cannot load "${this.path}" or its backup "${backup}"`, {
        cause: new AggregateError([mainError, error].filter(Boolean), "Both copies are unreadable"),
      });
    }
  }

  /**
   * Saves `value` atomically; once the promise resolves the new content survives a power loss.
   * Saves run one at a time in call order (they share the `.tmp` file), so the last call wins.
   *
   * @param value A JSON-serialisable value.
   */
  save(value: T): Promise<void> {
    const run = () => this.#write(value);
    const next = this.#saving.then(run, run);
    this.#saving = next.catch(() => {});
    return next;
  }

  async #write(value: T): Promise<void> {
    const bytes = encoder.encode(`${JSON.stringify(withChecksum(value), null, 2)}\n`);
    const tmp = `${this.path}.tmp`;
    const dir = parentDir(this.path);
    this.#storage.mkdir(dir);
    this.#storage.remove(tmp);
    await this.#writeSynced(tmp, bytes);
    if (this.#storage.exists(this.path) && this.#isValid(this.path)) {
      this.#storage.rename(this.path, `${this.path}.bak`);
    } else {
      // No good copy to keep as the backup: the new content becomes it too.
      const bakTmp = `${this.path}.bak.tmp`;
      this.#storage.remove(bakTmp);
      await this.#writeSynced(bakTmp, bytes);
      this.#storage.rename(bakTmp, `${this.path}.bak`);
    }
    this.#storage.rename(tmp, this.path);
    await this.#storage.syncDir(dir);
  }

  async #writeSynced(path: string, bytes: Uint8Array): Promise<void> {
    const file = this.#storage.open(path, { create: true });
    try {
      file.write(bytes, 0);
      await file.sync();
    } finally {
      file.close();
    }
  }

  #isValid(path: string): boolean {
    try {
      this.#read(path);
      return true;
    } catch {
      return false;
    }
  }

  #read(path: string): T {
    const file = this.#storage.open(path);
    try {
      const bytes = new Uint8Array(file.size());
      file.read(bytes, 0);
      return this.#validate(verifyChecksum(JSON.parse(decoder.decode(bytes))));
    } catch (error) {
      throw new Error(`File "${path}" is corrupt: ${(error as Error).message}`, { cause: error });
    } finally {
      file.close();
    }
  }
}

const CHECKSUM_KEY = "#crc32";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checksumOf(value: unknown): number {
  return crc32(encoder.encode(JSON.stringify(value)));
}

/**
 * The object with its checksum (`"#crc32"`, of its JSON text) as its first key; other values as they are.
 *
 * @param value A JSON-serialisable value.
 * @returns What to write.
 */
export function withChecksum(value: unknown): unknown {
  return isPlainObject(value) ? { [CHECKSUM_KEY]: checksumOf(value), ...value } : value;
}

/**
 * The value without its checksum key, once the checksum matched (a value without one as it is).
 *
 * @param parsed What was read.
 * @returns The value.
 * @throws {Error} When the checksum does not match the content.
 */
export function verifyChecksum(parsed: unknown): unknown {
  if (!isPlainObject(parsed) || !(CHECKSUM_KEY in parsed)) return parsed;
  const { [CHECKSUM_KEY]: stored, ...value } = parsed;
  const actual = checksumOf(value);
  if (stored !== actual) throw new Error(`checksum ${JSON.stringify(stored)} does not match the content's ${actual}`);
  return value;
}
