/**
 * The chart's RBAC is sufficient: the operator runs with nothing but the chart's ServiceAccount
 * token, configured as the chart's Deployment configures it (its default mode: every namespace
 * watched), and every flow that writes or reads through the apiserver is checked by its outcome:
 * sealed values and valueFrom stored, an update, a delete, a key rotation, usage in status,
 * events, both webhooks' CA bundles (and both webhooks answering the apiserver), resolution with
 * TokenReview. It watches every namespace, so it gets a control plane of its own: the shared
 * one holds the other files' tenants, which their own operators reconcile.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ACTIVE_DATA_KEY_FIELD } from '../../src/api/datakey.js';
import { envelopeKeyId } from '../../src/core/envelope.js';
import { parseKeyRing } from '../../src/core/keyring.js';
import { DATA_KEY_LABEL, dataKeySecretName, KEYS_SECRET, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_ANNOTATION, ROLE_LABEL } from '../../src/api/resource.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { freePort, startControlPlane, type ControlPlane } from '../env/controlplane.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, kubectl, podBoundToken, requestToken, waitForReady } from '../env/kube.js';
import { parseManifests } from '../env/manifests.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';

const shared = inject('controlPlane');
const NS = 'orka-system';
const RELEASE = 'orka-secrets';
/** A tenant namespace that no longer exists, whose data key is left over. */
const GONE = 'gone-tenant';
let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let operator: OperatorProcess;
let dir: string;
let tenant: string;
let caPem: string;

type Doc = { kind: string; metadata: { name: string }; webhooks?: Array<{ clientConfig: { service?: { path?: string }; url?: string } }>; spec?: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } };

const osec = (namespace: string) => ({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace });

