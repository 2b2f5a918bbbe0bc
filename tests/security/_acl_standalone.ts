/**
 * A real `rmq standalone` process with ACL on, on free loopback ports, and the pieces the
 * authorisation tests speak to it with: signed raw requests (what a hostile client sends) and
 * dialers for the ordinary clients.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Credentials, RequestSigner } from "../../core/auth/signing.ts";
import type { Command, Header } from "../../core/protocol/command.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { dial } from "../../client/bun/connect.ts";
import { withCredentials } from "../../client/_signer.ts";
import { BUN, type Child, ROOT, type Server, startServer, stop } from "../_helpers/process.ts";

/** One account of the ACL file. */
export interface TestAccount extends Credentials {
  admin?: boolean;
  topicPerms?: string[];
  groupPerms?: string[];
}

/** A running standalone process. */
export interface AclStandalone {
  readonly child: Child;
  readonly nameServer: string;
  readonly broker: string;
  /** `http://127.0.0.1:port` of the admin API, without a final slash. */
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly dir: string;
  /** A raw connection to the broker. */
  raw(): Promise<Connection>;
  /** Stops the process by PID and removes its data. */
  close(): Promise<void>;
}

function aclYaml(accounts: readonly TestAccount[]): string {
  const lines = ["accounts:"];
  for (const account of accounts) {
    lines.push(`  - accessKey: ${account.accessKey}`, `    secretKey: ${account.secretKey}`);
    if (account.admin === true) lines.push("    admin: true");
    lines.push("    defaultTopicPerm: DENY", "    defaultGroupPerm: DENY");
    if (account.topicPerms !== undefined) lines.push("    topicPerms:", ...account.topicPerms.map((p) => `      - "${p}"`));
    if (account.groupPerms !== undefined) lines.push("    groupPerms:", ...account.groupPerms.map((p) => `      - "${p}"`));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Starts `rmq standalone --acl` as a child process, with short delay levels so retries come back
 * within a test.
 *
 * @param accounts The ACL file's accounts.
 * @param env Extra environment (`RMQ_*` settings).
 * @returns The running process.
 */
export async function startAclStandalone(accounts: readonly TestAccount[], env: Record<string, string> = {}): Promise<AclStandalone> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-authz-"));
  const aclFile = join(dir, "acl.yaml");
  writeFileSync(aclFile, aclYaml(accounts));
  // Port 0 everywhere: the standalone binds free ports and prints them.
  let child: Server;
  try {
    child = await startServer(BUN, [
      "run", join(ROOT, "cli/bun.ts"), "standalone",
      "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0",
      "--admin-port", "0", "--grpc-port", "0", "--data-dir", join(dir, "data"), "--acl", aclFile,
    ], {
      ready: /Dashboard and admin API on https?:\/\/127\.0\.0\.1:(\d+)/,
      env: { RMQ_BROKER_MESSAGE_DELAY_LEVEL: "100ms 100ms 100ms 100ms 100ms 100ms", ...env },
      timeoutMs: 30_000,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const adminPort = child.port;
  const [, nameServer, broker] = /Standalone ready: NameServer (\S+), broker (\S+),/.exec(child.output())!;
  const connections: Connection[] = [];
  return {
    child,
    nameServer: nameServer!,
    broker: broker!,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    adminPort,
    dir,
    async raw() {
      const connection = await connect(dial, broker!);
      connections.push(connection);
      return connection;
    },
    async close() {
      for (const connection of connections) connection.close();
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Sends one request signed by an account over a raw connection.
 *
 * @param connection The connection.
 * @param account Who signs.
 * @param code The request code.
 * @param header The header.
 * @param body The body.
 * @returns The response.
 */
export async function signed(connection: Connection, account: Credentials, code: number, header: Header, body?: Uint8Array): Promise<Command> {
  return await connection.request(code, await new RequestSigner(account).sign(code, header, body), body);
}

/**
 * A dialer whose clients sign as an account.
 *
 * @param account The account.
 * @returns The dialer.
 */
export function dialAs(account: Credentials): Dialer {
  return withCredentials(dial, account);
}
