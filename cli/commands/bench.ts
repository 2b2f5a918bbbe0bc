/**
 * `rmq bench [produce|consume|e2e]`: the load tool (also `bench/load.ts`). Measures send
 * throughput and latency per mode (produce), consume throughput from a backlog (consume), or
 * end-to-end latency at a steady rate (e2e), with the CPU and memory of client and broker. Without
 * `--namesrv` it starts a standalone server in a child process (under Bun or Deno) and reports its
 * startup time and idle memory too.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { clientDial, type Command, CREDENTIAL_ENTRIES, CREDENTIAL_FLAGS, NAMESRV_FLAG, NamesrvEntry, parse } from "../_command.ts";
import {
  CONSUME_MODES,
  type ConsumeMode,
  LOAD_MODES,
  type LoadMode,
  type LoadOptions,
  type LoadReport,
  runConsume,
  runE2e,
  runLoad,
  type Workload,
  WORKLOADS,
} from "../_load.ts";
import { formatLoadRun, liveLine, type LoadRun, loadProblems } from "../_load_report.ts";
import { type LoadServer, startLoadServer } from "../_load_server.ts";
import { processCpuSeconds, processMemory } from "../_load_stats.ts";
import { CliError, ExitCode, printJson, write } from "../_output.ts";

/** Warm-up messages before each mode unless `--warmup` says otherwise (at most `--count`). */
const DEFAULT_WARMUP = 20_000;

const spec = {
  usage: "rmq bench [produce|consume|e2e] [flags]",
  summary: "Load test. produce (the default): send throughput and latency per mode, and a check that the broker stored " +
    "every acknowledged message. consume: fills a backlog of --count messages, then reads it with a push consumer, " +
    "with pull loops, with POP receive-and-ack loops, with a push consumer over POP and with a lite pull consumer. e2e: sends at --rate while a push consumer consumes, and times each message from send to handler. " +
    "Reports msgs/s, MB/s, latency percentiles, errors, and CPU and peak memory of client and broker. Without --namesrv, " +
    "starts a standalone server of its own in a child process and a temporary directory, and reports its startup time.",
  flags: {
    namesrv: { ...NAMESRV_FLAG, description: "NameServers of the cluster to load (default: a standalone of its own)" },
    ...CREDENTIAL_FLAGS,
    "broker-pid": { description: "With --namesrv: PID of the broker process, to report its CPU and memory", valueName: "pid" },
    runtime: { description: "Runtime of the standalone started: bun or deno (default: this one's)", valueName: "name" },
    modes: { description: "Modes, comma separated. produce: sync, async, oneway, batch (default: all); consume: push, pull, pop, push-pop, lite-pull (default: all)", valueName: "modes" },
    count: { description: "Messages per mode (the backlog, for consume) (default: 50000, or no cap with --duration)", valueName: "n" },
    duration: { description: "produce, e2e: send for this many seconds (and at most --count messages, when given)", valueName: "s" },
    size: { description: "Body bytes", default: "1024", valueName: "bytes" },
    concurrency: { description: "Concurrent senders (sync, batch)", default: "10", valueName: "n" },
    inflight: { description: "Sends in flight (async, consume's fill, e2e)", default: "1000", valueName: "n" },
    batch: { description: "Messages per batch send, per pull of the pull loops and per POP receive (at most 32)", default: "32", valueName: "n" },
    "pull-batch": { description: "consume, e2e: messages per pull of the push and lite pull consumers (default: their own, 128)", valueName: "n" },
    warmup: { description: "Messages sent (and read) the same way on a topic of their own before each measured mode, not counted; 0 for none (default: the smaller of --count and 20000)", valueName: "n" },
    rate: { description: "e2e: messages sent a second", default: "5000", valueName: "n" },
    topic: { description: "Topic prefix; each mode uses <topic>_<mode> (default: bench_<time>)", valueName: "topic" },
    queues: { description: "Queues of each topic created", default: "4", valueName: "n" },
    flush: { description: "Flush mode of the standalone started (async or sync)", default: "async", valueName: "mode" },
    json: { description: "Print JSON instead of a table", type: "boolean" as const },
  },
  schema: v.object({
    namesrv: NamesrvEntry,
    ...CREDENTIAL_ENTRIES,
    brokerPid: v.optional(integerFlag(1)),
    runtime: v.optional(v.picklist(["bun", "deno"], "expected bun or deno")),
    modes: v.optional(v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((m) => m.trim()).filter((m) => m !== "")),
      v.minLength(1, "expected at least one mode"),
    )),
    count: v.optional(integerFlag(1, 100_000_000)),
    duration: v.optional(v.pipe(
      v.string(),
      v.regex(/^\d+(\.\d+)?$/, "expected seconds, such as 10 or 0.5"),
      v.transform(Number),
      v.minValue(0.01, "must be at least 0.01"),
    )),
    size: integerFlag(1, 4 * 1024 * 1024),
    concurrency: integerFlag(1, 10_000),
    inflight: integerFlag(1, 100_000),
    batch: integerFlag(1, 1024),
    pullBatch: v.optional(integerFlag(1, 1024)),
    warmup: v.optional(integerFlag(0, 100_000_000)),
    rate: integerFlag(1, 10_000_000),
    topic: v.optional(TopicName),
    queues: integerFlag(1, 1024),
    flush: v.picklist(["async", "sync"], "expected async or sync"),
    json: v.optional(v.boolean(), false),
  }),
};

