/**
 * The reference runner (examples/workflow-runner) against a real sidecar and operator: a workflow
 * whose http step sends a canary to an echo server on loopback and whose script prints it in
 * every form. The history (file and stdout) holds no form of it, where a control canary printed
 * the same way is found; the echo server received the real value. Then the secret is deleted and
 * the step that uses it fails with the not-found message, the later ones skipped.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { canaries, canaryWorkflow, findLeaks, PRINT_FORMS_SCRIPT } from '../env/canary.js';
import { startRunnerPod, type RunnerPod } from '../env/runner-pod.js';

const RUNNER = 'dist/examples/workflow-runner/runner.js';
let pod: RunnerPod;
let dir: string;
let echo: Server;
let printer: string;
/** What the echo server received: URL, headers and body of each request. */
const received: string[] = [];
const secret = canaries().make('workflow');
const control = canaries('CONTROL').make('workflow');

/** The workflow: an http step to the echo server (the value in the query too), the printer as a script, and a last step. */
const workflow = (port: number, printer: string) => canaryWorkflow({ url: `http://127.0.0.1:${port}/hook?key={{secrets.API_KEY}}`, control, run: `'${process.execPath}' '${printer}'` });

interface Record {
  step: { name: string };
  status: string;
  error?: string;
  reason?: string;
  output?: string;
  exitCode?: number;
  response?: { status: number; body: string };
}

async function runWorkflow(text: string): Promise<{ code: number | null; stdout: string; stderr: string; history: string; records: Record[] }> {
  const file = join(dir, `workflow-${Date.now()}.yaml`);
  const history = join(dir, `history-${Date.now()}.jsonl`);
  writeFileSync(file, text);
  const proc = spawn(process.execPath, [RUNNER, file, '--history', history], {
    env: { PATH: process.env.PATH, ORKA_SECRETS_URL: pod.sidecar.url, ORKA_SECRETS_CLI: `${process.execPath} dist/src/cli/main.js` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((done) => proc.on('close', done));
  if (!existsSync(history)) throw new Error(`the runner wrote no history (exit ${code}): ${stderr}`);
  const historyText = readFileSync(history, 'utf8');
  return { code, stdout, stderr, history: historyText, records: historyText.trim().split('\n').map((l) => JSON.parse(l) as Record) };
}

beforeAll(async () => {
  pod = await startRunnerPod(inject('controlPlane'), 'workflow');
  await pod.put('API_KEY', secret);
  dir = mkdtempSync(join(tmpdir(), 'orka-workflow-test-'));
  printer = join(dir, 'printer.cjs');
  writeFileSync(printer, PRINT_FORMS_SCRIPT);
  echo = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.stringify({ url: req.url, authorization: req.headers.authorization, body }));
      // Echoes what it got: the runner must mask it before the history records it.
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ got: { url: req.url, authorization: req.headers.authorization, body: JSON.parse(body) as unknown } }));
    });
  });
  await new Promise<void>((ok) => echo.listen(0, '127.0.0.1', ok));
});

afterAll(async () => {
  echo?.close();
  await pod?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the reference workflow runner', () => {
  it('runs the workflow with the value and keeps every form of it out of the history', async () => {
    const text = workflow((echo.address() as AddressInfo).port, printer);
    const r = await runWorkflow(text);
    expect(r.code, r.stderr).toBe(0);
    expect(r.records.map((x) => [x.step.name, x.status])).toEqual([['call', 'succeeded'], ['script', 'succeeded'], ['after', 'succeeded']]);
    // The history on stdout is the file's; each step is recorded as written, templates unrendered.
    expect(r.stdout).toBe(r.history);
    expect(r.records.map((x) => x.step)).toEqual((parse(text) as { steps: unknown[] }).steps);
    // The value was really used: the echo server got it in the query, the header and the body.
    expect(received).toHaveLength(1);
    const got = JSON.parse(received[0] as string) as { url: string; authorization: string; body: string };
    expect(got.url).toBe(`/hook${new URL(`http://x/?key=${secret}`).search}`);
    expect(got.authorization).toBe(`Bearer ${secret}`);
    expect(JSON.parse(got.body)).toEqual({ token: secret, control });
    // The control canary went through the same paths and is found; the secret in no form.
    const everything = `${r.history}\n${r.stdout}\n${r.stderr}`;
    expect(findLeaks(r.records[0]?.response?.body ?? '', [control])).toHaveLength(1);
    expect(findLeaks(r.records[1]?.output ?? '', [control])).toHaveLength(1);
    expect(findLeaks(everything, [secret])).toEqual([]);
    expect(r.records[1]?.output).toContain('split: [REDACTED] end');
  });

  it('fails the step that uses a deleted secret with the not-found message and skips the rest', async () => {
    const text = workflow((echo.address() as AddressInfo).port, printer);
    await pod.remove('API_KEY');
    const before = received.length;
    const r = await runWorkflow(text);
    expect(r.code).toBe(1);
    expect(r.records.map((x) => [x.step.name, x.status, x.error ?? x.reason])).toEqual([
      ['call', 'failed', 'secret API_KEY could not be found'],
      ['script', 'skipped', 'step "call" failed'],
      ['after', 'skipped', 'step "call" failed'],
    ]);
    expect(received.length).toBe(before);
    // A script step fails the same way: orka-secrets run exits 3 before the command runs.
    const script = await runWorkflow(text.slice(text.indexOf('  - name: script')).replace(/^/, 'steps:\n'));
    expect(script.records.map((x) => [x.step.name, x.status, x.exitCode, x.error ?? x.reason])).toEqual([
      ['script', 'failed', 3, 'secret API_KEY could not be found'],
      ['after', 'skipped', undefined, 'step "script" failed'],
    ]);
  });
});
