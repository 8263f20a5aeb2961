/**
 * The valueFrom check is not the webhook's alone: the operator reads a source Secret only when
 * admission recorded (an HMAC annotation) that whoever set valueFrom may read it. Against the real
 * apiserver: namespaces whose OrkaSecret webhooks are the real ones (failurePolicy Fail), and a
 * namespace whose webhooks do not answer under failurePolicy Ignore (a moment no replica could
 * answer, a configuration edited by hand, or objects made before the check existed).
 */
import { request } from 'node:https';
import { CoreV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OrkaSecret } from '../../src/api/resource.js';
import { VALUE_FROM_RECORD_ANNOTATION } from '../../src/core/valuefrom-record.js';
import { canaries } from '../env/canary.js';
import { adminKubeConfig, createNamespace, getOrkaSecret, installCrd, kubectl, storageExists as storageIn, uniqueName, waitForReady } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';
import { caBundlePublished, installWebhooks, removeWebhooks, SCOPE_LABEL } from '../env/webhooks.js';
import { freePort } from '../env/controlplane.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let operator: OperatorProcess;
/** Tenant namespace under the real webhooks. */
let guarded: string;
/** Tenant namespace whose webhooks do not answer, failurePolicy Ignore: nothing is checked at admission. */
let bypassed: string;
const hookName = uniqueName('orka-record');
const deadHooks = uniqueName('orka-record-dead');
const planted = canaries();

const manageOrkaSecrets = [{ apiGroups: ['orka.io'], resources: ['orkasecrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }];

async function grant(namespace: string, name: string, user: string, rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } });
}

function manifest(namespace: string, name: string, secret: string, annotations?: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name, namespace, ...(annotations === undefined ? {} : { annotations }) }, spec: { valueFrom: { secretKeyRef: { name: secret, key: 'password' } } } });
}

/** Moves a namespace under the real webhooks or the ones that do not answer. */
async function scope(namespace: string, hooks: string): Promise<void> {
  await core.patchNamespace({ name: namespace, body: { metadata: { labels: { [SCOPE_LABEL]: hooks } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

const storageExists = (namespace: string, name: string) => storageIn(kc, namespace, name);

async function eventsOf(namespace: string, name: string): Promise<Array<{ type?: string; reason?: string; message?: string }>> {
  return (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
}

const ready = (o: OrkaSecret) => o.status?.conditions?.find((c) => c.type === 'Ready');

/** The SubjectAccessReviews this operator sent (its metric: allowed, denied and error each sent one). */
async function reviewsSent(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
  let sent = 0;
  for (const m of text.matchAll(/^orka_operator_access_reviews_total\{outcome="(allowed|denied|error)"\} (\d+)$/gm)) sent += Number(m[2]);
  return sent;
}

/** POSTs a body straight to a webhook path, as anyone who can reach the port could. */
function post(path: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: operator.webhookPort, path, method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-record' });
  guarded = await createNamespace(kc, { prefix: 'rec-guarded', tenant: 'rec-guarded', labels: { [SCOPE_LABEL]: hookName } });
  bypassed = await createNamespace(kc, { prefix: 'rec-bypassed', tenant: 'rec-bypassed', labels: { [SCOPE_LABEL]: deadHooks } });
  for (const ns of [guarded, bypassed]) {
    for (const name of ['db-admin', 'app-db']) await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: { password: planted.make(`${ns}-${name}`) } } });
    // alice may manage OrkaSecrets and read app-db, not db-admin.
    await grant(ns, 'alice-osec', 'alice', manageOrkaSecrets);
    await grant(ns, 'alice-app-db', 'alice', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['app-db'] }]);
  }
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'record-op',
    env: { ORKA_WATCH_NAMESPACES: [guarded, bypassed].join(','), ORKA_MUTATING_WEBHOOK: hookName, ORKA_VALIDATING_WEBHOOK: hookName },
  });
  await operator.waitForLog(/resolver API and webhooks listening/);
  await installWebhooks(kc, { name: hookName, url: `https://127.0.0.1:${operator.webhookPort}`, scope: hookName });
  // Nothing listens there: under Ignore, the apiserver admits what it could not have checked.
  await installWebhooks(kc, { name: deadHooks, url: `https://127.0.0.1:${await freePort()}`, scope: deadHooks, failurePolicy: 'Ignore' });
  await eventually(async () => ((await caBundlePublished(kc, hookName)) ? true : undefined));
});

afterAll(async () => {
  await removeWebhooks(kc, hookName);
  await removeWebhooks(kc, deadHooks);
  await operator?.stop();
});

