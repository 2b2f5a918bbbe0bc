/**
 * The two send shapes of the client benches: callers that each await their send (sync), and a
 * number of sends kept outstanding (async).
 *
 * @module
 */
import type { Producer } from "../mod.ts";

/**
 * Sends `n` messages from `callers` callers, each awaiting its send before the next.
 *
 * @param producer The started producer.
 * @param topic The topic.
 * @param body Each message's body (a new message each send, as a caller's would be).
 * @param callers How many callers.
 * @param n How many sends in all.
 */
export async function sendAwaited(producer: Producer, topic: string, body: Uint8Array, callers: number, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(callers, n) }, async () => {
    while (next < n) {
      next++;
      await producer.send({ topic, body });
    }
  }));
}

/**
 * Sends `n` messages keeping `inflight` of them outstanding; rejects with the first failure.
 *
 * @param producer The started producer.
 * @param topic The topic.
 * @param body Each message's body (a new message each send, as a caller's would be).
 * @param inflight How many sends at once.
 * @param n How many sends in all.
 */
export function sendInFlight(producer: Producer, topic: string, body: Uint8Array, inflight: number, n: number): Promise<void> {
  let started = 0;
  let done = 0;
  return new Promise<void>((resolve, reject) => {
    const one = (): void => {
      started++;
      producer.send({ topic, body }).then(() => {
        done++;
        if (started < n) one();
        else if (done === n) resolve();
      }, reject);
    };
    for (let i = 0; i < Math.min(inflight, n); i++) one();
  });
}
