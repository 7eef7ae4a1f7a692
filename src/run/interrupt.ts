/**
 * SIGINT (Ctrl-C) and SIGTERM (Tekton's timeout, `kill`, a pod being deleted) stop a run cleanly: the first one
 * aborts the returned signal with the error the run ends with (exit 130 or 143, no new tag), so the work in flight
 * can cancel its uploads; a second one exits at once.
 */
import { ExitCode, ModelcarError } from '../errors.js';

const SIGNALS = {
  SIGINT: { exitCode: ExitCode.interrupted, said: 'interrupted' },
  SIGTERM: { exitCode: ExitCode.terminated, said: 'terminated' },
} as const;

export type StopSignal = keyof typeof SIGNALS;

/** The error a run stopped by `name` ends with. */
export function interruptedError(name: StopSignal): ModelcarError {
  return new ModelcarError(
    'interrupted',
    `${SIGNALS[name].said} (${name}) before the image was complete; no tag was written`,
    'run the same command again: layers already committed are not sent twice',
    { exitCode: SIGNALS[name].exitCode },
  );
}

/** Listens for SIGINT and SIGTERM for the rest of the process; `onStop` says what is being stopped. */
export function stopOnSignals(onStop: (name: StopSignal) => void = () => {}): AbortSignal {
  const controller = new AbortController();
  for (const name of Object.keys(SIGNALS) as StopSignal[]) {
    process.on(name, () => {
      if (controller.signal.aborted) process.exit(SIGNALS[name].exitCode);
      onStop(name);
      controller.abort(interruptedError(name));
    });
  }
  return controller.signal;
}
