/**
 * A transactional producer as its own process. Its "local database" is a directory: each local
 * transaction writes its outcome (COMMIT or ROLLBACK) to `<dir>/<transactionId>`, fsynced before
 * it returns, and `checkLocalTransaction` reads it back (a transaction with no file never ran:
 * ROLLBACK). Any member of the group can so answer for another.
 *
 * Steps (comma separated), run in order, then the process keeps answering check-backs:
 * - `commit:N`, `rollback:N`, `unknown:N`: N transactions ending so;
 * - `hang-commit`, `hang-rollback`: records the outcome, prints `HALF`, and never returns (to be killed);
 * - `wait-commit`: records COMMIT, prints `HALF`, waits for the file `<dir>/go`, then returns COMMIT;
 * - `serve`: sends nothing.
 * Prints `READY`, `HALF <txid> <body>`, `SENT <txid> <state> <body>[ END_ERROR <message>]`,
 * `FAILED <body> <message>` (the half message was not sent), `CHECK <txid> <answer> <checkTimes> <body>`, `DONE`.
 * Usage: bun tests/_fixtures/txn_producer.ts <nameServer> <group> <dir> <name> <steps>
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Producer } from "../../client/producer.ts";
import type { LocalTransactionState } from "../../client/_transaction.ts";
import { MessageConst } from "../../core/model/message.ts";

const [nameServer, group, dir, name, steps] = process.argv.slice(2);
const decoder = new TextDecoder();
const say = (line: string) => writeSync(1, `${line}\n`);

function record(transactionId: string, state: "COMMIT" | "ROLLBACK"): void {
  const fd = openSync(join(dir!, transactionId), "w");
  writeSync(fd, state);
  fsyncSync(fd);
  closeSync(fd);
}

const producer = new Producer({
  nameServer: nameServer!,
  group: group!,
  heartbeatIntervalMs: 500,
  sendTimeoutMs: 3000,
  log: (line) => say(`LOG ${line}`),
  transactionListener: {
    async executeLocalTransaction(message, kind, transactionId): Promise<LocalTransactionState> {
      const body = String(message.body);
      switch (kind) {
        case "commit":
        case "rollback":
          record(transactionId, kind === "commit" ? "COMMIT" : "ROLLBACK");
          return kind === "commit" ? "COMMIT" : "ROLLBACK";
        case "unknown":
          return "UNKNOWN";
        case "hang-commit":
        case "hang-rollback":
          record(transactionId, kind === "hang-commit" ? "COMMIT" : "ROLLBACK");
          say(`HALF ${transactionId} ${body}`);
          return await new Promise<never>(() => {});
        case "wait-commit":
          record(transactionId, "COMMIT");
          say(`HALF ${transactionId} ${body}`);
          while (!existsSync(join(dir!, "go"))) await new Promise((r) => setTimeout(r, 20));
          return "COMMIT";
        default:
          throw new Error(`Unknown step "${kind}"`);
      }
    },
    checkLocalTransaction(message) {
      const file = join(dir!, message.uniqueKey!);
      const answer = existsSync(file) ? readFileSync(file, "utf8") as LocalTransactionState : "ROLLBACK";
      say(`CHECK ${message.uniqueKey} ${answer} ${message.properties[MessageConst.TRANSACTION_CHECK_TIMES]} ${decoder.decode(message.body)}`);
      return answer;
    },
  },
});
await producer.start();
say("READY");
for (const step of steps!.split(",")) {
  const [kind, countText] = step.split(":");
  if (kind === "serve") continue;
  const count = Number(countText ?? "1");
  for (let i = 0; i < count; i++) {
    const body = `${name}:${kind}-${i}`;
    try {
      const result = await producer.sendMessageInTransaction(
        { topic: "txn_orders", body, tags: kind, keys: [`${name}-${kind}-${i}`], properties: { step: kind! } },
        kind,
      );
      say(`SENT ${result.transactionId} ${result.localState} ${body}${result.endError === undefined ? "" : ` END_ERROR ${result.endError.message}`}`);
    } catch (error) {
      say(`FAILED ${body} ${(error as Error).message}`);
    }
  }
}
say("DONE");
process.on("SIGTERM", async () => {
  await producer.shutdown();
  process.exit(0);
});