function checkModes<T extends string>(given: string[] | undefined, allowed: readonly T[], expected: string): T[] {
  if (given === undefined) return [...allowed];
  for (const mode of given) {
    if (!(allowed as readonly string[]).includes(mode)) {
      throw new CliError(`Invalid value "${mode}" of --modes: expected ${expected}`, ExitCode.USAGE);
    }
  }
  return given as T[];
}

/** `rmq bench`. */
export const bench: Command = {
  summary: "Load test: produce, consume and end-to-end throughput, latency and resource use",
  async run(args, runtime) {
    const workload: Workload = (WORKLOADS as readonly string[]).includes(args[0] ?? "") ? args[0] as Workload : "produce";
    const flags = parse(spec, workload === args[0] ? args.slice(1) : args);
    const modes: string[] = workload === "produce"
      ? checkModes<LoadMode>(flags.modes, LOAD_MODES, "sync, async, oneway or batch")
      : workload === "consume"
      ? checkModes<ConsumeMode>(flags.modes, CONSUME_MODES, "push, pull, pop, push-pop or lite-pull")
      : ["e2e"];
    if (flags.brokerPid !== undefined && flags.namesrv === undefined) {
      throw new CliError("--broker-pid goes with --namesrv: the broker the tool starts is measured anyway", ExitCode.USAGE);
    }
    if (flags.runtime !== undefined && flags.namesrv !== undefined) {
      throw new CliError("--runtime picks the runtime of the server the tool starts; it does not go with --namesrv", ExitCode.USAGE);
    }
    if (flags.duration !== undefined && workload === "consume") {
      throw new CliError("--duration applies to produce and e2e; consume reads a backlog of --count messages", ExitCode.USAGE);
    }
    const count = flags.count ?? (flags.duration === undefined ? 50_000 : Number.MAX_SAFE_INTEGER);
    // Figures of compiled code by default: a fresh broker's first tens of thousands of messages run slower.
    const warmup = flags.warmup ?? Math.min(count, DEFAULT_WARMUP);
    let server: LoadServer | undefined;
    if (flags.namesrv === undefined) {
      server = await startLoadServer({ runtime: flags.runtime ?? ("Deno" in globalThis ? "deno" : "bun"), flush: flags.flush });
    }
    const brokerPid = server?.startup.pid ?? flags.brokerPid;
    const line = liveLine();
    const options: LoadOptions = {
      nameServers: flags.namesrv ?? [server!.namesrv],
      dial: clientDial(runtime, flags),
      topic: flags.topic ?? `bench_${Date.now()}`,
      count,
      durationMs: flags.duration === undefined ? undefined : flags.duration * 1000,
      size: flags.size,
      concurrency: flags.concurrency,
      inflight: flags.inflight,
      batch: flags.batch,
      pullBatch: flags.pullBatch,
      queues: flags.queues,
      rate: flags.rate,
      warmup,
      brokerPid,
      onProgress: line.update,
    };
    const reports: LoadReport[] = [];
    let run: LoadRun;
    try {
      for (const mode of modes) {
        try {
          if (workload === "produce") reports.push(await runLoad(mode as LoadMode, options));
          else if (workload === "consume") reports.push(await runConsume(mode as ConsumeMode, options));
          else reports.push(await runE2e(options));
        } finally {
          line.done();
        }
      }
      run = {
        settings: {
          workload,
          count: count === Number.MAX_SAFE_INTEGER ? null : count,
          durationMs: options.durationMs,
          size: flags.size,
          concurrency: flags.concurrency,
          inflight: flags.inflight,
          batch: flags.batch,
          pullBatch: flags.pullBatch,
          queues: flags.queues,
          rate: flags.rate,
          warmup,
          flush: server === undefined ? undefined : flags.flush,
        },
        server: server === undefined ? null : {
          ...server.startup,
          cpuSeconds: processCpuSeconds(server.startup.pid),
          peakRssBytes: processMemory(server.startup.pid).peakRssBytes,
        },
        reports,
      };
    } finally {
      await server?.stop();
    }
    if (flags.json) await printJson(run);
    else await write(formatLoadRun(run));
    const problems = loadProblems(run);
    for (const problem of problems) process.stderr.write(`Error: ${problem}\n`);
    return problems.length === 0 ? ExitCode.OK : ExitCode.FAILED;
  },
};
