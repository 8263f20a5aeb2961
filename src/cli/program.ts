/**
 * The whole command line of orka-secrets (also `kubectl orka`): seal values for a tenant and manage
 * its OrkaSecrets. Never prints a value. Each command group lives in its own module and registers
 * itself here; `run` is here for help and completion, and for a command line with global options before it;
 * src/cli/main.ts loads it alone when it comes first. Each group's module is imported only when
 * the command line names one of its commands (a step's `list` or `seal` loads no key-backup,
 * dashboard or prompt code); help, completion and any other word register them all.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { GlobalOptions } from './cluster.js';
import { isNamespaceName } from '../core/names.js';
import { EXIT } from './errors.js';
import { finishHelp } from './help.js';
import { cliVersion } from './version.js';

const EXIT_HELP = `
Exit codes: 0 done, 1 unexpected failure, 2 bad input (including a namespace that is not a tenant),
3 not found (secret or namespace), 4 cluster unreachable, no kubeconfig or access refused,
5 already exists, 6 not Ready (--wait), 7 timed out (--wait).`;

/** Environment variable that sets --operator-namespace once, for every command. */
export const OPERATOR_NAMESPACE_ENV = 'ORKA_OPERATOR_NAMESPACE';

/** A namespace name (from a flag or the environment), refused in words when it cannot be one. */
function namespaceName(value: string): string {
  if (!isNamespaceName(value)) throw new InvalidArgumentError('not a namespace name (lower-case letters, digits and -, at most 63)');
  return value;
}

type Globals = () => GlobalOptions;

/** The command groups in help order: the commands each registers, and how to register them. */
const GROUPS: Array<{ commands: string[]; register: (cli: Command, g: Globals) => Promise<void> }> = [
  { commands: ['seal', 'create', 'update', 'fetch-cert', 'list', 'describe', 'delete', 'usage'], register: async (cli, g) => (await import('./secrets.js')).registerSecretCommands(cli, g) },
  { commands: ['refs'], register: async (cli, g) => (await import('./refs.js')).registerRefs(cli, g) },
  { commands: ['keys'], register: async (cli, g) => (await import('./keys.js')).registerKeys(cli, g) },
  { commands: [], register: registerCompletion },
  { commands: ['dashboard'], register: async (cli) => (await import('../dashboard/command.js')).registerDashboard(cli) },
  { commands: ['run'], register: registerRun },
];

async function registerCompletion(cli: Command): Promise<void> {
  const { completionScript, SHELLS } = await import('./completion.js');
  cli
    .command('completion')
    .description('print a shell completion script: source <(orka-secrets completion bash)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: (typeof SHELLS)[number]) => {
      process.stdout.write(completionScript(shell, cli));
    });
}

async function registerRun(cli: Command): Promise<void> {
  const { RUN_USAGE, runMain } = await import('./run.js');
  cli
    .command('run')
    .description('run a command with secrets in its environment, masking their values in its output (in a runner pod)')
    .usage(RUN_USAGE)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action((args: string[]) => runMain(args));
}

/** The first word of the command line that is neither a global option nor its value. */
function commandWord(cli: Command, args: string[]): string | undefined {
  const takesValue = new Set(cli.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long]));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-')) return arg;
    if (arg === '--') return args[i + 1];
    if (takesValue.has(arg)) i++; // `-n NS`; `-nNS` and `--namespace=NS` are one word
  }
  return undefined;
}

/**
 * The command line with its global options and the group of the command named in `args`; when
 * the word names no known command (help, completion, a typo), every group, so commander's help,
 * completion and "did you mean" see them all.
 */
export async function program(args: string[] = []): Promise<Command> {
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
  const word = commandWord(cli, args);
  const named = GROUPS.find((group) => word !== undefined && group.commands.includes(word));
  for (const group of named ? [named] : GROUPS) await group.register(cli, g);
  finishHelp(cli);
  return cli;
}

/** Parses and runs a command line; a usage error exits 2 (commander has printed it). */
export async function main(argv: string[]): Promise<void> {
  // Completion reads a partial command line as words (COMPLETE, src/cli/complete.ts, loaded only
  // then): commander would refuse or act on it.
  if (argv[2] === '__complete') {
    const { completeMain } = await import('./complete.js');
    await completeMain(await program(), argv.slice(3));
  }
  try {
    await (await program(argv.slice(2))).parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT.input);
    throw err;
  }
}
