/**
 * Tests that need something this machine may lack (root, strace, tmux, Chromium): when it is
 * missing they are skipped loudly, with the reason in the test's name and a warning line, so a
 * skip shows in the output and in CI's closing count instead of passing unseen.
 */
import { test } from "bun:test";

/** A test body and its timeout, as `test` takes them. */
export type TestFunction = (name: string, body: () => void | Promise<unknown>, timeoutMs?: number) => void;

/**
 * `test` when `missing` is undefined; otherwise a `test` that skips, naming what is missing.
 *
 * @param missing Why the test cannot run here (e.g. "needs root to mount a tmpfs"), or undefined.
 * @returns The function to declare the test with.
 * @example
 * ```ts ignore
 * needs(existsSync(CHROMIUM) ? undefined : `needs Chromium (${CHROMIUM})`)("draws the dashboard", async () => {});
 * ```
 */
export function needs(missing: string | undefined): TestFunction {
  if (missing === undefined) return (name, body, timeoutMs) => test(name, body, timeoutMs);
  return (name, body, timeoutMs) => {
    console.warn(`skip: "${name}" ${missing}`);
    test.skip(`${name} [skipped: ${missing}]`, body, timeoutMs);
  };
}
