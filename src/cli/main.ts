import { Command, CommanderError, Help, type Option } from 'commander';
import { exitCodeOf, isModelcarError, messageOf } from '../errors.js';
import { closeDispatchers } from '../http/dispatchers.js';
import { redact } from '../http/redact.js';
import { printable } from '../printable.js';
import { VERSION } from '../version.js';
import { registerCommands } from './commands.js';

/** Exit codes: see ExitCode in errors.ts (0 done, 1 failed, 2 usage, 3 pushed but not registered, 130/143 signal). */
async function main(argv: string[]): Promise<number> {
  // `modelcar build --help | head`: a closed pipe is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode === undefined ? 0 : Number(process.exitCode));
    throw e;
  });
  const program = new Command('modelcar')
    .description(
      'Turn a model (a Hugging Face repo or a local directory) into a KServe ModelCar OCI image, register it, and ' +
        'emit the manifests that serve and rebuild it. Rootless, daemonless, streamed, verified.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureHelp({
      // A repeatable option starts as []: "(default: [])" says nothing.
      optionDescription: (option: Option) =>
        Array.isArray(option.defaultValue) && option.defaultValue.length === 0
          ? option.description
          : Help.prototype.optionDescription.call(new Help(), option),
    });
  registerCommands(program);
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version "errors" are normal exits; commander already printed the usage problem.
      return e.exitCode === 0 ? 0 : 2;
    }
    reportError(e);
    return exitCodeOf(e);
  } finally {
    await closeDispatchers();
  }
}

/**
 * Every line goes through the one redaction function (a secret inside a server's message never reaches a log) and
 * the one escaping function (a name with a newline or an escape sequence cannot forge output).
 */
function reportError(e: unknown): void {
  const out = (line: string) => process.stderr.write(`${printable(redact(line))}\n`);
  if (isModelcarError(e)) {
    out(`modelcar: error: ${e.message}`);
    if (e.hint) out(`  hint: ${e.hint}`);
    if (process.env.MODELCAR_DEBUG && e.cause) out(`  cause: ${messageOf(e.cause)}`);
    return;
  }
  out(`modelcar: internal error: ${messageOf(e)}`);
  if (process.env.MODELCAR_DEBUG && e instanceof Error) for (const l of String(e.stack).split('\n')) out(l);
  process.stderr.write('  hint: this is a bug in modelcar; rerun with MODELCAR_DEBUG=1 and report the output.\n');
}

let settled = false;
main(process.argv).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (e) => {
    settled = true;
    reportError(e);
    process.exitCode = 1;
  },
);
// Node exits 0 when nothing is left to wait for, even with the command's promise still pending (a stream nobody will
// ever end): that must never pass for success.
process.once('beforeExit', () => {
  if (settled) return;
  reportError(new Error('the command stopped with work still pending and nothing left to wait for'));
  process.exitCode = 1;
});
