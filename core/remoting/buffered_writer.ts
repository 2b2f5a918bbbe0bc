/**
 * Keeps what a partial-write socket (Bun's, for one) did not take, and hands it over on drain.
 *
 * @module
 */

/** A socket whose `write` may take only part of the bytes and says how many. */
export interface PartialWriteSocket {
  write(data: Uint8Array): number;
}

/** Queues unwritten bytes in order; `drain()` retries them when the socket has room. */
export class BufferedWriter {
  readonly #socket: PartialWriteSocket;
  #queue: Uint8Array[] = [];
  #buffered = 0;
  #onEmpty: (() => void) | undefined;

  /** @param socket The socket to write to. */
  constructor(socket: PartialWriteSocket) {
    this.#socket = socket;
  }

  /** Bytes not yet taken by the socket. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Writes bytes now if the socket takes them, else queues a copy of the rest.
   *
   * @param data Bytes to send; the caller may reuse the array once this returns.
   */
  write(data: Uint8Array): void {
    if (this.#buffered > 0) {
      this.#queue.push(data.slice());
      this.#buffered += data.length;
      return;
    }
    const written = this.#socket.write(data);
    if (written >= data.length) return;
    const rest = data.slice(Math.max(0, written));
    this.#queue.push(rest);
    this.#buffered += rest.length;
  }

  /**
   * Runs `fn` once every queued byte was taken by the socket (at once when nothing is queued);
   * use it to end a socket without dropping what is still queued.
   *
   * @param fn What to do when empty.
   */
  whenEmpty(fn: () => void): void {
    if (this.#buffered === 0) fn();
    else this.#onEmpty = fn;
  }

  /** Sends queued bytes; call from the socket's drain callback. */
  drain(): void {
    while (this.#queue.length > 0) {
      let data = this.#queue[0]!;
      if (this.#queue.length > 1) {
        // Merge what is queued into one write.
        data = new Uint8Array(this.#buffered);
        let pos = 0;
        for (const part of this.#queue) {
          data.set(part, pos);
          pos += part.length;
        }
        this.#queue = [data];
      }
      const written = this.#socket.write(data);
      if (written <= 0) return;
      this.#buffered -= written;
      if (written < data.length) {
        this.#queue[0] = data.subarray(written);
        return;
      }
      this.#queue.shift();
    }
    const onEmpty = this.#onEmpty;
    this.#onEmpty = undefined;
    onEmpty?.();
  }
}
