#!/usr/bin/env node
/**
 * kubectl_complete-orka: kubectl (1.26 and later) runs this, when it is on PATH next to
 * kubectl-orka, to complete `kubectl orka ...`: the words after `orka`, the last one being the
 * word under the cursor. Answers in Cobra's format (src/cli/complete.ts).
 */
import { fail } from './errors.js';
import { main } from './program.js';

main([process.argv[0] as string, 'kubectl-orka', '__complete', ...process.argv.slice(2)]).catch(fail);
