/**
 * A reference workflow runner, built on the Orka Secrets client (src/client): it runs the steps of
 * a YAML workflow in order and writes an execution history that never holds a secret's value.
 *
 *   node runner.js WORKFLOW.yaml [--history FILE] [--quit]
 *
 * - `http` steps (method, url, headers, body): every `{{secrets.NAME}}` in the step is rendered by
 *   the sidecar in one request; the response is recorded after the sidecar's /v1/redact masked it.
 * - `script` steps (`run`, a shell command; `env`, variables that may hold references): run through
 *   `orka-secrets run`, which resolves the references before the command starts and masks the
 *   values in its output (the command named by ORKA_SECRETS_CLI, default `orka-secrets`).
 * - History: one JSON line per step, on stdout and appended to the history file (default
 *   history.jsonl): the step as written (templates, never values), status, duration, the response
 *   or output (masked), the error. A step that fails (a missing secret: `secret NAME could not be
 *   found`) stops the workflow; the steps after it are recorded as skipped, with the reason.
 * - `--quit`: ends the sidecar when done (POST /v1/quit), so that a Job's pod completes when the
 *   sidecar runs as a regular container (Kubernetes before native sidecars).
 * Exit code: 0 when every step succeeded, 1 otherwise, 2 for a workflow file that cannot be used.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { OrkaSecretsClient, isOrkaError } from '../../src/client/index.js';

/** An `http` step as written. */
interface HttpStep {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** A string is sent as it is; anything else as JSON. */
  body?: unknown;
}

/** A `script` step as written. */
interface ScriptStep {
  run: string;
  env?: Record<string, string>;
}

/** A step: a name and exactly one of `http` or `script`. */
interface Step {
  name: string;
  http?: HttpStep;
  script?: ScriptStep;
}

/** One line of the execution history. */
interface StepRecord {
  step: Step;
  status: 'succeeded' | 'failed' | 'skipped';
  durationMs: number;
  response?: { status: number; body: string };
  output?: string;
  exitCode?: number;
  error?: string;
  reason?: string;
}

/** Reads and checks a workflow; throws with the step and field at fault. */
function loadWorkflow(text: string): Step[] {
  const doc = parse(text) as { steps?: unknown } | null;
  if (!Array.isArray(doc?.steps)) throw new Error('the workflow has no steps: list');
  return doc.steps.map((raw: unknown, i: number) => {
    const step = raw as Step;
    const where = `step ${i + 1}`;
    if (typeof step?.name !== 'string') throw new Error(`${where}: name must be a string`);
    if ((step.http === undefined) === (step.script === undefined)) throw new Error(`${where} (${step.name}): give exactly one of http or script`);
    if (step.http !== undefined && typeof step.http.url !== 'string') throw new Error(`${where} (${step.name}): http.url must be a string`);
    if (step.script !== undefined && typeof step.script.run !== 'string') throw new Error(`${where} (${step.name}): script.run must be a string`);
    return step;
  });
}

/** Runs an `http` step: render it, send it, mask the answer. */
async function httpStep(secrets: OrkaSecretsClient, http: HttpStep): Promise<Pick<StepRecord, 'status' | 'response' | 'error'>> {
  const req = await secrets.render(http);
  const body = req.body === undefined || typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  const res = await fetch(req.url, { method: req.method ?? 'GET', headers: req.headers ?? {}, ...(body === undefined ? {} : { body }) });
  const response = { status: res.status, body: await secrets.redact(await res.text()) };
  return res.ok ? { status: 'succeeded', response } : { status: 'failed', response, error: `HTTP ${res.status}` };
}

/** Runs a `script` step through `orka-secrets run` (it resolves the references and masks the output). */
async function scriptStep(cli: string[], script: ScriptStep): Promise<Pick<StepRecord, 'status' | 'output' | 'exitCode' | 'error'>> {
  const env = Object.entries(script.env ?? {}).flatMap(([name, template]) => ['--env', `${name}=${template}`]);
  const [file, ...prefix] = cli as [string, ...string[]];
  const child = spawn(file, [...prefix, 'run', ...env, '--', 'sh', '-c', script.run], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const exitCode = await new Promise<number>((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => done(code ?? 1));
  });
  const output = Buffer.concat([...out, ...err]).toString();
  if (exitCode === 0) return { status: 'succeeded', output, exitCode };
  // orka-secrets run's own failure (before the command ran) is its last line, after "orka-secrets: ".
  const own = /^orka-secrets: (.*)$/m.exec(Buffer.concat(err).toString());
  return { status: 'failed', output, exitCode, error: own?.[1] ?? `exit code ${exitCode}` };
}

/** Runs the steps in order; records each with `record`; true when all succeeded. */
async function runWorkflow(steps: Step[], options: { secrets: OrkaSecretsClient; cli: string[]; record: (r: StepRecord) => void }): Promise<boolean> {
  let failed: string | undefined;
  for (const step of steps) {
    if (failed !== undefined) {
      options.record({ step, status: 'skipped', durationMs: 0, reason: `step ${failed} failed` });
      continue;
    }
    const started = performance.now();
    let result: Omit<StepRecord, 'step' | 'durationMs'>;
    try {
      result = step.http !== undefined ? await httpStep(options.secrets, step.http) : await scriptStep(options.cli, step.script as ScriptStep);
    } catch (err) {
      // The client's errors carry names only (`secret NAME could not be found`); anything else
      // (a fetch failure may quote the URL, which can hold a value) is masked by the sidecar.
      const message = isOrkaError(err) ? err.message : await options.secrets.redact(String((err as Error).message)).catch(() => 'error (not shown: it could not be masked)');
      result = { status: 'failed', error: message };
    }
    options.record({ step, durationMs: Math.round(performance.now() - started), ...result });
    if (result.status !== 'succeeded') failed = JSON.stringify(step.name);
  }
  return failed === undefined;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { history: { type: 'string', default: 'history.jsonl' }, quit: { type: 'boolean' } }, allowPositionals: true });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: runner WORKFLOW.yaml [--history FILE] [--quit]\n');
    return 2;
  }
  let steps: Step[];
  try {
    steps = loadWorkflow(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`runner: ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  const secrets = new OrkaSecretsClient();
  const cli = (process.env.ORKA_SECRETS_CLI ?? 'orka-secrets').split(' ').filter(Boolean);
  const record = (r: StepRecord) => {
    const line = `${JSON.stringify(r)}\n`;
    process.stdout.write(line);
    appendFileSync(values.history, line);
  };
  try {
    return (await runWorkflow(steps, { secrets, cli, record })) ? 0 : 1;
  } finally {
    if (values.quit) await secrets.close().catch((err: Error) => process.stderr.write(`runner: could not end the sidecar: ${err.message}\n`));
  }
}

process.exitCode = await main();
