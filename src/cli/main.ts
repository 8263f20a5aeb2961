#!/usr/bin/env node
/**
 * orka-secrets (also `kubectl orka`): seal values for a tenant and manage its OrkaSecrets.
 * Never prints a value. Each command group lives in its own module and registers itself here.
 */
import { Argument, Command, CommanderError } from 'commander';
import type { GlobalOptions } from './cluster.js';
import { completionScript, SHELLS } from './completion.js';
import { registerDashboard } from '../dashboard/command.js';
import { CliError, EXIT } from './errors.js';
import { clean } from './output.js';
import { registerKeys } from './keys.js';
import { registerRefs } from './refs.js';
import { registerSecretCommands } from './secrets.js';
import { cliVersion } from './version.js';

const EXIT_HELP = `
Exit codes: 0 done, 1 unexpected failure, 2 bad input (including a namespace that is not a tenant),
3 not found (secret or namespace), 4 cluster unreachable, no kubeconfig or access refused,
5 already exists, 6 not Ready (--wait), 7 timed out (--wait).`;

/** The whole command line, with every command registered. */
function program(): Command {
  const cli = new Command('orka-secrets')
    .description('Seal values for a tenant and manage its Orka Secrets. Values are never printed.')
    .version(cliVersion(), '--version', 'print the version')
    .option('-n, --namespace <namespace>', 'tenant namespace (default: the kubeconfig context namespace)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .option('--operator-namespace <namespace>', 'namespace of the Orka Secrets operator', 'orka-system')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const g = () => cli.opts<GlobalOptions>();
  registerSecretCommands(cli, g);
  registerRefs(cli, g);
  registerKeys(cli, g);
  cli
    .command('completion')
    .description('print a shell completion script: source <(orka-secrets completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: (typeof SHELLS)[number]) => {
      process.stdout.write(completionScript(shell, cli));
    });
  registerDashboard(cli);
  return cli;
}

program()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.input);
    if (err instanceof CliError) {
      process.stderr.write(`orka-secrets: ${clean(err.message)}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`orka-secrets: unexpected error: ${clean((err as Error).message)}\n`);
    process.exit(EXIT.unexpected);
  });
