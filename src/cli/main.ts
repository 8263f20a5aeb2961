#!/usr/bin/env node
/**
 * orka-secrets (also `kubectl orka`). The commands a workflow step runs load only what they use
 * (src/cli/dispatch.ts): `--version` reads the version and nothing else, `run` loads its own
 * module alone, and the command line (src/cli/program.ts) registers only the command group named.
 */
import { dispatch } from './dispatch.js';
import { fail } from './errors.js';

dispatch(process.argv, {
  version: () => import('./version.js').then((m) => m.cliVersion()),
  run: () => import('./run.js'),
  program: () => import('./program.js'),
}).catch(fail);
