/**
 * `--cluster` of the admin verbs that change topics and groups: act on every master of a cluster,
 * found through the NameServer, as `mqadmin updateTopic -c` does.
 *
 * @module
 */
import * as v from "valibot";

/** `--cluster`: act on every master of a cluster, found through the NameServer (`mqadmin … -c`). */
export const CLUSTER_FLAG = {
  cluster: { description: "Act on every master of this cluster (found through the NameServer), not only the admin API's broker", valueName: "name", short: "c" },
};

/** Schema entry of `CLUSTER_FLAG`. */
export const ClusterEntry = v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(255)));

/** What a change on a whole cluster answers: the masters that took it. */
export interface ClusterResult {
  cluster: string;
  brokers: Array<{ brokerName: string; address: string; created?: boolean }>;
}

/**
 * The brokers of a change on a whole cluster, as a sentence.
 *
 * @param result The answer.
 * @returns `2 masters of cluster "c1": broker-a (127.0.0.1:10911), …`.
 */
export function clusterBrokersText(result: ClusterResult): string {
  const n = result.brokers.length;
  return `${n} master${n === 1 ? "" : "s"} of cluster "${result.cluster}": ${result.brokers.map((b) => `${b.brokerName} (${b.address})`).join(", ")}`;
}
