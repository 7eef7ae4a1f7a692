/**
 * Preloaded into a modelcar run by the profile step (`node --import loop-delay.js`): records event-loop delay and
 * writes a summary to $BENCH_LOOP_DELAY_FILE at exit, without touching modelcar's code.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_DELAY_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  process.once('exit', () => {
    histogram.disable();
    const ms = (ns: number) => Number((ns / 1e6).toFixed(1));
    writeFileSync(
      file,
      JSON.stringify({
        meanMs: ms(histogram.mean),
        p50Ms: ms(histogram.percentile(50)),
        p99Ms: ms(histogram.percentile(99)),
        maxMs: ms(histogram.max),
      }),
    );
  });
}
