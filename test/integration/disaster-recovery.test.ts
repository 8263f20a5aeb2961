/**
 * Disaster recovery, as docs/backup-restore.md tells it: the cluster is lost, a new one is made.
 * What comes back is what the backup and Git hold: the key backup (the key ring) restored into the
 * new control plane before its operator first starts, and the sealed manifests from Git applied
 * again, open and resolve. The old data keys are bound to the old namespaces' UIDs, so the new
 * namespaces get new ones; nothing stored in the old cluster is needed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../env/controlplane.js';
import { canaries } from '../env/canary.js';
import { adminKubeConfig, createServiceAccount, installCrd, kubectl, uniqueName, waitForReady } from '../env/kube.js';
import { eventually, resolveAsPod, startOperator, type OperatorProcess } from '../env/operator.js';

const shared = inject('controlPlane');
const OP_NAMESPACE = uniqueName('orka-dr');
const TENANT_NAMESPACE = uniqueName('dr');
const value = canaries('CANARY-dr').make('value');
let newCluster: ControlPlane | undefined;
const operators: OperatorProcess[] = [];
let dir: string;

function cli(kubeconfigPath: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['dist/src/cli/main.js', '--kubeconfig', kubeconfigPath, '--operator-namespace', OP_NAMESPACE, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** The tenant namespace, labelled, with the runner ServiceAccount, in a cluster. */
async function tenantIn(cp: Pick<ControlPlane, 'kubeconfigPath' | 'server' | 'adminToken' | 'caPem'>): Promise<void> {
  const kc = adminKubeConfig(cp);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: OP_NAMESPACE } } });
  await core.createNamespace({ body: { metadata: { name: TENANT_NAMESPACE, labels: { 'orka.io/tenant': 'dr-tenant' } } } });
  await createServiceAccount(kc, TENANT_NAMESPACE, 'runner');
}

/** The manifest a person commits to Git: API_KEY sealed by the CLI with the old cluster's certificate (published once its operator leads). */
async function sealedManifest(): Promise<string> {
  return await eventually(() => {
    const sealed = cli(shared.kubeconfigPath, ['-n', TENANT_NAMESPACE, 'seal', 'API_KEY', '--from-stdin'], value);
    return sealed.code === 0 ? sealed.stdout : undefined;
  }, 60_000, 500);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'orka-dr-'));
});

afterAll(async () => {
  for (const op of operators) await op.stop();
  await newCluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a lost cluster, rebuilt from the key backup and the sealed manifests in Git', () => {
  it('opens and resolves every sealed manifest in a new control plane, with the key ring restored before the operator starts', async () => {
    // The old cluster: a tenant, a secret sealed by the CLI (the manifest goes to Git), a backup.
    await tenantIn(shared);
    operators.push(await startOperator({ kubeconfigPath: shared.kubeconfigPath, namespace: OP_NAMESPACE, identity: 'dr-old', env: { ORKA_WATCH_NAMESPACES: TENANT_NAMESPACE } }));
    const manifest = await sealedManifest();
    const applied = kubectl(shared, ['apply', '-f', '-'], manifest);
    expect(applied.code, applied.stderr).toBe(0);
    await waitForReady(adminKubeConfig(shared), TENANT_NAMESPACE, 'api-key', 'Stored');
    const backup = join(dir, 'orka-keys.yaml');
    const made = cli(shared.kubeconfigPath, ['keys', 'backup', '-f', backup]);
    expect(made.code, made.stderr).toBe(0);

    // The new cluster: nothing of the old one but the backup file and the manifest.
    newCluster = await startControlPlane({ binDir: shared.binDir });
    const kc = adminKubeConfig(newCluster);
    await installCrd(kc);
    await tenantIn(newCluster);
    const restored = cli(newCluster.kubeconfigPath, ['keys', 'restore', backup]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/restored the key ring and 1 data key/);
    const operator = await startOperator({ kubeconfigPath: newCluster.kubeconfigPath, namespace: OP_NAMESPACE, identity: 'dr-new', env: { ORKA_WATCH_NAMESPACES: TENANT_NAMESPACE } });
    operators.push(operator);
    await operator.waitForLog(/resolver API and webhooks listening/);
    const reapplied = kubectl(newCluster, ['apply', '-f', '-'], manifest);
    expect(reapplied.code, reapplied.stderr).toBe(0);
    await waitForReady(kc, TENANT_NAMESPACE, 'api-key', 'Stored');
    const answer = await resolveAsPod(kc, operator, OP_NAMESPACE, TENANT_NAMESPACE, ['API_KEY']);
    expect(answer.values?.API_KEY === value, 'the value sealed in the old cluster resolves in the new one').toBe(true);
  }, 300_000);

  it('the control: without the restore, the new cluster makes keys of its own and the manifest does not open', async () => {
    const other = await startControlPlane({ binDir: shared.binDir });
    try {
      const kc = adminKubeConfig(other);
      await installCrd(kc);
      await tenantIn(other);
      const operator = await startOperator({ kubeconfigPath: other.kubeconfigPath, namespace: OP_NAMESPACE, identity: 'dr-control', env: { ORKA_WATCH_NAMESPACES: TENANT_NAMESPACE } });
      operators.push(operator);
      await operator.waitForLog(/resolver API and webhooks listening/);
      const manifest = await sealedManifest();
      expect(kubectl(other, ['apply', '-f', '-'], manifest).code).toBe(0);
      // Sealed to the old cluster's key, which this one never had: nothing opens, nothing resolves.
      await waitForReady(kc, TENANT_NAMESPACE, 'api-key', 'DecryptFailed');
      expect((await resolveAsPod(kc, operator, OP_NAMESPACE, TENANT_NAMESPACE, ['API_KEY'])).missing).toEqual(['API_KEY']);
    } finally {
      await operators.pop()?.stop();
      await other.stop();
    }
  }, 300_000);
});
