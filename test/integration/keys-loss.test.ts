/**
 * The key ring Secret (orka-secrets-keys) deleted while values are stored: the running replica
 * fails /readyz (`keys`) and keeps serving the values it already opened; a replica that starts
 * meanwhile does not make a new ring over the data keys (that would lose them for good) and
 * serves nothing (UPSTREAM_UNAVAILABLE, never "missing"); nothing stored is touched; and
 * `orka-secrets keys restore` of a backup made before brings every value back, without another
 * restart. Real operator, real apiserver, the compiled CLI (make build).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KEYS_SECRET } from '../../src/api/resource.js';
import { canaries } from '../env/canary.js';
import { install, putSealed } from '../env/installation.js';
import { expectControlOnly } from '../env/leak-scan.js';
import { getOrkaSecret } from '../env/kube.js';
import { eventually, podCredentials, resolveExchange, startOperator, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;
let dir: string;
const planted = canaries('CANARY-keyloss');
const outputs: string[] = [];
/** Log lines of the operators this file stopped. */
const logs: string[] = [];

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', '--kubeconfig', cp.kubeconfigPath, '--operator-namespace', opNamespace, ...args], { encoding: 'utf8', timeout: 60_000 });
  outputs.push(res.stdout, res.stderr);
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** The storage Secrets of the tenant: name -> resourceVersion (to see that nothing rewrote them). */
async function storageVersions(): Promise<Record<string, string | undefined>> {
  const list = await core.listNamespacedSecret({ namespace: tenant, labelSelector: 'app.kubernetes.io/managed-by=orka-secrets' });
  return Object.fromEntries(list.items.map((s) => [s.metadata?.name as string, s.metadata?.resourceVersion]));
}

beforeAll(async () => {
  ({ kc, opNamespace, operator, tenant } = await install(cp, 'keyloss'));
  core = kc.makeApiClient(CoreV1Api);
  dir = mkdtempSync(join(tmpdir(), 'orka-keyloss-'));
}, 90_000);

afterAll(async () => {
  await operator?.stop('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the key ring Secret deleted while values are stored', () => {
  it('serves nothing wrong meanwhile, and a restore of the backup brings every value back', { timeout: 180_000 }, async () => {
    const values = { SEALED_ONE: planted.make('sealed'), KEPT_ONE: planted.make('kept') };
    for (const [name, value] of Object.entries(values)) await putSealed(kc, opNamespace, tenant, name, value);
    const credentials = await podCredentials(kc, opNamespace, tenant);
    const names = Object.keys(values);
    expect((await resolveExchange(credentials, operator, names)).body.values).toEqual(values);
    const backup = join(dir, 'keys.yaml');
    const made = cli(['keys', 'backup', '-f', backup]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const stored = await storageVersions();
    expect(Object.keys(stored)).toHaveLength(2);

    await core.deleteNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });

    // The running replica notices (/readyz fails `keys`) and keeps serving what it already opened:
    // it holds the tenant's data key unwrapped, and the values are the right ones.
    await eventually(async () => (/\[-\]keys/.test(await (await fetch(`http://127.0.0.1:${operator.port}/readyz`)).text()) ? true : undefined), 30_000);
    expect((await resolveExchange(credentials, operator, names)).body.values).toEqual(values);

    // A replica that starts meanwhile (a restart, a rollout) and leads must not make a new key
    // ring: the data keys are wrapped by the lost one, and a new ring would keep the backup out.
    logs.push(...operator.logs);
    await operator.stop('SIGKILL');
    operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace: opNamespace, identity: 'keyloss-restarted', env: { ORKA_WATCH_NAMESPACES: tenant } });
    await operator.waitForLog(/became leader/, 60_000);
    await operator.waitForLog(/no key ring, but data keys wrapped by one exist/, 30_000);
    await expect(core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace })).rejects.toMatchObject({ code: 404 });
    // It serves nothing meanwhile: 503 UPSTREAM_UNAVAILABLE (retryable), neither a value nor "missing".
    const down = await eventually(async () => {
      const answer = await resolveExchange(credentials, operator, names).catch(() => undefined);
      return answer?.status === 503 ? answer : undefined;
    }, 30_000);
    expect(down.body).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
    // Nothing stored was rewritten, and the statuses still say the values are stored.
    expect(await storageVersions()).toEqual(stored);
    for (const name of ['sealed-one', 'kept-one']) expect((await getOrkaSecret(kc, tenant, name)).status?.conditions?.[0]?.reason).toBe('Stored');

    // The restore puts the ring back (the data keys are still there: it keeps them).
    const restored = cli(['keys', 'restore', backup]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain('restored the key ring and 0 data keys into');
    expect(restored.stdout).toContain("(1 data key already there, kept: the backup's ring opens them)");
    const back = await eventually(async () => {
      const answer = await resolveExchange(credentials, operator, names);
      return answer.status === 200 ? answer : undefined;
    }, 30_000);
    expect(back.body.values).toEqual(values);
    // The same storage, the same versions: nothing was stored again.
    expect(await storageVersions()).toEqual(stored);
    for (const name of ['sealed-one', 'kept-one']) expect((await getOrkaSecret(kc, tenant, name)).status?.version).toBe(1);

    // No value in what the CLI printed, nor in the operator's logs (self-check: a JSON-escaped control is seen).
    const control = planted.make('control');
    expectControlOnly('the CLI output and the logs', [...outputs, ...logs, ...operator.logs, JSON.stringify({ msg: control })].join('\n'), Object.values(values), control);
  });
});
