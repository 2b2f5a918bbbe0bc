/**
 * A standalone system with its admin API (and HTTP gateway) on Deno's listen, dial and serve, with
 * short event stream limits so a stalled client is cut in a second. (Under tests/deno/: tsc leaves
 * Deno's files to `deno check`.)
 * Usage: deno run -A tests/deno/gateway_server.ts <data dir>
 * Prints "Admin listening on 127.0.0.1:<port>" once it serves; stops on SIGTERM.
 */
import process from "node:process";
import { startAdminServer } from "../../server/admin/start_admin.ts";
import { dial } from "../../server/deno/connect.ts";
import { listen } from "../../server/deno/listen.ts";
import { serve } from "../../server/deno/serve.ts";
import { startStandalone } from "../../server/standalone.ts";

const system = await startStandalone({ listen, dial, hostname: "127.0.0.1", port: 0, nameServerPort: 0, dataDir: process.argv[2]!, log: () => {} });
const admin = await startAdminServer({
  serve,
  hostname: "127.0.0.1",
  port: 0,
  broker: system.broker,
  nameServer: system.nameServer,
  gateway: { sseBufferBytes: 64 * 1024, sseStallTimeoutMs: 1000, sseHeartbeatMs: 500 },
});
console.log(`Admin listening on 127.0.0.1:${admin.port}`);
process.on("SIGTERM", async () => {
  await admin.close();
  await system.close();
  process.exit(0);
});
