/**
 * `orka-secrets run` as a script step runs it: the compiled CLI, a real child process, and the
 * values from a real sidecar (pod-bound token) and operator. The output is searched for every form
 * of the canary with the shared leak finder, against a control canary printed the same way.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MASK } from '../../src/core/redact.js';
import { canaries, findLeaks } from '../env/canary.js';
import { startRunnerPod, type RunnerPod } from '../env/runner-pod.js';

const CLI = 'dist/src/cli/main.js';
let pod: RunnerPod;
let dir: string;
const secret = canaries().make('run');
const control = canaries('CONTROL').make('run');

/** A running `orka-secrets run`: its output so far, and its end. */
interface Running {
  pid: number;
  stdout: Buffer[];
  stderr: string[];
  ended: Promise<{ code: number | null; stdout: Buffer; stderr: string }>;
}

function run(args: string[], options: { env?: Record<string, string>; input?: Buffer } = {}): Running {
  const proc = spawn(process.execPath, [CLI, 'run', ...args], { env: { PATH: process.env.PATH, ORKA_SECRETS_URL: pod.sidecar.url, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: string[] = [];
  proc.stdout.on('data', (c: Buffer) => stdout.push(c));
  proc.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
  proc.stdin.end(options.input ?? Buffer.alloc(0));
  const ended = new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((done) => proc.on('close', (code) => done({ code, stdout: Buffer.concat(stdout), stderr: stderr.join('') })));
  return { pid: proc.pid as number, stdout, stderr, ended };
}

/** A child script: `node -e SCRIPT`. */
const node = (script: string) => ['--', process.execPath, '-e', script];

/** Waits until the output holds `text` (the child said it is ready). */
async function said(r: Running, text: string): Promise<void> {
  for (let i = 0; i < 600 && !Buffer.concat(r.stdout).toString().includes(text); i++) await new Promise((ok) => setTimeout(ok, 50));
  expect(Buffer.concat(r.stdout).toString()).toContain(text);
}

beforeAll(async () => {
  pod = await startRunnerPod(inject('controlPlane'), 'run');
  await pod.put('API_KEY', secret);
  dir = mkdtempSync(join(tmpdir(), 'orka-run-test-'));
});

afterAll(async () => {
  await pod?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('orka-secrets run', () => {
  it('gives the child the rendered environment and masks every form of the value in its output, split writes included', async () => {
    // The child prints each value in every form the finder looks for; the second half of each plain value comes in a later write.
    const script = `
      const forms = (v) => [v, JSON.stringify(v), encodeURIComponent(v), new URLSearchParams({ q: v }).toString(), Buffer.from(v).toString('base64'), Buffer.from('u:' + v).toString('base64'), Buffer.from(v).toString('hex')];
      const { API_KEY, AUTH, CONTROL } = process.env;
      console.log('sha256 ' + require('crypto').createHash('sha256').update(API_KEY).digest('hex') + ' auth ' + (AUTH === 'Bearer ' + API_KEY));
      for (const v of [API_KEY, CONTROL]) { console.log(forms(v).join(' | ')); console.error(forms(v).join(' | ')); }
      process.stdout.write('split: ' + API_KEY.slice(0, 10));
      setTimeout(() => { process.stdout.write(API_KEY.slice(10) + ' end\\n'); }, 100);`;
    const r = run(['--env', 'API_KEY={{secrets.API_KEY}}', '--env', 'AUTH=Bearer {{ secrets.API_KEY }}', '--env', `CONTROL=${control}`, ...node(script)]);
    const { code, stdout, stderr } = await r.ended;
    expect(code, stderr).toBe(0);
    const out = stdout.toString();
    expect(out).toContain(`sha256 ${createHash('sha256').update(secret).digest('hex')} auth true`);
    expect(out).toContain(`split: ${MASK} end`);
    // The finder sees the control canary in both streams, in every form printed; it finds no form of the secret.
    expect(findLeaks(out, [control])).toHaveLength(1);
    expect(findLeaks(stderr, [control])).toHaveLength(1);
    expect(findLeaks(`${out}\n${stderr}`, [secret])).toEqual([]);
  });

  it('passes stdin to the child, and binary output unchanged but for the value', async () => {
    const before = randomBytes(4096);
    const after = Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), randomBytes(4096)]);
    const input = Buffer.concat([before, Buffer.from(secret), after]);
    const { code, stdout } = await run(['--env', 'K={{secrets.API_KEY}}', '--', 'cat'], { input }).ended;
    expect(code).toBe(0);
    expect(stdout.equals(Buffer.concat([before, Buffer.from(MASK), after]))).toBe(true);
  });

  it('fails before anything runs when names are missing: exit 3, every missing name in one message', async () => {
    const marker = join(dir, 'ran');
    const { code, stdout, stderr } = await run(['--env', 'A={{secrets.NOPE_ONE}}', '--env', 'B={{secrets.API_KEY}}', '--env', 'C=x{{secrets.NOPE_TWO}}', '--', 'touch', marker]).ended;
    expect(code).toBe(3);
    expect(stderr).toBe('orka-secrets: secrets NOPE_ONE, NOPE_TWO could not be found\n');
    expect(stdout.length).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const one = await run(['--env', 'A={{secrets.NOPE_ONE}}', '--', 'touch', marker]).ended;
    expect([one.code, one.stderr]).toEqual([3, 'orka-secrets: secret NOPE_ONE could not be found\n']);
  });

  it('reads --env-file, with --env winning', async () => {
    const file = join(dir, 'step.env');
    writeFileSync(file, `# a step's variables\nexport API_KEY="{{secrets.API_KEY}}"\nMODE=file\n\nOTHER='kept'\n`);
    const { code, stdout } = await run(['--env-file', file, '--env', 'MODE=flag', ...node('console.log([process.env.API_KEY, process.env.MODE, process.env.OTHER].join(","))')]).ended;
    expect(code).toBe(0);
    expect(stdout.toString()).toBe(`${MASK},flag,kept\n`);
  });

  it.each([
    ['0', 'process.exit(0)', 0],
    ['1', 'process.exit(1)', 1],
    ['42', 'process.exit(42)', 42],
    ['killed by SIGKILL', "process.kill(process.pid, 'SIGKILL')", 128 + 9],
    ['killed by SIGTERM', "process.kill(process.pid, 'SIGTERM')", 128 + 15],
  ])('exits with the child\'s code: %s', async (_name, script, expected) => {
    expect((await run(['--env', 'K={{secrets.API_KEY}}', ...node(script)]).ended).code).toBe(expected);
  });

  it('exits 127 when the command does not exist, naming it and nothing else', async () => {
    const { code, stderr } = await run(['--env', 'K={{secrets.API_KEY}}', '--', 'no-such-command-orka']).ended;
    expect([code, stderr]).toEqual([127, 'orka-secrets: run: cannot run no-such-command-orka: command not found\n']);
  });

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('forwards %s to the child and exits with its code', async (signal) => {
    const script = `process.on('${signal}', () => { console.log('child got ${signal}'); process.exit(7); }); console.log('ready'); setInterval(() => {}, 1000);`;
    const r = run(['--env', 'K={{secrets.API_KEY}}', ...node(script)]);
    await said(r, 'ready');
    process.kill(r.pid, signal);
    const { code, stdout } = await r.ended;
    expect(stdout.toString()).toBe(`ready\nchild got ${signal}\n`);
    expect(code).toBe(7);
  });

  it('exits 128 + N when a forwarded signal N ends the child', async () => {
    const r = run(['--env', 'K={{secrets.API_KEY}}', ...node("console.log('ready'); setInterval(() => {}, 1000);")]);
    await said(r, 'ready');
    process.kill(r.pid, 'SIGTERM');
    expect((await r.ended).code).toBe(143);
  });

  it('--no-mask passes the output through and says so on stderr', async () => {
    const { code, stdout, stderr } = await run(['--no-mask', '--env', 'K={{secrets.API_KEY}}', ...node('console.log(process.env.K)')]).ended;
    expect(code).toBe(0);
    expect(stdout.toString()).toBe(`${secret}\n`);
    expect(stderr).toBe("orka-secrets run: --no-mask: the command's output is not masked\n");
  });

  it('stops before anything runs on a missing --env-file (Node itself checks the flag: exit 9, nodejs/node#54232)', async () => {
    const marker = join(dir, 'ran-env-file');
    const missing = join(dir, 'missing.env');
    const { code, stderr } = await run(['--env-file', missing, '--', 'touch', marker]).ended;
    expect(code).toBe(9);
    expect(stderr).toContain(`node: ${missing}: not found`);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses bad input with exit 2, never echoing what follows a name', async () => {
    for (const args of [['--env', 'not a name=x', '--', 'true'], ['--env', `bad name=${secret}`, '--', 'true'], ['--env', secret, '--', 'true'], ['--', ''], ['true']]) {
      const { code, stderr } = await run(args).ended;
      expect(code, args.join(' ')).toBe(2);
      expect(findLeaks(stderr, [secret])).toEqual([]);
    }
  });
});
