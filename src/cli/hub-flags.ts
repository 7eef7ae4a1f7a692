/** The Hugging Face flags shared by every command that reads a model source (build, doctor, verify --against). */
import type { Command } from 'commander';
import { DEFAULT_RATE_FLOOR, type RateFloor } from '../http/body.js';
import { REVISION_HELP, type SourceOptions } from '../source/open.js';
import { parseSize, positiveNumber } from './arguments.js';

export interface HubFlags {
  revision?: string;
  minRate?: number;
  minRateWindow?: number;
}

export function addHubOptions(cmd: Command): Command {
  return cmd
    .option('--revision <rev>', REVISION_HELP)
    .option(
      '--min-rate <size>',
      `the slowest a download connection may be, per second averaged over --min-rate-window, e.g. 64KiB (default); slower ones are cut and retried, and each file must finish within ten minutes plus its size at this rate. 0 turns the floor off`,
      (v) => (v.trim() === '0' ? 0 : parseSize(v)),
    )
    .option(
      '--min-rate-window <seconds>',
      `the window --min-rate is averaged over (default ${DEFAULT_RATE_FLOOR.windowMs / 1000})`,
      positiveNumber('--min-rate-window', 'a number of seconds > 0'),
    );
}

export function hubOptions(flags: HubFlags): Pick<SourceOptions, 'revision' | 'floor'> {
  const floor: RateFloor | undefined =
    flags.minRate !== undefined || flags.minRateWindow !== undefined
      ? {
          minBytesPerSec: flags.minRate ?? DEFAULT_RATE_FLOOR.minBytesPerSec,
          windowMs: (flags.minRateWindow ?? DEFAULT_RATE_FLOOR.windowMs / 1000) * 1000,
        }
      : undefined;
  return { ...(flags.revision !== undefined ? { revision: flags.revision } : {}), ...(floor ? { floor } : {}) };
}
