/**
 * Polling until a condition holds, for tests that watch other processes or timers.
 */

/**
 * Waits until `check` holds.
 *
 * @param check The condition.
 * @param timeoutMs Longest wait.
 * @param what What is awaited, for the error.
 * @param everyMs Poll interval. @default 20
 * @throws {Error} Naming `what` after `timeoutMs`.
 */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
