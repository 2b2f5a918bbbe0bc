/**
 * Waits for a topic created on first send to reach the NameServer (the broker re-registers within
 * milliseconds of a topic change).
 */
import type { PullConsumer } from "../../mod.ts";

/**
 * Resolves once the NameServer routes `topic`; rejects after about two seconds.
 *
 * @param consumer A started consumer.
 * @param topic The topic.
 */
export async function routed(consumer: PullConsumer, topic: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      await consumer.fetchMessageQueues(topic);
      return;
    } catch (error) {
      if (attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
