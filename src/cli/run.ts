/**
 * `orka-secrets run [--env NAME=TEMPLATE]... [--env-file FILE]... [--no-mask] -- COMMAND [ARGS...]`:
 * runs a command (a workflow's script step) with secrets in its environment, inside a runner pod
 * whose sidecar serves them at ORKA_SECRETS_URL.
 *
 * Every `{{secrets.NAME}}` of the given values is resolved in one request to the sidecar before
 * the command starts, so a missing name fails (exit 3) before anything runs. The command gets the
 * rendered variables on top of the inherited environment, stdin as it is, and SIGINT, SIGTERM and
 * SIGHUP forwarded; `run` exits with its code, or 128 + the signal's number when a signal ended it.
 * Its stdout and stderr pass through a streaming redactor (src/core/stream-redact.ts) that masks
 * every resolved value in the forms /v1/redact masks, unless --no-mask says otherwise out loud.
 *
 * Start-up matters (it is paid by every script step): this module is loaded without the rest of
 * the CLI (src/cli/main.ts) and imports nothing heavier than the sidecar's client.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { isOrkaError, OrkaSecretsClient } from '../client/index.js';
import { StreamRedactor } from '../core/stream-redact.js';
import { references } from '../core/template.js';
import { CliError, EXIT } from './errors.js';

/** The usage line, also in `orka-secrets --help`. */
export const RUN_USAGE = '[--env NAME=TEMPLATE]... [--env-file FILE]... [--no-mask] -- COMMAND [ARGS...]';

/** What `run --help` prints. */
export const RUN_HELP = `Usage: orka-secrets run ${RUN_USAGE}

Runs COMMAND with secrets in its environment, masking their values in its output. For use in a
runner pod: the values come from the Orka Secrets sidecar at ORKA_SECRETS_URL.

Options:
  --env NAME=TEMPLATE  set NAME for the command; {{secrets.SECRET}} in TEMPLATE is replaced by the
                       secret's value (repeatable; wins over --env-file)
  --env-file FILE      NAME=TEMPLATE lines ('#' comments, blank lines and an 'export ' prefix allowed;
                       one pair of surrounding quotes is removed, nothing else is interpreted);
                       repeatable, later files win
  --no-mask            pass the command's output through unmasked (said on stderr)
  -h, --help           print this help

Every reference is resolved before COMMAND starts: a missing secret exits 3 and runs nothing.
Exit codes: COMMAND's own, 128 + N when signal N ended it, 126 COMMAND cannot be run, 127
COMMAND not found; before it starts: 2 bad input, 3 secret not found, 4 sidecar unreachable or
access refused, 1 unexpected failure.
`;

/** What `run` was asked to do. */
export interface RunOptions {
  /** Variables for the command, as NAME -> template, in the order they were given. */
  env: Map<string, string>;
  mask: boolean;
  command: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One NAME=TEMPLATE; `where` says where it came from, for the error (never the text after `=`). */
function assignment(text: string, where: string): [string, string] {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !ENV_NAME.test(name)) {
    const shown = ENV_NAME.test(name) ? name : 'the name';
    throw new CliError(`${where}: expected NAME=TEMPLATE, with NAME made of letters, digits and '_' (${shown} is not)`, EXIT.input);
  }
  return [name, text.slice(eq + 1)];
}

/** The NAME=TEMPLATE lines of an env file. Errors name the file and line, never its text. */
export function parseEnvFile(text: string, file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [name, value] = assignment(line.replace(/^export\s+/, ''), `${file} line ${i + 1}`);
    const quoted = value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0];
    out.push([name, quoted ? value.slice(1, -1) : value]);
  });
  return out;
}

