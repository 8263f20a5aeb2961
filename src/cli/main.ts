#!/usr/bin/env node
/**
 * orka-secrets (also `kubectl orka`). The commands a workflow step runs load only what they use:
 * `--version` alone reads the version and nothing else; `run` loads its own module alone
 * (src/cli/run.ts); every other command goes through the command line (src/cli/program.ts),
 * which registers only the command group named (docs/design/startup.md).
 */
import { fail } from './errors.js';

const args = process.argv.slice(2);
const done =
  args.length === 1 && args[0] === '--version'
    ? import('./version.js').then((m) => void process.stdout.write(`${m.cliVersion()}\n`))
    : args[0] === 'run'
      ? import('./run.js').then((m) => m.runMain(args.slice(1)))
      : import('./program.js').then((m) => m.main(process.argv));
done.catch(fail);
