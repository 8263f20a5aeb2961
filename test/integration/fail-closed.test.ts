/**
 * Fail-closed admission: with the operator unreachable, the chart's webhook configurations as it
 * renders them by default make the real apiserver refuse an opted-in pod (it would start without
 * its sidecar) and an OrkaSecret with `valueFrom` (its SubjectAccessReview, the guard against the
 * operator lending its rights, would be skipped). The webhooks are cluster-wide and refuse while
 * nothing answers them, so this file gets a control plane of its own: on the shared one they
 * would refuse the other files' pods and OrkaSecrets.
 */
import { execFileSync } from 'node:child_process';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../env/controlplane.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, kubectl } from '../env/kube.js';
import { parseManifests } from '../env/manifests.js';

const shared = inject('controlPlane');
const NS = 'orka-system';
let cp: ControlPlane;
let kc: KubeConfig;
let tenant: string;

type Doc = { kind: string; metadata: { name: string }; webhooks?: Array<{ name: string; failurePolicy?: string }> };

beforeAll(async () => {
  cp = await startControlPlane({ binDir: shared.binDir });
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  const docs = parseManifests<Doc>(execFileSync(renderer, ['-chart', 'charts/orka-secrets', '-name', 'orka-secrets', '-namespace', NS]).toString());
  // The webhook configurations and the Service they call, as rendered with the default values;
  // no operator pod exists, so the Service has no endpoints: the operator is unreachable.
  const objects = docs.filter((d) => ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'Service'].includes(d.kind));
  expect(objects.filter((d) => d.kind !== 'Service')).toHaveLength(2);
  const applied = kubectl(cp, ['apply', '-f', '-'], objects.map((d) => stringify(d)).join('---\n'));
  expect(applied.code, applied.stderr).toBe(0);
  tenant = await createNamespace(kc, { prefix: 'closed', tenant: 'closed' });
  // No controller-manager here: the ServiceAccount pods run as is made by hand (and they mount no token).
  await createServiceAccount(kc, tenant, 'default');
}, 120_000);

afterAll(async () => {
  await cp?.stop();
});

const pod = (name: string, labels: Record<string, string>) => ({ metadata: { name, labels }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:local' }] } });

/** How the apiserver answered a create: '' when it was admitted, else its message. */
async function refusal(create: () => Promise<unknown>): Promise<string> {
  try {
    await create();
    return '';
  } catch (err) {
    const body = (err as { body?: string }).body;
    return (body ? (JSON.parse(body) as { message?: string }).message : undefined) ?? String(err);
  }
}

describe('with the operator unreachable, the chart as rendered by default', () => {
  it('refuses an opted-in pod, and admits a pod that did not opt in (the webhook\'s scope, not another refusal)', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    expect(await refusal(() => core.createNamespacedPod({ namespace: tenant, body: pod('opted-in', { 'orka.io/inject': 'true' }) }))).toMatch(/failed calling webhook/);
    expect(await refusal(() => core.createNamespacedPod({ namespace: tenant, body: pod('not-opted-in', {}) }))).toBe('');
    expect((await core.listNamespacedPod({ namespace: tenant })).items.map((p) => p.metadata?.name)).toEqual(['not-opted-in']);
  });

  it('refuses an OrkaSecret with valueFrom', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const body = { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'from-a-secret' }, spec: { valueFrom: { secretKeyRef: { name: 'someone-elses', key: 'token' } } } };
    expect(await refusal(() => custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets', body }))).toMatch(/failed calling webhook/);
    const list = (await custom.listNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace: tenant, plural: 'orkasecrets' })) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });

  it('is what refuses: the same pod is admitted once the injection webhook is set to Ignore (the control)', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const hooks = JSON.parse(kubectl(cp, ['get', 'mutatingwebhookconfigurations', '-o', 'json']).stdout) as { items: Doc[] };
    const name = hooks.items[0]?.metadata.name as string;
    const patch = JSON.stringify((hooks.items[0]?.webhooks ?? []).map((_w, i) => ({ op: 'replace', path: `/webhooks/${i}/failurePolicy`, value: 'Ignore' })));
    const patched = kubectl(cp, ['patch', 'mutatingwebhookconfiguration', name, '--type', 'json', '-p', patch]);
    expect(patched.code, patched.stderr).toBe(0);
    expect(await refusal(() => core.createNamespacedPod({ namespace: tenant, body: pod('opted-in-ignored', { 'orka.io/inject': 'true' }) }))).toBe('');
  });
});
