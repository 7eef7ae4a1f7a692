import type { Command } from 'commander';
import { register as registerBase } from './base.js';
import { register as registerBuild } from './build.js';
import { register as registerCopy } from './copy.js';
import { register as registerDeploy } from './deploy.js';
import { register as registerDoctor } from './doctor.js';
import { register as registerExample } from './example.js';
import { register as registerInspect } from './inspect.js';
import { register as registerKey } from './key.js';
import { register as registerPipeline } from './pipeline.js';
import { register as registerRegister } from './register.js';
import { register as registerSign } from './sign.js';
import { register as registerVerify } from './verify.js';

/**
 * One line per command. Each command module exports `register(program)` that adds its subcommand.
 * Keep this list in the order commands appear in `modelcar --help`.
 */
export function registerCommands(program: Command): void {
  registerBuild(program);
  registerRegister(program);
  registerDeploy(program);
  registerPipeline(program);
  registerDoctor(program);
  registerInspect(program);
  registerVerify(program);
  registerSign(program);
  registerKey(program);
  registerCopy(program);
  registerBase(program);
  registerExample(program);
}
