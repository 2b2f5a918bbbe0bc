/**
 * Flags every server entrypoint (broker, NameServer) shares: the admin API and security.
 *
 * @module
 */
import * as v from "valibot";
import { HostFlag, PortFlag } from "./_flags.ts";
import { SECURITY_FLAGS } from "./_security.ts";

const FilePath = v.pipe(v.string(), v.minLength(1, "must not be empty"));

/** The admin API and security flags, for a spec's `flags`. */
export const SERVER_FLAGS = {
  "admin-port": { description: "Serve the admin API, metrics and dashboard on this port (default: off unless admin.port is configured)", valueName: "port" },
  "admin-host": { description: "Address the admin API binds (keep it private)", default: "127.0.0.1", valueName: "host" },
  "admin-token": { description: "Bearer token required for admin changes (default: admin.token, $RMQ_ADMIN_TOKEN; none)", valueName: "token" },
  ...SECURITY_FLAGS,
} as const;

/** Their schema entries, for a spec's `v.object`. */
export const SERVER_FLAG_ENTRIES = {
  adminPort: v.optional(PortFlag),
  adminHost: v.optional(HostFlag),
  adminToken: v.optional(v.pipe(v.string(), v.minLength(8, "must have at least 8 characters"))),
  acl: v.optional(FilePath),
  tlsCert: v.optional(FilePath),
  tlsKey: v.optional(FilePath),
};
