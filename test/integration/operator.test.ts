/**
 * The operator against a real kube-apiserver, as a real process: OrkaSecrets in, ciphertext-only
 * storage out, status and events, keys, rotation, and canary values searched for everywhere.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decryptValue, envelopeKeyId, unwrapDataKey } from '../../src/core/envelope.js';
import { loadKeyRing, parseKeyRing } from '../../src/core/keyring.js';
import { CERT_CONFIGMAP, KEYS_SECRET } from '../../src/api/resource.js';
import type { OrkaSecret } from '../../src/api/resource.js';
import { wrappedDataKeys } from '../../src/api/datakey.js';
import { canaries, etcdText, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, installCrd, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { admissionRecord } from '../env/webhooks.js';
import { VALUE_FROM_RECORD_ANNOTATION } from '../../src/core/valuefrom-record.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let opNamespace: string;
let tenant: string;
let globex: string;
let plain: string;
let operator: OperatorProcess;
/** Every secret value this file plants; none may show up anywhere but in the tests' own memory. */
const planted = canaries();
const canary = planted.make;
const osecApi = osecCoords;

async function createOsec(namespace: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
  await custom.createNamespacedCustomObject({ ...osecApi(namespace), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name, annotations }, spec } });
}

/** Patches the spec; returns the generation the patch made, for waiting on exactly that one. */
async function patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<number> {
  const patched = (await custom.patchNamespacedCustomObject({ ...osecApi(namespace), name, body: { spec } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))) as OrkaSecret;
  return patched.metadata.generation as number;
}

const waitReady = (namespace: string, name: string, reason: string, check?: (o: OrkaSecret) => boolean) => waitForReady(kc, namespace, name, reason, check);

async function storage(namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name: `orkasecret-${name}`, namespace });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** Reads a stored value back the way only the operator's keys can: proves what was stored. */
async function decryptStored(namespace: string, name: string, secretName: string): Promise<string> {
  const keys = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
  const ring = loadKeyRing(parseKeyRing(Buffer.from(keys.data?.['keyring.json'] ?? '', 'base64').toString()));
  const dk = await core.readNamespacedSecret({ name: `orka-dk-${namespace}`, namespace: opNamespace });
  // The active data key, and the earlier ones a rotation replaced (values not yet re-encrypted).
  const dataKeys = new Map(wrappedDataKeys(dk).map((k) => [k.id, unwrapDataKey({ keks: ring.kek, tenant: namespace, wrapped: k.wrapped })]));
  const s = (await storage(namespace, name)) as V1Secret;
  const version = Number(Buffer.from(s.data?.version ?? '', 'base64').toString());
  return decryptValue({ dataKeys: (id) => dataKeys.get(id), tenant: namespace, name: secretName, version, stored: Buffer.from(s.data?.value ?? '', 'base64') }).toString();
}

async function eventsOf(namespace: string, name: string): Promise<Array<{ reason?: string; message?: string; type?: string }>> {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items;
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-system' });
  tenant = await createNamespace(kc, { prefix: 'acme', tenant: 'acme' });
  globex = await createNamespace(kc, { prefix: 'globex', tenant: 'globex' });
  plain = await createNamespace(kc, { prefix: 'plain' });
  // Scoped to this file's namespaces, so operators of other test files never meet these objects.
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'op-a',
    env: { ORKA_WATCH_NAMESPACES: [tenant, globex, plain].join(',') },
  });
  await operator.waitForLog(/became leader/);
  await eventually(async () => (await fetch(`http://127.0.0.1:${operator.port}/readyz`)).status === 200 || undefined);
});

afterAll(async () => {
  await operator?.stop();
});

describe('keys', () => {
  it('makes a key ring at first start and publishes the sealing certificate', async () => {
    const keys = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
    expect(keys.type).toBe('Opaque');
    // Published right after the ring is made (readiness needs the ring, not the ConfigMap).
    const cm = await eventually(() => core.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: opNamespace }).catch(() => undefined));
    expect(cm.data?.['cert.pem']).toContain('BEGIN CERTIFICATE');
    const res = await fetch(`http://127.0.0.1:${operator.port}/v1/cert.pem`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-orka-key-id')).toBe(cm.data?.keyId);
    expect(await res.text()).toBe(cm.data?.['cert.pem']);
  });
});

