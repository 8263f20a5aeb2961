/**
 * The image, built from the Dockerfile with testcontainers: the sidecar runs as a non-root
 * numeric user, with a read-only root filesystem, serves its API, and leaves the container's
 * filesystem exactly as it found it (`docker diff` is empty); the operator's allocator is there;
 * it runs the bundle alone (no node_modules), and the dashboard finds its page next to it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA } from '../../src/core/pki.js';

const IMAGE = 'orka-secrets:e2e';
// The locally built base (make test-image passes it); the Dockerfile's default is the public image.
const BASE = process.env.ORKA_BASE_IMAGE ?? 'orka-secrets-base:bookworm-node24';

/** GenericContainer with a read-only root filesystem (testcontainers has no option for it). */
class ReadOnlyContainer extends GenericContainer {
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }
}

const started: StartedTestContainer[] = [];
const caPem = createCA({ commonName: 'e2e', now: new Date(), validDays: 1 }).certPem;

function sidecar(readOnly: boolean): GenericContainer {
  const c = readOnly ? new ReadOnlyContainer(IMAGE).withReadOnlyRootFilesystem() : new GenericContainer(IMAGE);
  return c
    .withCommand(['sidecar'])
    // An operator that does not exist: the sidecar must still serve, and say upstream is unavailable.
    .withEnvironment({ ORKA_OPERATOR_URL: 'https://127.0.0.1:9', ORKA_CA_PEM: caPem, ORKA_TOKEN_FILE: '/nonexistent/token' })
    .withDroppedCapabilities('ALL')
    .withSecurityOpt('no-new-privileges')
    .withWaitStrategy(Wait.forLogMessage('sidecar listening on 127.0.0.1'));
}

/** Requests from inside the container, where the sidecar listens on 127.0.0.1. */
async function call(container: StartedTestContainer, path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  const script = `fetch('http://127.0.0.1:8731${path}', ${JSON.stringify({ method: init.method ?? 'GET', body: init.body, headers: { 'x-orka-request': 'true', 'content-type': 'application/json', ...init.headers } })}).then(async r => console.log(JSON.stringify({ status: r.status, body: await r.text() })))`;
  const res = await container.exec(['node', '-e', script]);
  expect(res.exitCode, res.output).toBe(0);
  return JSON.parse(res.output.trim().split('\n').pop() as string) as { status: number; body: string };
}

async function exercise(container: StartedTestContainer): Promise<void> {
  expect((await call(container, '/healthz')).status).toBe(200);
  const missing = await call(container, '/v1/secrets/API_KEY');
  expect(missing.status).toBe(503);
  expect(JSON.parse(missing.body).error.code).toBe('UPSTREAM_UNAVAILABLE');
  expect(await call(container, '/v1/render', { method: 'POST', body: JSON.stringify({ template: { a: 'no references {{ $json.x }}' } }) })).toEqual({ status: 200, body: JSON.stringify({ result: { a: 'no references {{ $json.x }}' } }) });
  expect((await call(container, '/v1/redact', { method: 'POST', body: JSON.stringify({ text: 'hello' }) })).status).toBe(200);
  expect((await call(container, '/v1/secrets/API_KEY', { headers: { 'x-orka-request': 'nope' } })).status).toBe(403);
}

beforeAll(async () => {
  await GenericContainer.fromDockerfile('.').withBuildArgs({ BASE }).build(IMAGE, { deleteOnExit: false });
}, 600_000);

afterAll(async () => {
  for (const c of started) await c.stop().catch(() => undefined);
});

