/**
 * A password typed at the terminal, not echoed (as cosign and ssh-keygen ask). Only on a TTY: a pipeline or CI job
 * has no one to answer, so callers fail with a hint instead of waiting forever.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

export async function promptHidden(question: string): Promise<string> {
  // readline echoes what it reads to `output`; a sink that drops it hides the password.
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  process.stderr.write(question);
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new Error('no password was entered')));
    });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