// The first four tests are one story about one object (stripe-api-key), in order: create,
// change the description, change the value, remove the source. The others stand alone, but for
// the canary sweep at the end of the file, which searches for everything planted before it.
describe('reconcile', () => {
  it('stores a sealed value as ciphertext in an owned Opaque Secret and reports it', async () => {
    const value = canary('create');
    await createOsec(tenant, 'stripe-api-key', { description: 'Stripe live key', sealedValue: await sealWithPublishedCert(kc, opNamespace, tenant, 'STRIPE_API_KEY', value) });
    const o = await waitReady(tenant, 'stripe-api-key', 'Stored');
    expect(o.status).toMatchObject({ secretName: 'STRIPE_API_KEY', reference: '{{secrets.STRIPE_API_KEY}}', version: 1, observedGeneration: 1 });
    expect(o.status?.valueUpdatedAt).toBeTruthy();
    const s = (await storage(tenant, 'stripe-api-key')) as V1Secret;
    expect(s.type).toBe('Opaque');
    expect(s.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'orka-secrets', 'orka.io/orkasecret': 'stripe-api-key' });
    expect(s.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'OrkaSecret', name: 'stripe-api-key', uid: o.metadata.uid, controller: true });
    expect(Object.keys(s.data ?? {}).sort()).toEqual(['value', 'version']);
    expect(Buffer.from(s.data?.value ?? '', 'base64').toString('latin1')).not.toContain(value);
    expect(await decryptStored(tenant, 'stripe-api-key', 'STRIPE_API_KEY')).toBe(value);
  });

  it('changes only the description without a new version', async () => {
    const before = await storage(tenant, 'stripe-api-key');
    const generation = await patchSpec(tenant, 'stripe-api-key', { description: 'Stripe live key (payments)' });
    const o = await waitReady(tenant, 'stripe-api-key', 'Stored', (x) => (x.metadata.generation as number) >= generation);
    expect(o.status?.version).toBe(1);
    expect((await storage(tenant, 'stripe-api-key'))?.metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
  });

  it('stores a new value as the next version, with an Event (the routine first store had none)', async () => {
    const value = canary('update');
    await patchSpec(tenant, 'stripe-api-key', { sealedValue: await sealWithPublishedCert(kc, opNamespace, tenant, 'STRIPE_API_KEY', value) });
    await waitReady(tenant, 'stripe-api-key', 'Stored', (x) => x.status?.version === 2);
    expect(await decryptStored(tenant, 'stripe-api-key', 'STRIPE_API_KEY')).toBe(value);
    // Events are recorded in order, in the background: once version 2's is there, version 1's would be too.
    const events = await eventually(async () => {
      const all = await eventsOf(tenant, 'stripe-api-key');
      return all.some((e) => e.message === 'value stored as version 2') ? all : undefined;
    });
    expect(events).toContainEqual(expect.objectContaining({ reason: 'Stored', type: 'Normal', message: 'value stored as version 2' }));
    expect(events.filter((e) => e.reason === 'Stored' && e.message === 'value stored as version 1')).toEqual([]);
  });

  it('keeps the stored value when the value source is removed', async () => {
    const kept = await decryptStored(tenant, 'stripe-api-key', 'STRIPE_API_KEY');
    const generation = await patchSpec(tenant, 'stripe-api-key', { sealedValue: null });
    const o = await waitReady(tenant, 'stripe-api-key', 'Stored', (x) => (x.metadata.generation as number) >= generation);
    expect(o.spec?.sealedValue).toBeUndefined();
    expect(o.status?.version).toBe(2);
    expect(await decryptStored(tenant, 'stripe-api-key', 'STRIPE_API_KEY')).toBe(kept);
  });

  it('takes a value from a Secret once it exists, and again when it changes', async () => {
    // No webhook runs in this file: the record its admission would have stamped (an admin may read the Secret).
    const ref = { name: 'db-creds', key: 'password' };
    await createOsec(tenant, 'db-password', { valueFrom: { secretKeyRef: ref } }, await admissionRecord(kc, opNamespace, tenant, 'db-password', ref));
    const missing = await waitReady(tenant, 'db-password', 'SourceNotFound');
    expect(missing.status?.conditions?.[0]?.message).toMatch(/Secret db-creds does not exist/);
    expect(await storage(tenant, 'db-password')).toBeUndefined();
    const first = canary('from-secret');
    await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: 'db-creds' }, stringData: { password: first } } });
    await waitReady(tenant, 'db-password', 'Stored', (x) => x.status?.version === 1);
    expect(await decryptStored(tenant, 'db-password', 'DB_PASSWORD')).toBe(first);
    const second = canary('from-secret-2');
    await core.replaceNamespacedSecret({ name: 'db-creds', namespace: tenant, body: { metadata: { name: 'db-creds' }, stringData: { password: second } } });
    await waitReady(tenant, 'db-password', 'Stored', (x) => x.status?.version === 2);
    expect(await decryptStored(tenant, 'db-password', 'DB_PASSWORD')).toBe(second);
  });

  it('refuses a sealed value copied into another tenant or under another name, storing nothing', async () => {
    const sealed = await sealWithPublishedCert(kc, opNamespace, tenant, 'WEBHOOK_URL', canary('copied'));
    await createOsec(globex, 'webhook-url', { sealedValue: sealed });
    await createOsec(tenant, 'other-name', { sealedValue: sealed });
    const elsewhere = await waitReady(globex, 'webhook-url', 'SealedForAnotherSecret');
    expect(elsewhere.status?.conditions?.[0]?.message).toContain(`sealed for WEBHOOK_URL in ${tenant}, not for WEBHOOK_URL in ${globex}`);
    await waitReady(tenant, 'other-name', 'SealedForAnotherSecret');
    expect(await storage(globex, 'webhook-url')).toBeUndefined();
    expect(await storage(tenant, 'other-name')).toBeUndefined();
    expect(await eventsOf(globex, 'webhook-url')).toContainEqual(expect.objectContaining({ type: 'Warning', reason: 'SealedForAnotherSecret' }));
  });

  it('refuses a tampered sealed value', async () => {
    const sealed = Buffer.from(await sealWithPublishedCert(kc, opNamespace, tenant, 'TAMPERED', canary('tampered')), 'base64');
    sealed[sealed.length - 20] = (sealed[sealed.length - 20] as number) ^ 0xff;
    await createOsec(tenant, 'tampered', { sealedValue: sealed.toString('base64') });
    const o = await waitReady(tenant, 'tampered', 'DecryptFailed');
    expect(o.status?.conditions?.[0]?.status).toBe('False');
    expect(await storage(tenant, 'tampered')).toBeUndefined();
  });

  it('stores nothing when both value sources are given (when no webhook refused them)', async () => {
    await createOsec(tenant, 'both-sources', { sealedValue: await sealWithPublishedCert(kc, opNamespace, tenant, 'BOTH_SOURCES', canary('both')), valueFrom: { secretKeyRef: { name: 'x', key: 'y' } } });
    await waitReady(tenant, 'both-sources', 'ConflictingSources');
    expect(await storage(tenant, 'both-sources')).toBeUndefined();
  });

  it('refuses names that map to no secret name, and namespaces that are not tenants', async () => {
    await createOsec(tenant, 'api.key', { sealedValue: Buffer.from('x').toString('base64') });
    const bad = await waitReady(tenant, 'api.key', 'InvalidName');
    expect(bad.status?.conditions?.[0]?.message).toMatch(/"\." at position 4/);
    await createOsec(plain, 'token', { sealedValue: await sealWithPublishedCert(kc, opNamespace, plain, 'TOKEN', canary('not-tenant'), 'no-tenant-yet') });
    await waitReady(plain, 'token', 'NotATenant');
    expect(await storage(plain, 'token')).toBeUndefined();
  });

  it('deletes the storage when the OrkaSecret is deleted', async () => {
    await custom.deleteNamespacedCustomObject({ ...osecApi(tenant), name: 'db-password' });
    await eventually(async () => ((await storage(tenant, 'db-password')) === undefined ? true : undefined));
  });
});

