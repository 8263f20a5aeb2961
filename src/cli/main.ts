#!/usr/bin/env node
/**
 * orka-secrets (also `kubectl orka`). `run` starts in every script step of a workflow, so it loads
 * its own module alone (src/cli/run.ts); every other command loads the whole command line
 * (src/cli/program.ts).
 */
import { fail } from './errors.js';

const args = process.argv.slice(2);
const done = args[0] === 'run' ? import('./run.js').then((m) => m.runMain(args.slice(1))) : import('./program.js').then((m) => m.main(process.argv));
done.catch(fail);
