/**
 * Closing what a command opened (registry clients, sources) on its way out, successful or not. Two rules: a failure
 * to close never replaces the error that ended the command (a `finally` that throws would swallow it), and closing
 * never waits forever (a client with an undrained response would otherwise keep the process alive with nothing to
 * show, or let Node exit 0 with the command's promise still pending).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { messageOf } from '../errors.js';
import { debug } from '../http/events.js';

export interface Closable {
  close?(): Promise<void> | void;
}

/** How long one close may take before it is abandoned. */
export const CLOSE_TIMEOUT_MS = 5000;

/** Closes each resource at once; failures and timeouts are only logged (MODELCAR_DEBUG=1). */
export async function closeAll(
  resources: Iterable<Closable | undefined>,
  timeoutMs: number = CLOSE_TIMEOUT_MS,
): Promise<void> {
  await Promise.all(
    [...resources].map(async (r) => {
      if (!r?.close) return;
      try {
        const outcome = await Promise.race([
          Promise.resolve(r.close()).then(() => 'closed' as const),
          sleep(timeoutMs, 'timeout' as const, { ref: false }),
        ]);
        if (outcome === 'timeout') debug(`closing did not finish within ${timeoutMs} ms; abandoned`);
      } catch (e) {
        debug(`closing failed: ${messageOf(e)}`);
      }
    }),
  );
}
