/**
 * Network namespaces for the controller tests' partitions (`ip netns`, veth pairs, a bridge): every
 * address lives inside namespaces the test creates, and they are deleted after it.
 */
import { execFileSync } from "node:child_process";

/** Runs `ip` with these arguments (throws when it fails). */
export function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

/**
 * Why network namespaces cannot be made here, or undefined.
 *
 * @param tag Makes the probe's name unique to this test process.
 */
export function cannotMakeNamespaces(tag: string): string | undefined {
  if (process.getuid?.() !== 0) return "needs root for network namespaces";
  try {
    ip("netns", "add", `rmq-probe-${tag}`);
    ip("netns", "del", `rmq-probe-${tag}`);
    return undefined;
  } catch {
    return "needs permission to create network namespaces (ip netns)";
  }
}

/** A hub namespace and one namespace per member, each joined to the hub's bridge by a veth pair. */
export interface Star {
  /** The hub's namespace and its address on the bridge. */
  readonly hub: { ns: string; host: string };
  /** Each member's namespace and address, by id. */
  readonly members: ReadonlyMap<number, { ns: string; host: string }>;
  /** Cuts member `id` off from everyone (its link to the bridge goes down). */
  cut(id: number): void;
  /** Joins member `id` again. */
  heal(id: number): void;
  /** Deletes every namespace (and so their links). */
  close(): void;
}

/**
 * Makes a star: the hub holds a bridge on a private /24, each member a veth pair into it.
 *
 * @param tag Makes the names unique to this test process (at most 4 characters).
 * @param ids The members' ids (0 to 253).
 * @returns The star; `close()` it after the test.
 */
export function makeStar(tag: string, ids: readonly number[]): Star {
  const net = `10.214.${Number.parseInt(tag, 10) % 250}`;
  const hub = { ns: `rmq-st-${tag}-h`, host: `${net}.254` };
  const bridge = `rsb${tag}`;
  const members = new Map(ids.map((id) => [id, { ns: `rmq-st-${tag}-${id}`, host: `${net}.${id}` }]));
  const made: string[] = [];
  const close = () => {
    for (const ns of made) {
      try {
        ip("netns", "del", ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip("netns", "add", hub.ns);
    made.push(hub.ns);
    ip("-n", hub.ns, "link", "set", "lo", "up");
    ip("-n", hub.ns, "link", "add", bridge, "type", "bridge");
    ip("-n", hub.ns, "addr", "add", `${hub.host}/24`, "dev", bridge);
    ip("-n", hub.ns, "link", "set", bridge, "up");
    for (const [id, member] of members) {
      const [spoke, port] = [`rss${tag}${id}`, `rsh${tag}${id}`];
      ip("netns", "add", member.ns);
      made.push(member.ns);
      ip("-n", member.ns, "link", "set", "lo", "up");
      ip("link", "add", spoke, "type", "veth", "peer", "name", port);
      ip("link", "set", spoke, "netns", member.ns);
      ip("link", "set", port, "netns", hub.ns);
      ip("-n", hub.ns, "link", "set", port, "master", bridge);
      ip("-n", hub.ns, "link", "set", port, "up");
      ip("-n", member.ns, "addr", "add", `${member.host}/24`, "dev", spoke);
      ip("-n", member.ns, "link", "set", spoke, "up");
    }
  } catch (error) {
    close();
    throw error;
  }
  return {
    hub,
    members,
    cut: (id) => ip("-n", hub.ns, "link", "set", `rsh${tag}${id}`, "down"),
    heal: (id) => ip("-n", hub.ns, "link", "set", `rsh${tag}${id}`, "up"),
    close,
  };
}
