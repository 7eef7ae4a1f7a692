import type { Command } from 'commander';
import { writeTinyModel } from '../example/tiny-model.js';

export function register(program: Command): void {
  program
    .command('example')
    .summary('write a tiny example model to try modelcar offline')
    .argument('<dir>', 'directory to write the model into (created if missing)')
    .description(
      'Write a tiny example model (config.json, tokenizer files, a small safetensors) to try modelcar offline.',
    )
    .action(async (dir: string) => {
      const files = await writeTinyModel(dir);
      process.stdout.write(`wrote ${files.length} files to ${dir}: ${files.join(', ')}\n`);
    });
}
