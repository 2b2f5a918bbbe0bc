/**
 * The broker's JSON state files (topics, consumer offsets, delay offsets) at start: a corrupt main
 * file is replaced by its last good `.bak` copy with a warning; when no good copy is left the broker
 * refuses to start with a message naming the file and how to recover, never silently starting
 * empty (which would reset offsets and send consumers back to the start or the end of their queues).
 *
 * @module
 */

/** What each state file holds and how an operator recovers it. */
export interface StateFile {
  /** The file's name under `<dataDir>/config/`. */
  file: string;
  /** What it holds, for messages. */
  what: string;
  /** What starting without it would do. */
  loss: string;
  /** How to start again. */
  recover: string;
}

/** The state files, by role. */
export const STATE_FILES = {
  topics: {
    file: "topics.json",
    what: "Topic table",
    loss: "forget every topic created on this broker",
    recover: "restore the file (or its .bak) from a backup, or move both aside and re-create the topics (rmq topic create); " +
      "topics.journal (and its copy topics.journal.bak) beside it holds the changes since the file was written",
  },
  offsets: {
    file: "consumer_offsets.json",
    what: "Consumer offsets",
    loss: "reset every consumer group's committed offsets",
    recover: "restore the file (or its .bak) from a backup, or move both aside to start with no committed offsets " +
      "(each group then starts from its consumeFromWhere position; set offsets with rmq offset reset)",
  },
  delayOffsets: {
    file: "delay_offsets.json",
    what: "Delay offsets",
    loss: "deliver every scheduled message again from the start of its delay queue",
    recover: "restore the file (or its .bak) from a backup, or move both aside to deliver the delay queues again from their start",
  },
  groups: {
    file: "subscription_groups.json",
    what: "Consumer group settings",
    loss: "forget every group's settings (FIFO, retry limit and policy) and fall back to the defaults",
    recover: "restore the file (or its .bak) from a backup, or move both aside and set the groups again (rmq group update)",
  },
} as const satisfies Record<string, StateFile>;

/**
 * The POP state snapshot (`config/pop_state.json`). It is not among `STATE_FILES`: when it and its
 * backup are unusable the broker rebuilds it from the whole revive log instead of refusing to start.
 */
export const POP_STATE_FILE = "pop_state.json";
/** The key receipt handles are signed with when there is no cluster secret (`config/pop_key.json`). */
export const POP_KEY_FILE = "pop_key.json";

/** A state file and its backup are both unusable. */
export class StateFileError extends Error {
  /**
   * @param message What is wrong and how to recover.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateFileError";
  }
}

function reasons(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  if (cause instanceof AggregateError) return cause.errors.map((e) => (e as Error).message).join("; ");
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Loads one state file through its manager, turning "no usable copy" into a `StateFileError`.
 *
 * @param manager Anything whose `load()` reads the file and returns a warning (or throws).
 * @param file Which state file.
 * @param path The main file's full path.
 * @returns The manager's warning, if any (e.g. restored from `.bak`).
 * @throws {StateFileError} When neither the file nor its backup holds a valid copy.
 */
export function loadState(manager: { load(): string | undefined }, file: StateFile, path: string): string | undefined {
  try {
    return manager.load();
  } catch (error) {
    if (error instanceof StateFileError) throw error;
    const noBackup = error instanceof Error && error.message.includes("no backup exists");
    throw new StateFileError(
      `${file.what} file "${path}" is unusable and ${noBackup ? "has no backup" : `so is its backup "${path}.bak"`}: ${reasons(error)}. ` +
        `Refusing to start rather than ${file.loss}. To recover, ${file.recover}`,
      { cause: error },
    );
  }
}