/** Parses `run`'s arguments (everything after `run`); undefined for --help. */
export function parseRunArgs(args: readonly string[]): RunOptions | undefined {
  const dash = args.indexOf('--');
  const own = dash < 0 ? args : args.slice(0, dash);
  let parsed;
  try {
    parsed = parseArgs({
      args: [...own],
      options: { env: { type: 'string', multiple: true }, 'env-file': { type: 'string', multiple: true }, 'no-mask': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new CliError(`run: ${(err as Error).message.split('\n')[0]}`, EXIT.input);
  }
  if (parsed.values.help) return undefined;
  if (dash < 0) throw new CliError(`run: put -- before the command: orka-secrets run ${RUN_USAGE}`, EXIT.input);
  if (parsed.positionals.length > 0) throw new CliError(`run: unexpected argument before --: ${parsed.positionals[0]}`, EXIT.input);
  const command = args.slice(dash + 1);
  if (command.length === 0 || command[0] === '') throw new CliError('run: no command after --', EXIT.input);
  const env = new Map<string, string>();
  for (const file of parsed.values['env-file'] ?? []) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`run: cannot read --env-file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, EXIT.input);
    }
    for (const [name, value] of parseEnvFile(text, file)) env.set(name, value);
  }
  for (const text of parsed.values.env ?? []) {
    const [name, value] = assignment(text, '--env');
    env.set(name, value);
  }
  return { env, mask: !parsed.values['no-mask'], command };
}

/** The rendered variables and the values to mask, from one request to the sidecar. */
export async function resolve(env: ReadonlyMap<string, string>, client: Pick<OrkaSecretsClient, 'render'>): Promise<{ env: Record<string, string>; values: string[] }> {
  const templates = Object.fromEntries(env);
  let names: string[];
  try {
    names = references(templates);
  } catch (err) {
    throw failure(err);
  }
  if (names.length === 0) return { env: templates, values: [] };
  // The variables and each name on its own, in one batch: the whole values are what gets masked.
  const template = { env: templates, values: Object.fromEntries(names.map((n) => [n, `{{secrets.${n}}}`])) };
  try {
    const rendered = await client.render(template);
    return { env: rendered.env, values: Object.values(rendered.values) };
  } catch (err) {
    throw failure(err);
  }
}

/** The sidecar's (or the template's) error as the CLI's. */
function failure(err: unknown): unknown {
  if (!isOrkaError(err)) return err;
  const code =
    err.code === 'SECRET_NOT_FOUND' ? EXIT.notFound
    : err.code === 'INVALID_TEMPLATE' || err.code === 'INVALID_SECRET_NAME' || err.code === 'INVALID_REQUEST' ? EXIT.input
    : err.code === 'UPSTREAM_UNAVAILABLE' || err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN' ? EXIT.cluster
    : EXIT.unexpected;
  return new CliError(err.message, code);
}

/** A Transform that masks `values` in the bytes flowing through it. */
export function maskingStream(values: readonly string[]): Transform {
  const redactor = new StreamRedactor(values);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, redactor.push(chunk));
    },
    flush(done) {
      done(null, redactor.end());
    },
  });
}

/** Pipes a child's output through the redactor into ours; a closed reader of ours ends the child's pipe (it gets EPIPE). */
function masked(from: Readable, to: Writable, values: readonly string[]): Promise<void> {
  return pipeline(from, maskingStream(values), to, { end: false }).catch(() => undefined);
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs the command; resolves to the exit code `run` should end with. */
export async function runCommand(options: RunOptions, client: Pick<OrkaSecretsClient, 'render'> = new OrkaSecretsClient()): Promise<number> {
  const { env, values } = await resolve(options.env, client);
  const mask = options.mask && values.length > 0;
  if (!options.mask) process.stderr.write("orka-secrets run: --no-mask: the command's output is not masked\n");
  const [file, ...args] = options.command as [string, ...string[]];
  const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['inherit', mask ? 'pipe' : 'inherit', mask ? 'pipe' : 'inherit'] });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  try {
    const outputs = mask ? [masked(child.stdout!, process.stdout, values), masked(child.stderr!, process.stderr, values)] : [];
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | NodeJS.ErrnoException>((done) => {
      child.once('error', done);
      child.once('close', (code, signal) => done({ code, signal }));
    });
    await Promise.all(outputs);
    if (ended instanceof Error) {
      const notFound = ended.code === 'ENOENT';
      throw new CliError(`run: cannot run ${file}: ${notFound ? 'command not found' : (ended.code ?? ended.message)}`, notFound ? 127 : 126);
    }
    return ended.code ?? 128 + (constants.signals[ended.signal as NodeJS.Signals] ?? 0);
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}

/** `orka-secrets run ARGS`: parses, runs, and sets the exit code. */
export async function runMain(args: readonly string[]): Promise<void> {
  const options = parseRunArgs(args);
  if (options === undefined) {
    process.stdout.write(RUN_HELP);
    return;
  }
  process.exitCode = await runCommand(options);
}
