/**
 * The whole command line of orka-secrets (also `kubectl orka`): seal values for a tenant and manage
 * its OrkaSecrets. Never prints a value. Each command group lives in its own module and registers
 * itself here; `run` is here for help and completion, and for a command line with global options before it;
 * src/cli/main.ts loads it alone when it comes first.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { GlobalOptions } from './cluster.js';
import { completionScript, SHELLS } from './completion.js';
import { registerDashboard } from '../dashboard/command.js';
import { completeMain, COMPLETE } from './complete.js';
import { EXIT } from './errors.js';
import { finishHelp } from './help.js';
import { registerKeys } from './keys.js';
import { registerRefs } from './refs.js';
import { RUN_USAGE, runMain } from './run.js';
import { registerSecretCommands } from './secrets.js';
import { cliVersion } from './version.js';

const EXIT_HELP = `
Exit codes: 0 done, 1 unexpected failure, 2 bad input (including a namespace that is not a tenant),
3 not found (secret or namespace), 4 cluster unreachable, no kubeconfig or access refused,
5 already exists, 6 not Ready (--wait), 7 timed out (--wait).`;

/** Environment variable that sets --operator-namespace once, for every command. */
export const OPERATOR_NAMESPACE_ENV = 'ORKA_OPERATOR_NAMESPACE';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A namespace name (from a flag or the environment), refused in words when it cannot be one. */
function namespaceName(value: string): string {
  if (!DNS_LABEL.test(value)) throw new InvalidArgumentError('not a namespace name (lower-case letters, digits and -, at most 63)');
  return value;
}

/** The whole command line, with every command registered. */
export function program(): Command {
  // Set before any command is added: commander copies them into each subcommand.
  const cli = new Command('orka-secrets')
    .description('Seal values for a tenant and manage its Orka Secrets. Values are never printed.')
    .version(cliVersion(), '--version', 'print the version')
    .option('-n, --namespace <namespace>', 'tenant namespace (default: the kubeconfig context namespace)', namespaceName)
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .addOption(new Option('--operator-namespace <namespace>', 'namespace of the Orka Secrets operator').env(OPERATOR_NAMESPACE_ENV).default('orka-system').argParser(namespaceName))
    .addHelpText('after', EXIT_HELP)
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // Usage errors read like every other failure: "orka-secrets: ...", then the help hint.
      outputError: (s, write) => write(`orka-secrets: ${s.replace(/^error: /, '')}`),
    });
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
  cli
    .command('run')
    .description('run a command with secrets in its environment, masking their values in its output (in a runner pod)')
    .usage(RUN_USAGE)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action((args: string[]) => runMain(args));
  finishHelp(cli);
  return cli;
}

/** Parses and runs a command line; a usage error exits 2 (commander has printed it). */
export async function main(argv: string[]): Promise<void> {
  // Completion reads a partial command line as words: commander would refuse or act on it.
  if (argv[2] === COMPLETE) await completeMain(program(), argv.slice(3));
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.input);
    throw err;
  }
}
