import type { Command } from 'commander';
import { register as registerDeploy } from './deploy.js';
import { register as registerPipeline } from './pipeline.js';

/**
 * One line per command. Each command module exports `register(program)` that adds its subcommand.
 * Keep this list in the order commands appear in `modelcar --help`.
 */
export function registerCommands(program: Command): void {
  void program;
  registerDeploy(program);
  registerPipeline(program);
}