describe('rotation', () => {
  it('rotates on demand: new active keys, a new data key, existing values still readable', async () => {
    const keysBefore = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
    const before = parseKeyRing(Buffer.from(keysBefore.data?.['keyring.json'] ?? '', 'base64').toString());
    // Its own values: one stored before the rotation, one sealed before it and applied after.
    const value = canary('before-rotation');
    await createOsec(tenant, 'before-rotation', { sealedValue: await sealWithPublishedCert(kc, opNamespace, tenant, 'BEFORE_ROTATION', value) });
    await waitReady(tenant, 'before-rotation', 'Stored');
    const ref = { name: 'db-creds', key: 'password' };
    await createOsec(tenant, 'from-before-rotation', { valueFrom: { secretKeyRef: ref } }, await admissionRecord(kc, opNamespace, tenant, 'from-before-rotation', ref));
    await waitReady(tenant, 'from-before-rotation', 'Stored');
    const sealedEarly = canary('sealed-before-rotation');
    const sealedEarlyValue = await sealWithPublishedCert(kc, opNamespace, tenant, 'SEALED_EARLY', sealedEarly);
    await core.patchNamespacedSecret(
      { name: KEYS_SECRET, namespace: opNamespace, body: { metadata: { annotations: { 'orka.io/rotate': 'now' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const after = await eventually(async () => {
      const s = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace: opNamespace });
      const ring = parseKeyRing(Buffer.from(s.data?.['keyring.json'] ?? '', 'base64').toString());
      // The old key-encryption key wraps nothing once every data key is re-wrapped: it is retired.
      return ring.keks.length === 1 && ring.activeKek !== before.activeKek && s.metadata?.annotations?.['orka.io/rotate'] === undefined ? ring : undefined;
    });
    expect(after.activeKek).not.toBe(before.activeKek);
    await eventually(async () => {
      const dk = await core.readNamespacedSecret({ name: `orka-dk-${tenant}`, namespace: opNamespace });
      return wrappedDataKeys(dk).every((k) => envelopeKeyId(k.wrapped) === after.activeKek) ? true : undefined;
    });
    expect(await decryptStored(tenant, 'before-rotation', 'BEFORE_ROTATION')).toBe(value);
    const cm = await eventually(async () => {
      const c = await core.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: opNamespace });
      return c.data?.keyId === after.activeSealing ? c : undefined;
    });
    expect(cm.data?.keyId).not.toBe(before.activeSealing);
    // A value sealed with the new key is stored, and so is one sealed with the old key (a
    // manifest sealed before the rotation and applied after it, from Git for example).
    const fresh = canary('after-rotation');
    await createOsec(tenant, 'after-rotation', { sealedValue: await sealWithPublishedCert(kc, opNamespace, tenant, 'AFTER_ROTATION', fresh) });
    await waitReady(tenant, 'after-rotation', 'Stored');
    expect(await decryptStored(tenant, 'after-rotation', 'AFTER_ROTATION')).toBe(fresh);
    await createOsec(tenant, 'sealed-early', { sealedValue: sealedEarlyValue });
    await waitReady(tenant, 'sealed-early', 'Stored');
    expect(await decryptStored(tenant, 'sealed-early', 'SEALED_EARLY')).toBe(sealedEarly);
    // A valueFrom admission record made with the replaced sealing key is stamped again with the
    // active one, so it outlives the old key (ORKA_SEALING_KEY_RETENTION).
    const recordOf = async () => ((await custom.getNamespacedCustomObject({ ...osecApi(tenant), name: 'from-before-rotation' })) as OrkaSecret).metadata.annotations?.[VALUE_FROM_RECORD_ANNOTATION];
    await eventually(async () => ((await recordOf())?.startsWith(`v1.${after.activeSealing}.`) ? true : undefined));
    await waitReady(tenant, 'from-before-rotation', 'Stored');
  });
});

describe('runtime', () => {
  it('exports metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    expect(text).toMatch(/orka_operator_reconciles_total\{result="Stored"\} \d+/);
    expect(text).toMatch(/orka_operator_reconcile_duration_seconds_bucket/);
    expect(text).toContain('orka_operator_is_leader 1');
    expect(text).toMatch(new RegExp(`orka_operator_secrets_stored\\{tenant="${tenant}"\\} [1-9]`));
    expect(text).toMatch(/orka_operator_queue_depth \d+/);
  });
});