describe('a valueFrom admission did not check', () => {
  it('is admitted while the webhook cannot answer (Ignore), but the operator refuses to read the Secret: a condition and an Event say why and what to do, nothing is stored', async () => {
    const created = kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], manifest(bypassed, 'stolen', 'db-admin'));
    expect(created.stderr).toBe('');
    const o = await waitForReady(kc, bypassed, 'stolen', 'ValueFromNotAuthorized');
    expect(ready(o)).toMatchObject({ status: 'False', message: expect.stringMatching(/not authorized at admission \(it has no admission record\), so Secret db-admin was not read/) });
    expect(ready(o)?.message).toContain(`kubectl -n ${bypassed} annotate orkasecret stolen orka.io/value-from-recheck=`);
    expect(o.status?.version).toBeUndefined();
    expect(await storageExists(bypassed, 'stolen')).toBe(false);
    const events = await eventually(async () => {
      const all = await eventsOf(bypassed, 'stolen');
      return all.length > 0 ? all : undefined;
    });
    expect(events).toContainEqual(expect.objectContaining({ type: 'Warning', reason: 'ValueFromNotAuthorized' }));
  });

  it('is refused even when its author could have read the Secret: only a record counts', async () => {
    expect(kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], manifest(bypassed, 'unchecked', 'app-db')).stderr).toBe('');
    await waitForReady(kc, bypassed, 'unchecked', 'ValueFromNotAuthorized');
    expect(await storageExists(bypassed, 'unchecked')).toBe(false);
  });
});

describe('the admission record', () => {
  let record: string;

  beforeAll(async () => {
    expect(kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], manifest(guarded, 'app-db-password', 'app-db')).stderr).toBe('');
    const o = await waitForReady(kc, guarded, 'app-db-password', 'Stored');
    record = o.metadata.annotations?.[VALUE_FROM_RECORD_ANNOTATION] as string;
    expect(record).toMatch(/^v1\.seal-[^.]+\.[A-Za-z0-9_-]{43}$/);
  });

  it('is made by the webhook, not taken from the requester: a copied record does not get a Secret the requester may not read past admission', () => {
    const res = kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], manifest(guarded, 'copied', 'db-admin', { [VALUE_FROM_RECORD_ANNOTATION]: record }));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/alice may not get Secret db-admin/);
  });

  it('copied to another namespace, name or reference where admission does not check, is refused by the operator', async () => {
    const copies = [
      ['same-name', manifest(bypassed, 'app-db-password', 'app-db', { [VALUE_FROM_RECORD_ANNOTATION]: record })],
      ['other-name', manifest(bypassed, 'copied-name', 'app-db', { [VALUE_FROM_RECORD_ANNOTATION]: record })],
      ['other-ref', manifest(bypassed, 'copied-ref', 'db-admin', { [VALUE_FROM_RECORD_ANNOTATION]: record })],
    ] as const;
    for (const [, body] of copies) expect(kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], body).stderr).toBe('');
    for (const name of ['app-db-password', 'copied-name', 'copied-ref']) {
      const o = await waitForReady(kc, bypassed, name, 'ValueFromNotAuthorized');
      expect(ready(o)?.message).toMatch(/its admission record was made for another object, reference or namespace/);
      expect(await storageExists(bypassed, name)).toBe(false);
    }
  });

  it('edited on a stored object where admission does not check: refused, the previous value still served', async () => {
    // Stored under the real webhooks, in the namespace that then loses them.
    const ns = guarded;
    expect(kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], manifest(ns, 'will-be-edited', 'app-db')).stderr).toBe('');
    const stored = await waitForReady(kc, ns, 'will-be-edited', 'Stored');
    expect(kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], manifest(ns, 'will-be-retargeted', 'app-db')).stderr).toBe('');
    await waitForReady(kc, ns, 'will-be-retargeted', 'Stored');
    const storageBefore = await core.readNamespacedSecret({ name: 'orkasecret-will-be-retargeted', namespace: ns });
    await scope(ns, deadHooks);
    try {
      // The apiserver sees the namespace's new labels a moment later: until then the real webhooks
      // undo an edited record and refuse the new reference, so each change is made until it sticks.
      const annotationOf = async (name: string) => (await getOrkaSecret(kc, ns, name)).metadata.annotations?.[VALUE_FROM_RECORD_ANNOTATION];
      const forged = `v1.${record.split('.')[1]}.${'A'.repeat(43)}`;
      await eventually(async () => {
        kubectl(cp, ['--as', 'alice', '-n', ns, 'annotate', 'orkasecret', 'will-be-edited', `${VALUE_FROM_RECORD_ANNOTATION}=${forged}`, '--overwrite']);
        return (await annotationOf('will-be-edited')) === forged ? true : undefined;
      });
      await eventually(() => (kubectl(cp, ['--as', 'alice', '-n', ns, 'patch', 'orkasecret', 'will-be-retargeted', '--type', 'merge', '-p', JSON.stringify({ spec: { valueFrom: { secretKeyRef: { name: 'db-admin', key: 'password' } } } })]).code === 0 ? true : undefined));
      await eventually(async () => {
        kubectl(cp, ['--as', 'alice', '-n', ns, 'annotate', 'orkasecret', 'app-db-password', `${VALUE_FROM_RECORD_ANNOTATION}-`]);
        return (await annotationOf('app-db-password')) === undefined ? true : undefined;
      });
      for (const [name, problem] of [
        ['will-be-edited', /its admission record was made for another object, reference or namespace/],
        ['will-be-retargeted', /its admission record was made for another object, reference or namespace/],
        ['app-db-password', /it has no admission record/],
      ] as const) {
        const o = await waitForReady(kc, ns, name, 'ValueFromNotAuthorized');
        expect(ready(o)?.status).toBe('True');
        expect(ready(o)?.message).toMatch(problem);
        expect(ready(o)?.message).toMatch(/nothing new was stored: the previous value \(version 1\) is still served$/);
        expect(o.status?.version).toBe(1);
      }
      expect(stored.status?.version).toBe(1);
      // db-admin was never read: the storage Secret was not written again.
      expect((await core.readNamespacedSecret({ name: 'orkasecret-will-be-retargeted', namespace: ns })).metadata?.resourceVersion).toBe(storageBefore.metadata?.resourceVersion);
    } finally {
      await scope(ns, hookName);
    }
  });
});

