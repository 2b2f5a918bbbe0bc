/**
 * What a failed listen means, in words a person can act on. Bun and Deno both set the system
 * error code (`EADDRINUSE`, …) on the errors `Bun.listen`, `Bun.serve`, `Deno.listen` and
 * `Deno.serve` throw, while their messages ("Failed to listen at 0.0.0.0", "Address already in use
 * (os error 98)") name neither the port nor who asked for it.
 *
 * @module
 */

const REASONS: Record<string, string> = {
  EADDRINUSE: "the port is in use, another process holds it",
  EADDRNOTAVAIL: "this machine has no such address",
  EACCES: "permission denied, ports below 1024 need privileges",
};

/**
 * Why a listen failed, if the error is a listen failure: the reason with its system code
 * (`the port is in use, another process holds it (EADDRINUSE)`).
 *
 * @param error What the listen adapter threw.
 * @returns The reason, or undefined for any other error.
 */
export function listenFailure(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code in REASONS ? `${REASONS[code]} (${code})` : undefined;
}
