/**
 * The in-process standalone the gRPC tests run against: NameServer, broker and gRPC port on free
 * loopback ports, data in a temporary directory removed by `close()`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../../client/bun/connect.ts";
import { listen } from "../../../server/bun/listen.ts";
import { type Standalone, type StandaloneOptions, startStandalone } from "../../../server/standalone.ts";

/** A running standalone, its gRPC address, and how to stop it and remove its data. */
export interface GrpcStandalone {
  standalone: Standalone;
  /** host:port of the gRPC API. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts a standalone serving gRPC on a free port.
 *
 * @param name Prefix of its temporary data directory.
 * @param options Settings beyond the ports, host and data directory.
 * @returns The running standalone.
 */
export async function startGrpcStandalone(name: string, options: Partial<StandaloneOptions> = {}): Promise<GrpcStandalone> {
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  const standalone = await startStandalone({
    listen,
    dial,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    grpcPort: 0,
    dataDir: join(dir, "data"),
    log: () => {},
    ...options,
  });
  return {
    standalone,
    endpoint: standalone.broker.grpcAddress!,
    async close() {
      await standalone.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
