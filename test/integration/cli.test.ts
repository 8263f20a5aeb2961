/**
 * The orka-secrets CLI end to end against the control plane and a running operator: seal,
 * create, list, update (keeping the value), describe, usage, delete, and bad input with clear
 * messages and non-zero exits. No value is ever printed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/operator/resource.js';
import { canaries, etcdText, findLeaks } from '../env/canary.js';
import { adminKubeConfig, createNamespace, getOrkaSecret, installCrd, waitForReady } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;
let dir: string;
const outputs: string[] = [];
const planted = canaries('CANARY-cli');
const value = planted.make;


/** Runs the CLI (compiled, as installed) with the test kubeconfig. */
function cli(args: string[], input?: string, kubeconfig = cp.kubeconfigPath): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', '--kubeconfig', kubeconfig, '--operator-namespace', opNamespace, '-n', tenant, ...args], { input, encoding: 'utf8', timeout: 30_000 });
  outputs.push(res.stdout, res.stderr);
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

const osec = (name: string) => getOrkaSecret(kc, tenant, name);
const waitVersion = (name: string, version: number) => waitForReady(kc, tenant, name, 'Stored', (o) => o.status?.version === version);

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-cli' });
  tenant = await createNamespace(kc, { prefix: 'cli-tenant', tenant: 'cli' });
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'cli-op', env: { ORKA_WATCH_NAMESPACES: tenant } });
  await operator.waitForLog(/key ring created/);
  dir = mkdtempSync(join(tmpdir(), 'orka-cli-test-'));
});

afterAll(async () => {
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('orka-secrets CLI', () => {
  it('seals offline into a manifest that creates a working secret', async () => {
    const res = cli(['seal', 'WEBHOOK_URL', '--from-stdin', '-d', 'the hook'], `${value('seal')}\n`);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const manifest = parse(res.stdout) as OrkaSecret;
    expect(manifest).toMatchObject({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'webhook-url', namespace: tenant }, spec: { description: 'the hook' } });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: tenant, body: manifest });
    await waitVersion('webhook-url', 1);
  });

  it('creates, lists, updates the description keeping the value, updates the value, describes', async () => {
    const created = cli(['create', 'stripe-api-key', '--from-stdin', '--description', 'Stripe live key'], value('create'));
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('reference it as {{secrets.STRIPE_API_KEY}}');
    await waitVersion('stripe-api-key', 1);

    const list = cli(['list']);
    expect(list.code).toBe(0);
    const [header, ...rows] = list.stdout.trim().split('\n');
    expect(header?.split(/\s{3,}/)).toEqual(['NAME', 'DESCRIPTION', 'CREATED', 'REFERENCE', 'READY', 'LAST USED']);
    expect(rows.find((r) => r.startsWith('STRIPE_API_KEY'))).toMatch(/Stripe live key.*\{\{secrets\.STRIPE_API_KEY\}\}\s+True\s+never/);
    const json = JSON.parse(cli(['list', '-o', 'json']).stdout) as Array<{ name: string }>;
    expect(json.map((r) => r.name).sort()).toEqual(['STRIPE_API_KEY', 'WEBHOOK_URL']);

    expect(cli(['update', 'STRIPE_API_KEY', '--description', 'Stripe (payments)']).stdout).toContain('(value kept)');
    const kept = await eventually(async () => {
      const o = await osec('stripe-api-key');
      return o.spec?.description === 'Stripe (payments)' && o.status?.observedGeneration === o.metadata.generation ? o : undefined;
    });
    expect(kept.status?.version).toBe(1);

    const file = join(dir, 'value.bin');
    writeFileSync(file, value('file'));
    expect(cli(['update', 'STRIPE_API_KEY', '--from-file', file]).code).toBe(0);
    await waitVersion('stripe-api-key', 2);

    const described = cli(['describe', 'STRIPE_API_KEY']);
    expect(described.stdout).toMatch(/Reference:\s+\{\{secrets\.STRIPE_API_KEY\}\}/);
    expect(described.stdout).toMatch(/Version:\s+2/);
    expect(described.stdout).toMatch(/Stored\s+value stored as version 2/);
    expect(JSON.parse(cli(['usage', '-o', 'json']).stdout)).toContainEqual({ name: 'STRIPE_API_KEY', resolveCount: 0, lastResolvedAt: null });
  });

  it('deletes with --yes, and refuses to delete unasked without a terminal', async () => {
    const unasked = cli(['delete', 'WEBHOOK_URL']);
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toContain('add --yes');
    const res = cli(['delete', 'WEBHOOK_URL', '--yes']);
    expect(res.code).toBe(0);
    await eventually(async () => osec('webhook-url').then(() => undefined, (e: { code?: number }) => (e.code === 404 ? true : undefined)));
    expect(cli(['describe', 'WEBHOOK_URL']).code).toBe(3);
  });

  it.each([
    ['no value', ['create', 'EMPTY_ONE', '--from-stdin'], '', 2, /the value is empty/],
    ['a bad name', ['create', 'bad name!', '--from-stdin'], 'x', 2, /invalid secret name: .*position/],
    ['two value options', ['create', 'TWO', '--from-stdin', '--prompt'], 'x', 2, /at most one of/],
    ['an existing name', ['create', 'STRIPE_API_KEY', '--from-stdin'], 'x', 5, /already exists \(use update\)/],
    ['a missing secret', ['update', 'NOPE', '--description', 'x'], undefined, 3, /not found/],
    ['an update with nothing to change', ['update', 'STRIPE_API_KEY'], undefined, 2, /nothing to update/],
    ['a missing file', ['create', 'FROM_FILE', '--from-file', '/nonexistent/x'], undefined, 2, /cannot read \/nonexistent\/x: ENOENT/],
    ['an unknown command', ['explode'], undefined, 2, /unknown command/],
  ])('fails clearly on %s', (_what, args, input, code, message) => {
    const res = cli(args, input);
    expect(res.code).toBe(code);
    expect(res.stderr).toMatch(message);
  });

  it('fails clearly when the cluster cannot be reached', () => {
    const broken = join(dir, 'broken-kubeconfig');
    writeFileSync(broken, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`);
    const res = cli(['list'], undefined, broken);
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/cannot be reached/);
  });

  it('left no value in etcd, in any encoded form', () => {
    // Self-check: a control canary given as a description is stored (JSON-escaped) and found.
    const control = canaries('CONTROL').make('description');
    const created = cli(['create', 'CONTROL_CANARY', '--from-stdin', '-d', control], value('control-value'));
    expect(created.code).toBe(0);
    const etcd = etcdText(cp.etcdUrl);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    expect(findLeaks(etcd, planted.all)).toEqual([]);
  });

  it('never printed a value, in any encoded form', () => {
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(100);
    expect(findLeaks(all, planted.all)).toEqual([]);
  });
});