describe('the image', () => {
  it('runs the sidecar as a numeric non-root user and leaves the filesystem unchanged', async () => {
    const container = await sidecar(false).start();
    started.push(container);
    const uid = await container.exec(['node', '-e', 'console.log(process.getuid(), process.getgid())']);
    expect(uid.output.trim()).toBe('65532 65532');
    await exercise(container);
    const diff = execFileSync('docker', ['diff', container.getId()]).toString().trim();
    expect(diff).toBe('');
  });

  it('runs the sidecar with a read-only root filesystem', async () => {
    const container = await sidecar(true).start();
    started.push(container);
    const inspect = JSON.parse(execFileSync('docker', ['inspect', container.getId()]).toString()) as Array<{ HostConfig: { ReadonlyRootfs: boolean } }>;
    expect(inspect[0]?.HostConfig.ReadonlyRootfs).toBe(true);
    await exercise(container);
    const logs = execFileSync('docker', ['logs', container.getId()], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    expect(logs).toContain('sidecar listening on 127.0.0.1');
  });

  it('has the jemalloc the chart preloads into the operator, and it loads', () => {
    // The chart's LD_PRELOAD (docs/failure-modes.md: glibc's malloc keeps closed streams' memory).
    const preload = /\{name: LD_PRELOAD, value: ([^}\s]+)\}/.exec(readFileSync('charts/orka-secrets/templates/deployment.yaml', 'utf8'))?.[1];
    expect(preload).toBeDefined();
    const script = "process.stdout.write(String(require('fs').readFileSync('/proc/self/maps', 'utf8').includes('libjemalloc')))";
    const r = spawnSync('docker', ['run', '--rm', '--read-only', '-e', `LD_PRELOAD=${preload}`, '--entrypoint', '/usr/local/bin/node', IMAGE, '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe(''); // ld.so complains here when the library is missing
    expect(r.stdout).toBe('true');
  });

  it('runs the bundle alone: nothing but dist/bundle in /app, no node_modules', () => {
    const inspect = JSON.parse(execFileSync('docker', ['image', 'inspect', IMAGE]).toString()) as Array<{ Config: { Entrypoint: string[] } }>;
    expect(inspect[0]?.Config.Entrypoint).toEqual(['/usr/local/bin/node', '/app/dist/bundle/entrypoint.mjs']);
    const script = "const fs = require('fs'); process.stdout.write(JSON.stringify([fs.readdirSync('/app'), fs.readdirSync('/app/dist')]))";
    const r = spawnSync('docker', ['run', '--rm', '--read-only', '--entrypoint', '/usr/local/bin/node', IMAGE, '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([['dist'], ['bundle']]);
  });

  it('carries the licences of the packages bundled into it, and of those in the page', () => {
    const script = "const fs = require('fs'); const read = (f) => fs.readFileSync(f, 'utf8'); process.stdout.write(JSON.stringify([read('/app/dist/bundle/THIRD_PARTY_LICENSES.txt'), read('/app/dist/bundle/public/THIRD_PARTY_LICENSES.txt')]))";
    const r = spawnSync('docker', ['run', '--rm', '--read-only', '--entrypoint', '/usr/local/bin/node', IMAGE, '-e', script], { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    expect(r.stderr).toBe('');
    const [bundle, page] = JSON.parse(r.stdout) as [string, string];
    for (const name of ['@kubernetes/client-node', 'express', 'pino', 'node-forge', 'zod']) expect(bundle).toMatch(new RegExp(`^${name}@\\d\\S* \\(.+\\)\\n\\n\\S`, 'm'));
    expect(page).toMatch(/^preact@\d[^ ]* \(MIT\)\n\n.*Permission is hereby granted/ms);
  });

  it('serves the Secrets page from the bundle (the dashboard program finds its files next to it)', async () => {
    // In-cluster configuration pointing nowhere: serving the page needs no cluster.
    const container = await new ReadOnlyContainer(IMAGE)
      .withReadOnlyRootFilesystem()
      .withCommand(['dashboard'])
      .withEnvironment({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '9', ORKA_DASHBOARD_HOSTS: '127.0.0.1:8080', ORKA_DASHBOARD_SECURE_COOKIE: 'false' })
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withWaitStrategy(Wait.forLogMessage('dashboard listening'))
      .start();
    started.push(container);
    const script = `Promise.all(['/', '/app.js', '/app.css'].map(async (p) => { const r = await fetch('http://127.0.0.1:8080' + p); return [r.status, r.headers.get('content-type'), (await r.text()).length]; })).then((r) => console.log(JSON.stringify(r)))`;
    const res = await container.exec(['node', '-e', script]);
    expect(res.exitCode, res.output).toBe(0);
    const [page, js, css] = JSON.parse(res.output.trim().split('\n').pop() as string) as Array<[number, string, number]>;
    expect(page?.slice(0, 2)).toEqual([200, 'text/html; charset=utf-8']);
    expect(js?.slice(0, 2)).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(css?.slice(0, 2)).toEqual([200, 'text/css; charset=utf-8']);
    for (const file of [page, js, css]) expect(file?.[2]).toBeGreaterThan(100);
  });

  it('has both entrypoints, checks configuration at start, and refuses an unknown program', () => {
    const run = (...args: string[]) => spawnSync('docker', ['run', '--rm', '--read-only', ...args], { encoding: 'utf8', timeout: 60_000 });
    const operator = run('-e', 'ORKA_WORKERS=many', IMAGE, 'operator');
    expect(operator.status).toBe(2);
    expect(operator.stderr).toMatch(/orka-secrets operator: invalid configuration:\n\s+ORKA_WORKERS/);
    const unknown = run(IMAGE, 'bogus');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('usage: entrypoint operator|sidecar');
  });
});
