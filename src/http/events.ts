/**
 * What the network layer tells the user while it waits: one event per retry, per announced wait (a server's
 * Retry-After, a token refresh), and per note (a mirror without some API, a build taken offline). The default
 * listener prints one stderr line per event in every output mode (so a CI log shows why a step took long); a
 * renderer may replace it with `setNetworkListener` and draw the same events its own way.
 *
 *   retry: {endpoint, reason, attempt, delayMs}   a request failed and will be sent again after delayMs
 *   wait:  {endpoint, reason, delayMs}            nothing failed, but the server asked us to wait
 *   note:  {endpoint, message}                    something the user should know, once
 *
 * Every text is redacted before any listener sees it.
 */
import { redact } from './redact.js';

export type NetworkEvent =
  | {
      readonly type: 'retry';
      readonly endpoint: string;
      readonly reason: string;
      readonly attempt: number;
      readonly delayMs: number;
    }
  | { readonly type: 'wait'; readonly endpoint: string; readonly reason: string; readonly delayMs: number }
  | { readonly type: 'note'; readonly endpoint: string; readonly message: string };

export type NetworkListener = (event: NetworkEvent) => void;

export function formatDelay(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** The line the default listener prints, without its newline. */
export function describeEvent(e: NetworkEvent): string {
  switch (e.type) {
    case 'retry':
      return `modelcar: ${e.endpoint}: ${e.reason}; retry ${e.attempt} in ${formatDelay(e.delayMs)}`;
    case 'wait':
      return `modelcar: ${e.endpoint}: ${e.reason}; waiting ${formatDelay(e.delayMs)}`;
    case 'note':
      return `modelcar: note: ${e.endpoint}: ${e.message}`;
  }
}

export const printToStderr: NetworkListener = (e) => {
  process.stderr.write(`${describeEvent(e)}\n`);
};

let listener: NetworkListener = printToStderr;

/** Replaces the listener (a progress renderer); returns the previous one so it can be put back. */
export function setNetworkListener(next: NetworkListener): NetworkListener {
  const previous = listener;
  listener = next;
  return previous;
}

export function emitNetworkEvent(event: NetworkEvent): void {
  const clean: NetworkEvent =
    event.type === 'note'
      ? { ...event, endpoint: redact(event.endpoint), message: redact(event.message) }
      : { ...event, endpoint: redact(event.endpoint), reason: redact(event.reason) };
  listener(clean);
}

/** Lines for MODELCAR_DEBUG=1 only: what a transfer did in detail. Redacted like everything else. */
export function debug(line: string): void {
  if (process.env.MODELCAR_DEBUG) process.stderr.write(`modelcar: ${redact(line)}\n`);
}
