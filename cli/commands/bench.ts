/**
 * `rmq bench`: the load tool of `bench/load.ts` as a verb. Sends messages in sync, async, oneway and
 * batch modes and reports throughput, latency and what the broker stored; without `--namesrv` it
 * runs against a standalone server of its own, in a temporary directory.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import * as v from "valibot";
import { TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { startStandalone } from "../../server/standalone.ts";
import { type Command, NAMESRV_FLAG, NamesrvEntry, parse } from "../_command.ts";
import { formatLoadReports, LOAD_MODES, type LoadReport, runLoad } from "../_load.ts";
import { printJson, progress, write } from "../_output.ts";

const spec = {
  usage: "rmq bench [flags]",
  summary: "Measures send throughput and latency per mode, and checks that the broker stored every acknowledged message. " +
    "Without --namesrv, starts a standalone server of its own in a temporary directory.",
  flags: {
    namesrv: { ...NAMESRV_FLAG, description: "NameServers of the cluster to load (default: a standalone of its own)" },
    modes: { description: "Modes to run, comma separated: sync, async, oneway, batch", default: LOAD_MODES.join(","), valueName: "modes" },
    count: { description: "Messages per mode", default: "50000", valueName: "n" },
    size: { description: "Body bytes", default: "1024", valueName: "bytes" },
    concurrency: { description: "Concurrent senders (sync, batch)", default: "10", valueName: "n" },
    inflight: { description: "Sends in flight (async)", default: "1000", valueName: "n" },
    batch: { description: "Messages per batch", default: "32", valueName: "n" },
    topic: { description: "Topic prefix; each mode uses <topic>_<mode> (default: bench_<time>)", valueName: "topic" },
    flush: { description: "Flush mode of the standalone started (async or sync)", default: "async", valueName: "mode" },
    json: { description: "Print JSON instead of a table", type: "boolean" as const },
  },
  schema: v.object({
    namesrv: NamesrvEntry,
    modes: v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((m) => m.trim()).filter((m) => m !== "")),
      v.array(v.picklist(LOAD_MODES, "expected sync, async, oneway or batch")),
      v.minLength(1, "expected at least one mode"),
    ),
    count: integerFlag(1, 100_000_000),
    size: integerFlag(1, 4 * 1024 * 1024),
    concurrency: integerFlag(1, 10_000),
    inflight: integerFlag(1, 100_000),
    batch: integerFlag(1, 1024),
    topic: v.optional(TopicName),
    flush: v.picklist(["async", "sync"], "expected async or sync"),
    json: v.optional(v.boolean(), false),
  }),
};

/** `rmq bench`. */
export const bench: Command = {
  summary: "Load test: send throughput, latency and durability check",
  async run(args, runtime) {
    const flags = parse(spec, args);
    let dir: string | undefined;
    let system: Awaited<ReturnType<typeof startStandalone>> | undefined;
    let nameServers = flags.namesrv;
    if (nameServers === undefined) {
      dir = mkdtempSync(join(tmpdir(), "rmq-bench-"));
      system = await startStandalone({
        listen: runtime.listen,
        dial: runtime.dial,
        hostname: "127.0.0.1",
        port: 0,
        nameServerPort: 0,
        dataDir: dir,
        flushMode: flags.flush,
        log: () => {},
      });
      nameServers = [system.nameServerAddress];
    }
    const options = {
      nameServers,
      dial: runtime.dial,
      topic: flags.topic ?? `bench_${Date.now()}`,
      count: flags.count,
      size: flags.size,
      concurrency: flags.concurrency,
      inflight: flags.inflight,
      batch: flags.batch,
    };
    const reports: LoadReport[] = [];
    try {
      for (const mode of flags.modes) {
        const bar = progress(mode.padEnd(7), flags.count);
        let shown = 0;
        try {
          reports.push(await runLoad(mode, { ...options, onProgress: (done) => {
            bar.tick(done - shown);
            shown = done;
          } }));
        } finally {
          bar.done();
        }
      }
    } finally {
      await system?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
    if (flags.json) {
      await printJson({ size: flags.size, count: flags.count, concurrency: flags.concurrency, inflight: flags.inflight, batch: flags.batch, flush: flags.flush, reports });
    } else await write(formatLoadReports(reports, options, flags.flush));
    const clean = reports.every((r) => r.failed === 0 && r.stored === r.ok);
    if (!clean) process.stderr.write("Error: some sends failed or the broker stored a different count than acknowledged\n");
    return clean ? 0 : 1;
  },
};