async function resolve(names: string[]): Promise<{ values: Record<string, string>; missing: string[] }> {
  const { token } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'runner' });
  return await new Promise((done, reject) => {
    const req = request({ host: '127.0.0.1', port: operator.resolverPort, path: '/v1/resolve', method: 'POST', ca: caPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? done(JSON.parse(text) as never) : reject(new Error(`resolve: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ names }));
  });
}

async function createSealed(name: string, secretName: string, value: string): Promise<void> {
  const sealedValue = await sealWithPublishedCert(kc, NS, tenant, secretName, value);
  await custom.createNamespacedCustomObject({ ...osec(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue } } });
}

beforeAll(async () => {
  cp = await startControlPlane({ binDir: shared.binDir });
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  dir = mkdtempSync(join(tmpdir(), 'orka-chart-rbac-'));
  await installCrd(kc);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  const docs = parseManifests<Doc>(execFileSync(renderer, ['-chart', 'charts/orka-secrets', '-name', RELEASE, '-namespace', NS]).toString());
  // The chart's RBAC and ServiceAccount as rendered with the default values.
  const rbac = docs.filter((d) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(d.kind));
  const applied = kubectl(cp, ['apply', '-f', '-'], rbac.map((d) => stringify(d)).join('---\n'));
  expect(applied.code, applied.stderr).toBe(0);
  const serviceAccount = rbac.find((d) => d.kind === 'ServiceAccount')?.metadata.name as string;
  // The operator runs here as a process on 127.0.0.1 (no kubelet, no Service): the chart's
  // webhook configurations as rendered, but for the address the apiserver can call.
  const [port, resolverPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
  const hooks = docs.filter((d) => d.kind === 'MutatingWebhookConfiguration' || d.kind === 'ValidatingWebhookConfiguration');
  expect(hooks).toHaveLength(2);
  for (const hook of hooks) for (const w of hook.webhooks ?? []) w.clientConfig = { url: `https://127.0.0.1:${webhookPort}${w.clientConfig.service?.path ?? ''}` };
  const hooked = kubectl(cp, ['apply', '-f', '-'], hooks.map((d) => stringify(d)).join('---\n'));
  expect(hooked.code, hooked.stderr).toBe(0);
  // The Deployment's environment, as the chart sets it; only what a process outside a pod
  // needs differs (where it listens, and 127.0.0.1 in its certificate).
  const deployment = docs.find((d) => d.kind === 'Deployment');
  // LD_PRELOAD names a path inside the image (jemalloc), not on this machine.
  const chartEnv = Object.fromEntries((deployment?.spec?.template.spec.containers[0]?.env ?? []).filter((e) => e.value !== undefined && e.name !== 'LD_PRELOAD').map((e) => [e.name, e.value as string]));
  expect(chartEnv.ORKA_WATCH_NAMESPACES).toBe('');
  const token = await requestToken(kc, { namespace: NS, serviceAccount, audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
  const kubeconfig = parse(readFileSync(cp.kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> };
  kubeconfig.users[0]!.user.token = token;
  const path = join(dir, 'operator-kubeconfig');
  writeFileSync(path, stringify(kubeconfig));
  const start = async () => {
    operator = await startOperator({
      kubeconfigPath: path,
      namespace: NS,
      identity: `${RELEASE}-0`,
      ports: { port, resolverPort, webhookPort },
      env: {
        ...chartEnv,
        ORKA_HTTP_PORT: String(port),
        ORKA_RESOLVER_PORT: String(resolverPort),
        ORKA_WEBHOOK_PORT: String(webhookPort),
        ORKA_SERVING_HOSTS: `${chartEnv.ORKA_SERVING_HOSTS},127.0.0.1`,
        ORKA_USAGE_FLUSH_PERIOD: '1s',
      },
    });
    await operator.waitForLog(/resolver API and webhooks listening/, 60_000);
  };
  // The first start makes the key ring (an installation). Then the data key of a namespace
  // deleted while no operator ran: at the next start, the leader removes it once the API (not only
  // its cache) says the namespace is gone. (A data key with no key ring at all is refused: no new
  // ring is made over it, keys-loss.test.ts.)
  await start();
  await eventually(async () => ((await core.readNamespacedConfigMap({ name: 'orka-secrets-sealing-cert', namespace: NS })) ? true : undefined), 60_000);
  await operator.stop();
  await core.createNamespacedSecret({
    namespace: NS,
    body: {
      metadata: { name: dataKeySecretName(GONE), labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'data-key', [DATA_KEY_LABEL]: GONE }, annotations: { [NAMESPACE_UID_ANNOTATION]: 'a-namespace-long-gone' } },
      data: { [ACTIVE_DATA_KEY_FIELD]: Buffer.from('never unwrapped').toString('base64') },
    },
  });
  await start();
  tenant = await createNamespace(kc, { prefix: 'rbac-tenant', tenant: 'rbac' });
  for (const sa of ['runner', 'default']) await createServiceAccount(kc, tenant, sa);
  const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: NS });
  caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the operator with only the chart RBAC, watching every namespace', () => {
  it('publishes the CA bundle into both webhook configurations, and both webhooks answer the apiserver', async () => {
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const bundle = Buffer.from(caPem).toString('base64');
    await eventually(async () => {
      const m = await admission.readMutatingWebhookConfiguration({ name: RELEASE });
      const v = await admission.readValidatingWebhookConfiguration({ name: RELEASE });
      return [...(m.webhooks ?? []), ...(v.webhooks ?? [])].every((w) => w.clientConfig.caBundle === bundle) ? true : undefined;
    }, 30_000);
    const pod: V1Pod = { metadata: { name: 'runner', labels: { 'orka.io/inject': 'true' } }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } };
    const admitted = await core.createNamespacedPod({ namespace: tenant, body: pod });
    expect(admitted.metadata?.annotations?.['orka.io/status']).toBe('injected');
    const refused = kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api.key', namespace: tenant }, spec: {} }));
    expect(refused.stderr).toMatch(/admission webhook "orkasecrets\.orka\.io" denied the request/);
  });

  it('never injects into its own namespace, even labelled as a tenant on a cluster without kubernetes.io/metadata.name (1.20)', async () => {
    const ns = await core.readNamespace({ name: NS });
    expect(ns.metadata?.labels?.['kubernetes.io/metadata.name']).toBeUndefined();
    await core.patchNamespace({ name: NS, body: { metadata: { labels: { 'orka.io/tenant': 'misconfigured' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    try {
      await createServiceAccount(kc, NS, 'default').catch(() => undefined);
      const pod = await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'own', labels: { 'orka.io/inject': 'true' } }, spec: { automountServiceAccountToken: false, containers: [{ name: 'c', image: 'x:1' }] } } });
      expect(pod.spec?.containers.map((c) => c.name)).toEqual(['c']);
      expect(pod.metadata?.annotations?.['orka.io/status']).toBeUndefined();
    } finally {
      await core.patchNamespace({ name: NS, body: { metadata: { labels: { 'orka.io/tenant': null } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    }
  });

  it('stores a sealed value with status, resolves it (TokenReview), and records usage', async () => {
    await createSealed('sealed-key', 'SEALED_KEY', 'sealed/value+"&');
    await waitForReady(kc, tenant, 'sealed-key', 'Stored');
    expect(await resolve(['SEALED_KEY'])).toMatchObject({ values: { SEALED_KEY: 'sealed/value+"&' }, missing: [] });
    const o = await eventually(async () => {
      const x = (await custom.getNamespacedCustomObject({ ...osec(tenant), name: 'sealed-key' })) as OrkaSecret;
      return (x.status?.usage?.resolveCount ?? 0) >= 1 ? x : undefined;
    }, 30_000);
    expect(o.status?.usage?.lastResolvedAt).toBeTruthy();
  });

  it('takes a value from a Secret (valueFrom), and again when it changes (an Event says so)', async () => {
    await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: 'db-creds' }, stringData: { password: 'first' } } });
    await custom.createNamespacedCustomObject({ ...osec(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'db-password' }, spec: { valueFrom: { secretKeyRef: { name: 'db-creds', key: 'password' } } } } });
    await waitForReady(kc, tenant, 'db-password', 'Stored', (o) => o.status?.version === 1);
    expect((await resolve(['DB_PASSWORD'])).values).toEqual({ DB_PASSWORD: 'first' });
    await core.replaceNamespacedSecret({ name: 'db-creds', namespace: tenant, body: { metadata: { name: 'db-creds' }, stringData: { password: 'second' } } });
    await waitForReady(kc, tenant, 'db-password', 'Stored', (o) => o.status?.version === 2);
    expect((await resolve(['DB_PASSWORD'])).values).toEqual({ DB_PASSWORD: 'second' });
    // The chart's RBAC lets the operator record Events (written in the background).
    await eventually(async () => {
      const events = await core.listNamespacedEvent({ namespace: tenant, fieldSelector: 'involvedObject.name=db-password' });
      return events.items.some((e) => e.reason === 'Stored' && e.message === 'value stored as version 2') || undefined;
    }, 30_000);
  });

  it('removes the data key of a namespace that is gone, confirmed with the API', async () => {
    await eventually(async () => ((await core.listNamespacedSecret({ namespace: NS })).items.some((s) => s.metadata?.name === dataKeySecretName(GONE)) ? undefined : true), 30_000);
    expect(operator.logs.filter((l) => l.includes('could not tidy the data keys'))).toEqual([]);
  });

  it('deletes the storage with the OrkaSecret', async () => {
    await createSealed('short-lived', 'SHORT_LIVED', 'short');
    await waitForReady(kc, tenant, 'short-lived', 'Stored');
    await custom.deleteNamespacedCustomObject({ ...osec(tenant), name: 'short-lived' });
    await eventually(async () => core.readNamespacedSecret({ name: 'orkasecret-short-lived', namespace: tenant }).then(() => undefined, (e: { code?: number }) => (e.code === 404 ? true : undefined)), 30_000);
    expect(await resolve(['SHORT_LIVED'])).toMatchObject({ values: {}, missing: ['SHORT_LIVED'] });
  });

  it('rotates the keys on demand, re-encrypting to new data keys, and every value still resolves', async () => {
    const readRing = async () => {
      const s = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: NS });
      return { ring: parseKeyRing(Buffer.from(s.data?.['keyring.json'] ?? '', 'base64').toString()), annotations: s.metadata?.annotations ?? {} };
    };
    const before = (await readRing()).ring;
    await core.patchNamespacedSecret({ name: KEYS_SECRET, namespace: NS, body: { metadata: { annotations: { 'orka.io/rotate': 'now' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    // Rotation retires the old key-encryption key once no data key is wrapped with it, so the ring
    // may never hold two: wait for a new active key and the request annotation gone.
    const ring = await eventually(async () => {
      const { ring: r, annotations } = await readRing();
      return r.activeKek !== before.activeKek && annotations['orka.io/rotate'] === undefined ? r : undefined;
    }, 60_000);
    await eventually(async () => {
      const dk = await core.readNamespacedSecret({ name: `orka-dk-${tenant}`, namespace: NS });
      return envelopeKeyId(Buffer.from(dk.data?.wrapped ?? '', 'base64')) === ring.activeKek ? true : undefined;
    }, 60_000);
    // The old key-encryption key is retired (the operator may delete key-ring entries under the chart's RBAC).
    await eventually(async () => ((await readRing()).ring.keks.some((k) => k.id === before.activeKek) ? undefined : true), 60_000);
    expect(await resolve(['SEALED_KEY', 'DB_PASSWORD'])).toMatchObject({ values: { SEALED_KEY: 'sealed/value+"&', DB_PASSWORD: 'second' }, missing: [] });
    // A value sealed with the new sealing certificate is stored too.
    await eventually(async () => ((await core.readNamespacedConfigMap({ name: 'orka-secrets-sealing-cert', namespace: NS })).data?.keyId === ring.activeSealing ? true : undefined));
    await createSealed('after-rotation', 'AFTER_ROTATION', 'rotated');
    await waitForReady(kc, tenant, 'after-rotation', 'Stored');
    expect((await resolve(['AFTER_ROTATION'])).values).toEqual({ AFTER_ROTATION: 'rotated' });
    // The values move to the tenant's new data key and the earlier key goes: the chart's RBAC
    // allows each step (storage writes, the check against the apiserver, the Event on the keys Secret).
    await operator.waitForLog(/re-encryption complete/, 120_000);
    const dk = await core.readNamespacedSecret({ name: `orka-dk-${tenant}`, namespace: NS });
    expect(Object.keys(dk.data ?? {})).toEqual(['wrapped']);
    await eventually(async () => {
      const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${KEYS_SECRET}` });
      return events.items.some((e) => e.reason === 'ReencryptionComplete') ? true : undefined;
    });
    expect(operator.logs.join('\n')).not.toMatch(/could not re-encrypt|could not remove an earlier data key|could not record an event/);
    expect(await resolve(['SEALED_KEY', 'DB_PASSWORD', 'AFTER_ROTATION'])).toMatchObject({ values: { SEALED_KEY: 'sealed/value+"&', DB_PASSWORD: 'second', AFTER_ROTATION: 'rotated' }, missing: [] });
  }, 240_000);
});