describe('canary', () => {
  it('finds no planted value in etcd, in any log line, event or status, in any encoded form', async () => {
    expect(planted.all.length).toBeGreaterThan(5);
    // Self-check first: the search must find what is there. The valueFrom source Secret holds its
    // value as it is (the user's own Secret, protobuf in etcd), and a description is not a value:
    // a control canary put in one is stored JSON-escaped (Go escapes `"` and `&`), so only the
    // encoded forms can find it.
    const control = canaries('CONTROL').make('description');
    await createOsec(tenant, 'control-canary', { description: control });
    await waitReady(tenant, 'control-canary', 'NoValue');
    const etcd = etcdText(cp.etcdUrl);
    expect(etcd.length).toBeGreaterThan(10_000);
    expect(etcd.includes(control), 'the control canary is stored escaped, not as it is').toBe(false);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    // (The source Secret held both of its values, one after the other; etcd's latest revision has the second.)
    const fromSourceSecret = planted.all.filter((c) => c.includes('from-secret'));
    expect(findLeaks(etcd, fromSourceSecret.filter((c) => c.includes('from-secret-2')))).toHaveLength(1);
    // Then every other planted value, in every form, everywhere.
    const values = planted.all.filter((c) => !fromSourceSecret.includes(c));
    expect(findLeaks(etcd, values), 'in etcd').toEqual([]);
    const logs = operator.logs.join('\n');
    expect(logs).toContain('value stored');
    expect(findLeaks(logs, planted.all), 'in the operator logs').toEqual([]);
    const events = JSON.stringify((await core.listEventForAllNamespaces()).items);
    expect(events).toContain('value stored as version');
    const statuses = JSON.stringify(((await custom.listClusterCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets' })) as { items: OrkaSecret[] }).items.map((o) => o.status));
    expect(findLeaks(events, planted.all), 'in events').toEqual([]);
    expect(findLeaks(statuses, planted.all), 'in statuses').toEqual([]);
  });
});