describe('objects without a record (made before the check existed, or while it could not answer)', () => {
  it('are re-checked by the documented command: by someone who may not read the Secret nothing changes, by someone who may it is recorded and stored', async () => {
    // `stolen` (db-admin, made by alice while nothing checked) and `app-db-password` (its record
    // removed) have no record. The namespace gets the real webhooks back, as after an upgrade.
    await scope(bypassed, hookName);
    const recheck = (who: string[], ns: string, name: string) => kubectl(cp, [...who, '-n', ns, 'annotate', 'orkasecret', name, `orka.io/value-from-recheck=${Date.now()}`, '--overwrite']);
    // Until the apiserver sees the new label, an annotate is not checked: wait for one that is (alice's re-check of db-admin leaves no record, an authorized one does).
    await eventually(async () => {
      expect(recheck(['--as', 'alice'], bypassed, 'stolen').code).toBe(0);
      const o = await getOrkaSecret(kc, bypassed, 'stolen');
      expect(o.metadata.annotations?.[VALUE_FROM_RECORD_ANNOTATION]).toBeUndefined();
      expect(recheck(['--as', 'alice'], bypassed, 'unchecked').code).toBe(0);
      return (await getOrkaSecret(kc, bypassed, 'unchecked')).metadata.annotations?.[VALUE_FROM_RECORD_ANNOTATION] !== undefined ? true : undefined;
    });
    await waitForReady(kc, bypassed, 'unchecked', 'Stored');
    expect(ready(await waitForReady(kc, bypassed, 'stolen', 'ValueFromNotAuthorized'))?.status).toBe('False');
    expect(await storageExists(bypassed, 'stolen')).toBe(false);
    // An admin (who may read every Secret) re-checks it: recorded, and stored.
    expect(recheck([], bypassed, 'stolen').stderr).toBe('');
    await waitForReady(kc, bypassed, 'stolen', 'Stored');
    expect(recheck(['--as', 'alice'], guarded, 'app-db-password').stderr).toBe('');
    await waitForReady(kc, guarded, 'app-db-password', 'Stored');
  });
});

describe('the webhook endpoints, posted to directly', () => {
  const review = (over: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'probe',
      resource: { group: 'orka.io', version: 'v1alpha1', resource: 'orkasecrets' },
      operation: 'CREATE',
      namespace: guarded,
      userInfo: { username: uniqueName('probe-user') },
      object: JSON.parse(manifest(guarded, 'probe', 'db-admin')) as object,
      ...over,
    },
    ...top,
  });

  // Bodies are made in the test: the namespaces exist only once beforeAll ran.
  it.each<[string, () => object]>([
    ['without apiVersion and kind', () => review({}, { apiVersion: undefined, kind: undefined })],
    ['of another resource', () => review({ resource: { group: '', version: 'v1', resource: 'pods' } })],
    ['of a DELETE', () => review({ operation: 'DELETE' })],
    ['without userInfo', () => review({ userInfo: undefined })],
    ['whose object is not an OrkaSecret', () => review({ object: { kind: 'Secret', metadata: { name: 'x' } } })],
    ['of an UPDATE without the old object', () => review({ operation: 'UPDATE' })],
  ])('answer a malformed review (%s) with 400 and ask the apiserver nothing: no oracle of who may read which Secret', async (_what, make) => {
    const body = make();
    const before = await reviewsSent();
    for (const path of ['/webhooks/validate-orkasecrets', '/webhooks/authorize-orkasecrets']) {
      const res = await post(path, body);
      expect(res.status, res.text).toBe(400);
      expect(res.text).toMatch(/not an AdmissionReview of an OrkaSecret/);
    }
    expect(await reviewsSent()).toBe(before);
  });

  it('ask once for a well-formed review, and answer the same question again from the cache', async () => {
    const body = review({ userInfo: { username: uniqueName('probe-user') } });
    const before = await reviewsSent();
    const first = await post('/webhooks/authorize-orkasecrets', body);
    expect(JSON.parse(first.text)).toMatchObject({ response: { allowed: false, status: { code: 403 } } });
    expect(await reviewsSent()).toBe(before + 1);
    await post('/webhooks/authorize-orkasecrets', body);
    expect(await reviewsSent()).toBe(before + 1);
  });
});
