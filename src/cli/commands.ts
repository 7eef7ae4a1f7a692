import type { Command } from 'commander';

/**
 * One line per command. Each command module exports `register(program)` that adds its subcommand.
 * Keep this list in the order commands appear in `modelcar --help`.
 */
export function registerCommands(program: Command): void {
  void program;
}
