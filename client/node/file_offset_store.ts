/**
 * A file-backed `OffsetStore` on `node:fs` (which Bun, Deno and Node all provide): broadcasting
 * members keep their place across restarts.
 *
 * @module
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { type MessageQueue, messageQueueKey } from "../../core/model/message_queue.ts";
import type { OffsetStore } from "../offset_store.ts";

/**
 * Keeps offsets in one JSON file (`{ "<topic>@<broker>@<queueId>": offset }`), rewritten
 * atomically (temporary file, then rename) on every `persist` that changed something.
 *
 * @example A broadcasting member that resumes where it stopped
 * ```ts ignore
 * import { PushConsumer } from "../push_consumer.ts";
 * import { FileOffsetStore } from "./file_offset_store.ts";
 * const consumer = new PushConsumer({
 *   nameServer: "127.0.0.1:9876",
 *   group: "cache_invalidation",
 *   messageModel: "BROADCASTING",
 *   offsetStore: new FileOffsetStore("./data/offsets.json"),
 * });
 * ```
 */
export class FileOffsetStore implements OffsetStore {
  readonly #path: string;
  readonly #offsets = new Map<string, number>();
  #durable: Record<string, number> | undefined;
  #writing: Promise<void> = Promise.resolve();

  /** @param path The JSON file; created with its directory on first persist. */
  constructor(path: string) {
    this.#path = path;
  }

  async read(queue: MessageQueue): Promise<number> {
    const durable = await this.#load();
    const offset = durable[messageQueueKey(queue)] ?? -1;
    if (offset >= 0) this.#offsets.set(messageQueueKey(queue), offset);
    return offset;
  }

  get(queue: MessageQueue): number {
    return this.#offsets.get(messageQueueKey(queue)) ?? -1;
  }

  update(queue: MessageQueue, offset: number, increaseOnly = false): void {
    if (!Number.isSafeInteger(offset) || offset < 0) return;
    const key = messageQueueKey(queue);
    const current = this.#offsets.get(key);
    if (current === undefined || !increaseOnly || offset > current) this.#offsets.set(key, offset);
  }

  async persist(queues: readonly MessageQueue[]): Promise<void> {
    const durable = await this.#load();
    let changed = false;
    for (const queue of queues) {
      const key = messageQueueKey(queue);
      const offset = this.#offsets.get(key);
      if (offset !== undefined && durable[key] !== offset) {
        durable[key] = offset;
        changed = true;
      }
    }
    if (!changed) return;
    const text = JSON.stringify(durable, null, 2);
    this.#writing = this.#writing.catch(() => {}).then(async () => {
      await mkdir(dirname(this.#path), { recursive: true });
      const temporary = `${this.#path}.tmp`;
      await writeFile(temporary, text);
      await rename(temporary, this.#path);
    });
    await this.#writing;
  }

  remove(queue: MessageQueue): void {
    this.#offsets.delete(messageQueueKey(queue));
  }

  async #load(): Promise<Record<string, number>> {
    if (this.#durable !== undefined) return this.#durable;
    let parsed: Record<string, number> = {};
    try {
      const value = JSON.parse(await readFile(this.#path, "utf8")) as unknown;
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TypeError(`Offset file "${this.#path}" is not a JSON object`);
      for (const [key, offset] of Object.entries(value)) if (Number.isSafeInteger(offset) && (offset as number) >= 0) parsed[key] = offset as number;
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
      parsed = {};
    }
    this.#durable ??= parsed;
    return this.#durable;
  }
}
