/** A server the tests run as a child process: its output kept for failure messages, stopped with TERM then KILL. */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  exited(): boolean;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

export function startProcess(bin: string, args: readonly string[]): ServerProcess {
  let output = '';
  const child = spawn(bin, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  return {
    child,
    output: () => output,
    exited: () => exited,
    async stop() {
      if (exited) return;
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(5000, undefined, { ref: false })]);
      if (!exited) child.kill('SIGKILL');
    },
  };
}
