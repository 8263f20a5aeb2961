/**
 * Tenant isolation against the real apiserver, with the admission webhooks called by it: what a
 * tenant (or a mistaken admin) could reach beyond its own rights, and what stops it.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { request } from 'node:https';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { deleteNamespace, startControllers } from '../env/controllers.js';
import { canaries, etcdText, findLeaks, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, kubectl, podBoundToken, requestToken, storageExists as storageIn, TENANT_LABEL, uniqueName, waitForReady } from '../env/kube.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { eventually, resolveAsPod, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { caBundlePublished, installWebhooks, removeWebhooks, SCOPE_LABEL } from '../env/webhooks.js';
import { sealWithLabel } from '../env/raw-seal.js';
import { CERT_CONFIGMAP } from '../../src/api/resource.js';
import { sealingKeyIdOf } from '../../src/core/sealing-cert.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let rbac: RbacAuthorizationV1Api;
let operator: OperatorProcess;
let opNamespace: string;
let tenant: string;
/** A tenant namespace the webhooks do not watch: what the operator alone does. */
let nohook: string;
/** A tenant namespace this file deletes and makes again. */
const recycled = uniqueName('iso-recycled');
let caPem: string;
const hookName = uniqueName('orka-iso');
/** Values sealed here: they must exist nowhere in plain form. */
const planted = canaries();
const canary = planted.make;
/**
 * Values this file puts in Kubernetes Secrets, as valueFrom sources: stored as they are in etcd
 * (this apiserver does not encrypt Secrets), so everywhere but etcd they must not appear.
 */
const sources = canaries('CANARY-SOURCE');

function osecManifest(namespace: string, name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name, namespace }, spec });
}

const fromSecret = (name: string, key = 'password') => ({ valueFrom: { secretKeyRef: { name, key } } });

const storageExists = (namespace: string, name: string) => storageIn(kc, namespace, name);

/** A Role in `namespace` bound to a user or a group. */
async function grant(namespace: string, name: string, subject: { kind: 'User' | 'Group'; name: string }, rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>): Promise<void> {
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...subject }] },
  });
}

/** One call to the resolver API with a bearer token. */
function resolver(token: string, path: string, body?: object): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: operator.resolverPort, path, method: body === undefined ? 'GET' : 'POST', ca: caPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Opens the change stream; `text` grows as events arrive, `ended` resolves when the server closes it. */
function openStream(token: string): Promise<{ status: number; text: () => string; ended: Promise<void>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: operator.resolverPort, path: '/v1/changes', ca: caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      const ended = new Promise<void>((done) => res.on('close', () => done()));
      res.on('data', (c: Buffer) => (text += c.toString()));
      resolve({ status: res.statusCode ?? 0, text: () => text, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A sealed value with any label, under the key the operator published (the product seals only valid ones). */
async function sealedWithLabel(label: string): Promise<string> {
  const cm = await eventually(() => core.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: opNamespace }));
  const certPem = cm.data?.['cert.pem'] as string;
  return sealWithLabel({ publicKey: createPublicKey(certPem), keyId: sealingKeyIdOf(certPem), layout: 2, label, value: Buffer.from('v') }).toString('base64');
}

async function labelNamespace(name: string, labels: Record<string, string>): Promise<void> {
  const res = kubectl(cp, ['label', 'ns', name, '--overwrite', ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
  if (res.code !== 0) throw new Error(res.stderr);
}

const manageOrkaSecrets = [{ apiGroups: ['orka.io'], resources: ['orkasecrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }];

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-iso' });
  tenant = await createNamespace(kc, { prefix: 'iso-tenant', tenant: 'iso', labels: { [SCOPE_LABEL]: hookName } });
  await createServiceAccount(kc, tenant, 'default');
  nohook = await createNamespace(kc, { prefix: 'iso-nohook', tenant: 'iso' });
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'iso-op',
    // A short review cache, so that revocation shows within this test; small stream caps.
    // The resolver's memo of opened values kept far longer than any test here, so that whatever
    // it could serve past a deletion or a new data key, it would.
    env: {
      ORKA_WATCH_NAMESPACES: [tenant, nohook, opNamespace, recycled].join(','),
      ORKA_MUTATING_WEBHOOK: hookName,
      ORKA_VALIDATING_WEBHOOK: hookName,
      ORKA_TOKEN_CACHE_TTL: '4s',
      ORKA_MAX_STREAMS: '3',
      ORKA_MAX_STREAMS_PER_IDENTITY: '2',
      ORKA_RESOLVE_MEMO_TTL: '1h',
    },
  });
  await operator.waitForLog(/resolver API and webhooks listening/);
  await installWebhooks(kc, { name: hookName, url: `https://127.0.0.1:${operator.webhookPort}`, scope: hookName });
  await eventually(async () => ((await caBundlePublished(kc, hookName)) ? true : undefined));
  const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
});

afterAll(async () => {
  await removeWebhooks(kc, hookName);
  await operator?.stop();
});

describe('valueFrom is no confused deputy', () => {
  beforeAll(async () => {
    for (const name of ['db-admin', 'app-db', 'team-db']) {
      await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name }, stringData: { password: sources.make(name) } } });
    }
    // alice may manage OrkaSecrets and read app-db only; the team "dbas" may read team-db.
    await grant(tenant, 'alice-osec', { kind: 'User', name: 'alice' }, manageOrkaSecrets);
    await grant(tenant, 'alice-app-db', { kind: 'User', name: 'alice' }, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['app-db'] }]);
    await grant(tenant, 'dbas-osec', { kind: 'Group', name: 'dbas' }, manageOrkaSecrets);
    await grant(tenant, 'managers-osec', { kind: 'Group', name: 'osec-managers' }, manageOrkaSecrets);
    await grant(tenant, 'dbas-team-db', { kind: 'Group', name: 'dbas' }, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['team-db'] }]);
  });

  it('refuses at admission an OrkaSecret whose author may not read its source Secret, with the rule', async () => {
    const res = kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], osecManifest(tenant, 'stolen', fromSecret('db-admin')));
    expect(res.code).not.toBe(0);
    // The check is the mutating webhook's, which records it for the operator.
    expect(res.stderr).toMatch(/admission webhook "authorize\.orkasecrets\.orka\.io" denied the request/);
    expect(res.stderr).toMatch(/alice may not get Secret db-admin in namespace .*whoever sets valueFrom must be allowed to read that Secret themselves/);
    expect(await storageExists(tenant, 'stolen')).toBe(false);
  });

  it('accepts one whose author may read the source, and refuses changing it to a Secret they may not read', async () => {
    const created = kubectl(cp, ['--as', 'alice', 'create', '-f', '-'], osecManifest(tenant, 'app-db-password', fromSecret('app-db')));
    expect(created.stderr).toBe('');
    await waitForReady(kc, tenant, 'app-db-password', 'Stored');
    const retarget = kubectl(cp, ['--as', 'alice', 'patch', 'osec', 'app-db-password', '-n', tenant, '--type', 'merge', '-p', JSON.stringify({ spec: fromSecret('db-admin') })]);
    expect(retarget.code).not.toBe(0);
    expect(retarget.stderr).toMatch(/alice may not get Secret db-admin/);
    // An update that leaves valueFrom as it was needs no new check.
    const describeOnly = kubectl(cp, ['--as', 'alice', 'patch', 'osec', 'app-db-password', '-n', tenant, '--type', 'merge', '-p', JSON.stringify({ spec: { description: 'the app database' } })]);
    expect(describeOnly.stderr).toBe('');
    expect(describeOnly.code).toBe(0);
  });

  it("checks the requester's groups too", () => {
    // Both groups may manage OrkaSecrets; only dbas may read team-db.
    const allowed = kubectl(cp, ['--as', 'bob', '--as-group', 'dbas', 'create', '-f', '-'], osecManifest(tenant, 'team-db-password', fromSecret('team-db')));
    expect(allowed.stderr).toBe('');
    const refused = kubectl(cp, ['--as', 'carol', '--as-group', 'osec-managers', 'create', '-f', '-'], osecManifest(tenant, 'team-db-carol', fromSecret('team-db')));
    expect(refused.stderr).toMatch(/carol may not get Secret team-db/);
  });

  it.each([
    ['a service-account token', 'kubernetes.io/service-account-token', { 'kubernetes.io/service-account.name': 'default' }],
    ['a Helm release record', 'helm.sh/release.v1', {}],
  ])('never reads %s as a source, whoever asks, and says why in the condition', async (_what, type, annotations) => {
    const secretName = uniqueName('refused');
    await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: secretName, annotations }, type, stringData: { token: sources.make(type), password: sources.make(type) } } });
    const name = uniqueName('refused-src');
    // The admin may read it, so admission lets it through: the operator is the last line.
    await custom.createNamespacedCustomObject({ ...osecCoords(tenant), body: JSON.parse(osecManifest(tenant, name, fromSecret(secretName, 'token'))) as object });
    const o = await waitForReady(kc, tenant, name, 'SourceRefused');
    expect(o.status?.conditions?.[0]?.message).toMatch(new RegExp(`Secret ${secretName} is of type ${type.replaceAll('.', '\\.')}: the operator never reads`));
    expect(await storageExists(tenant, name)).toBe(false);
  });
});

describe("the operator's namespace is never a tenant", () => {
  it('labelled as a tenant by mistake, it stores nothing, serves no token from there, and admission refuses OrkaSecrets there', async () => {
    await labelNamespace(opNamespace, { [TENANT_LABEL]: 'oops' });
    // An OrkaSecret pointing at the key ring (the admin may read it, and the webhook does not
    // watch this namespace yet): the operator itself refuses.
    await custom.createNamespacedCustomObject({ ...osecCoords(opNamespace), body: JSON.parse(osecManifest(opNamespace, 'key-ring', fromSecret('orka-secrets-keys', 'keyring.json'))) as object });
    const o = await waitForReady(kc, opNamespace, 'key-ring', 'NotATenant');
    expect(o.status?.conditions?.[0]?.message).toMatch(/operator's own namespace \(it holds the keys\): it is never a tenant, whatever its labels/);
    expect(await storageExists(opNamespace, 'key-ring')).toBe(false);
    await expect(core.readNamespacedSecret({ name: `orka-dk-${opNamespace}`, namespace: opNamespace })).rejects.toMatchObject({ code: 404 });

    // A token from the operator's namespace resolves nothing.
    await createServiceAccount(kc, opNamespace, 'runner');
    const { token } = await podBoundToken(kc, { namespace: opNamespace, serviceAccount: 'runner' });
    const answer = await resolver(token, '/v1/resolve', { names: ['KEY_RING'] });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringMatching(/operator's own namespace/) } });
    expect(answer.text).not.toContain('BEGIN');

    // Once the webhook sees this namespace, it refuses OrkaSecrets here outright.
    await labelNamespace(opNamespace, { [SCOPE_LABEL]: hookName });
    const res = kubectl(cp, ['create', '-f', '-'], osecManifest(opNamespace, 'key-ring-2', fromSecret('orka-secrets-keys', 'keyring.json')));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/OrkaSecrets cannot be created here: namespace .* is the operator's own namespace/);
  });
});

describe('host-network pods', () => {
  const runner = (name: string, hostNetwork: boolean, labels: Record<string, string>) => ({
    metadata: { name, labels },
    spec: { hostNetwork, automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] },
  });

  it('refuses an opted-in host-network pod with the reason, and nothing else changes in the namespace', async () => {
    await expect(core.createNamespacedPod({ namespace: tenant, body: runner('on-host', true, { 'orka.io/inject': 'true' }) })).rejects.toMatchObject({
      code: 403,
      body: expect.stringMatching(/cannot use hostNetwork: the sidecar serves secrets on 127\.0\.0\.1, which on the host network is the node's loopback/),
    });
    await expect(core.readNamespacedPod({ name: 'on-host', namespace: tenant })).rejects.toMatchObject({ code: 404 });
    // The same namespace still admits an opted-in pod off the host network, and host-network pods that did not opt in.
    const injected = await core.createNamespacedPod({ namespace: tenant, body: runner('off-host', false, { 'orka.io/inject': 'true' }) });
    expect(injected.metadata?.annotations?.['orka.io/status']).toBe('injected');
    const plainHost = await core.createNamespacedPod({ namespace: tenant, body: runner('host-no-inject', true, {}) });
    expect(plainHost.spec?.containers.map((c) => c.name)).toEqual(['runner']);
  });
});

describe('tokens', () => {
  it('refuses a token minted by hand without a pod (401, with the reason) and accepts a pod-bound one', async () => {
    await createServiceAccount(kc, tenant, 'minted');
    const minted = await requestToken(kc, { namespace: tenant, serviceAccount: 'minted', audience: 'orka-secrets' });
    const refused = await resolver(minted, '/v1/resolve', { names: ['ANYTHING'] });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/not bound to a pod.*kubectl create token/) } });
    const { token } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'minted' });
    const accepted = await resolver(token, '/v1/resolve', { names: ['ANYTHING'] });
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.text)).toMatchObject({ values: {}, missing: ['ANYTHING'] });
  });

  it('closes a change stream once its ServiceAccount is deleted (event: revoked)', async () => {
    await createServiceAccount(kc, tenant, 'streamer');
    const { token } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'streamer' });
    const stream = await openStream(token);
    expect(stream.status).toBe(200);
    await eventually(() => (stream.text().includes('event: ready') ? true : undefined));
    await core.deleteNamespacedServiceAccount({ name: 'streamer', namespace: tenant });
    // The event is waited for, with a ceiling far past the documented bound (TTL 4 s + the
    // apiserver's 10 s cache + a re-check period): without the re-check the stream stays open
    // forever. The bound itself is measured against the documented one by test/bench/bounds.ts.
    await Promise.race([stream.ended, new Promise((_r, reject) => setTimeout(() => reject(new Error('stream still open 60 s after its ServiceAccount was deleted')), 60_000))]);
    expect(stream.text()).toMatch(/event: revoked\ndata: \{"code":"UNAUTHENTICATED"/);
    expect((await resolver(token, '/v1/resolve', { names: ['ANYTHING'] })).status).toBe(401);
  }, 90_000);

  it('closes a change stream once its pod is deleted', async () => {
    const { token, pod } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'minted' });
    const stream = await openStream(token);
    await eventually(() => (stream.text().includes('event: ready') ? true : undefined));
    await core.deleteNamespacedPod({ name: pod, namespace: tenant, gracePeriodSeconds: 0 });
    await Promise.race([stream.ended, new Promise((_r, reject) => setTimeout(() => reject(new Error('stream still open 60 s after its pod was deleted')), 60_000))]);
    expect(stream.text()).toContain('event: revoked');
  }, 90_000);
});

describe('resolver API abuse', () => {
  it('caps change streams per identity and in total (429), and frees a slot when a stream closes', async () => {
    const a = (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'minted' })).token;
    const b = (await podBoundToken(kc, { namespace: tenant, serviceAccount: 'minted' })).token;
    const open = [await openStream(a), await openStream(a)];
    expect(open.map((s) => s.status)).toEqual([200, 200]);
    const third = await openStream(a);
    expect(third.status).toBe(429);
    await third.ended;
    expect(third.text()).toMatch(/TOO_MANY_REQUESTS.*the most one identity may open/);
    open.push(await openStream(b));
    expect(open[2]?.status).toBe(200);
    const overTotal = await openStream(b);
    expect(overTotal.status).toBe(429);
    open[0]?.close();
    await eventually(async () => {
      const again = await openStream(b);
      if (again.status !== 200) return undefined;
      open.push(again);
      return true;
    });
    for (const s of open) s.close();
  });

  it('refuses an unauthenticated 1 MB body before parsing it, and answers 413 past its own limit', async () => {
    const post = (headers: Record<string, string>, body: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: operator.resolverPort, path: '/v1/resolve', method: 'POST', ca: caPem, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        // The server may answer and close before the whole body is sent.
        req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
        req.end(body);
      });
    // Not JSON at all: a parser that ran first would answer 400 "not valid JSON".
    const garbage = `{${'x'.repeat(1024 * 1024)}`;
    const anonymous = await post({}, garbage);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const { token } = await podBoundToken(kc, { namespace: tenant, serviceAccount: 'minted' });
    const big = await post({ authorization: `Bearer ${token}` }, JSON.stringify({ names: ['A'], pad: 'x'.repeat(1024 * 1024) }));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });
});

describe('untrusted text never reaches a condition or an event', () => {
  // 20 KB of terminal escapes and a forged event line, planted where the operator reads text.
  const hostile = `\u001b[2J\u001b[31m${'\u001b[1A'.repeat(2000)}\nNormal  Stored  value stored as version 1${'x'.repeat(10_000)}`;
  const controlOrHuge = (text: string | undefined) => text === undefined || [...text].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) || text.length > 1024 || text.includes('Normal  Stored');

  it.each([
    // Written by hand: `seal` refuses to bind a value to text that is no tenant id or namespace name.
    ['the clear-text label of a sealed value', async () => ({ sealedValue: await sealedWithLabel(`${hostile}/${nohook}/API_KEY`) }), 'DecryptFailed'],
    ['the key of a valueFrom reference', () => Promise.resolve(fromSecret('app-db', hostile.slice(0, 250))), 'InvalidSource'],
  ])('%s', async (_what, spec, reason) => {
    const name = uniqueName('hostile');
    await custom.createNamespacedCustomObject({ ...osecCoords(nohook), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: await spec() } });
    const o = await waitForReady(kc, nohook, name, reason);
    for (const c of o.status?.conditions ?? []) expect(controlOrHuge(c.message)).toBe(false);
    const events = await eventually(async () => {
      const list = (await core.listNamespacedEvent({ namespace: nohook, fieldSelector: `involvedObject.name=${name}` })).items;
      return list.length > 0 ? list : undefined;
    });
    for (const e of events) expect(controlOrHuge(e.message)).toBe(false);
    expect(await storageExists(nohook, name)).toBe(false);
  });

  it('admission refuses a valueFrom reference that names no valid Secret and key', () => {
    const res = kubectl(cp, ['create', '-f', '-'], osecManifest(tenant, 'hostile-ref', fromSecret('app-db', 'x\u001b[31m')));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/spec\.valueFrom\.secretKeyRef must name a Secret/);
  });
});

describe("the chart's tenant roles", () => {
  it('aggregate into edit (manage OrkaSecrets, valueFrom only from Secrets the user may read) and view (reads OrkaSecrets; never a storage Secret, never a token to resolve with)', async () => {
    const release = uniqueName('orka-secrets-iso'); // contains the chart name: the fullname is the release name
    const renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
    const docs = parseAllDocuments(execFileSync(renderer, ['-chart', 'charts/orka-secrets', '-name', release, '-namespace', opNamespace]).toString())
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
      .filter((d) => d?.kind === 'ClusterRole' && (d.metadata?.name ?? '').includes('-tenant-'));
    expect(docs.map((d) => d?.metadata?.name).sort()).toEqual([`${release}-tenant-edit`, `${release}-tenant-view`]);
    const applied = kubectl(cp, ['apply', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n'));
    expect(applied.stderr).toBe('');
    const aggregation = await startControllers(cp, ['clusterrole-aggregation']);
    try {
      const bind = async (name: string, clusterRole: string, user: string) =>
        await rbac.createNamespacedRoleBinding({
          namespace: tenant,
          body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
        });
      await bind('erin-edit', 'edit', 'erin');
      await bind('vic-view', 'view', 'vic');
      // Only the chart's manage role: OrkaSecrets yes, Secrets no.
      await bind('olga-osec', `${release}-tenant-edit`, 'olga');
      const canI = (user: string, verb: string) => kubectl(cp, ['auth', 'can-i', verb, 'orkasecrets.orka.io', '-n', tenant, '--as', user]).stdout.trim();
      await eventually(() => (canI('erin', 'create') === 'yes' && canI('vic', 'list') === 'yes' ? true : undefined), 60_000, 250);
      expect(canI('vic', 'create')).toBe('no');

      const erin = kubectl(cp, ['--as', 'erin', 'create', '-f', '-'], osecManifest(tenant, 'erin-app-db', fromSecret('app-db')));
      expect(erin.stderr).toBe('');
      await waitForReady(kc, tenant, 'erin-app-db', 'Stored');
      const vic = kubectl(cp, ['--as', 'vic', 'get', 'osec', 'erin-app-db', '-n', tenant, '-o', 'json']);
      expect(vic.code).toBe(0);
      expect(vic.stdout).not.toMatch(/CANARY/);
      // view never reads a storage Secret: judged by the apiserver's answer to vic's own request,
      // with edit's identical request as the control (the Secret is there, the question well formed).
      const storage = `orkasecret-erin-app-db`;
      expect(kubectl(cp, ['--as', 'erin', 'get', 'secret', storage, '-n', tenant, '-o', 'name']).stdout.trim()).toBe(`secret/${storage}`);
      expect(kubectl(cp, ['--as', 'vic', 'get', 'secret', storage, '-n', tenant]).stderr).toMatch(/secrets "orkasecret-erin-app-db" is forbidden: User "vic" cannot get resource "secrets"/);
      expect(kubectl(cp, ['--as', 'vic', 'get', 'secrets', '-n', tenant]).stderr).toMatch(/User "vic" cannot list resource "secrets"/);
      // ... nor resolves: a resolve needs a pod-bound token of a ServiceAccount of the tenant, or a
      // way into a pod that holds one (its sidecar). vic may do none of it; edit (the control) may.
      const tokenPath = `/api/v1/namespaces/${tenant}/serviceaccounts/default/token`;
      const tokenBody = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['orka-secrets'], expirationSeconds: 600 } });
      expect(kubectl(cp, ['--as', 'vic', 'create', '--raw', tokenPath, '-f', '-'], tokenBody).stderr).toMatch(/forbidden/i);
      expect(kubectl(cp, ['create', '--raw', tokenPath, '-f', '-'], tokenBody).stdout).toContain('"token"');
      const canIAs = (user: string, verb: string, resource: string, subresource?: string) =>
        kubectl(cp, ['auth', 'can-i', verb, resource, '-n', tenant, '--as', user, ...(subresource ? ['--subresource', subresource] : [])]).stdout.trim();
      const ways: Array<[verb: string, resource: string, subresource?: string]> = [
        ['create', 'pods'],
        ['create', 'pods', 'exec'],
        ['create', 'pods', 'attach'],
        ['create', 'pods', 'portforward'],
        ['impersonate', 'serviceaccounts'],
        ['get', 'secrets'],
        ['list', 'secrets'],
      ];
      expect(ways.map((w) => `${w.join(' ')}: ${canIAs('vic', ...w)}`)).toEqual(ways.map((w) => `${w.join(' ')}: no`));
      expect(ways.map((w) => `${w.join(' ')}: ${canIAs('erin', ...w)}`)).toEqual(ways.map((w) => `${w.join(' ')}: yes`));
      expect(canIAs('vic', 'create', 'serviceaccounts', 'token')).toBe('no');
      expect(kubectl(cp, ['--as', 'vic', 'create', '-f', '-'], osecManifest(tenant, 'vic-db', fromSecret('app-db'))).stderr).toMatch(/forbidden/);
      const olga = kubectl(cp, ['--as', 'olga', 'create', '-f', '-'], osecManifest(tenant, 'olga-db', fromSecret('app-db')));
      expect(olga.stderr).toMatch(/olga may not get Secret app-db/);
      expect(kubectl(cp, ['--as', 'olga', 'create', '-f', '-'], osecManifest(tenant, 'olga-described', { description: 'no value yet' })).stderr).toBe('');
    } finally {
      await aggregation.stop();
    }
  });
});

describe('data keys follow their namespace', () => {
  const dataKey = async (namespace: string) => {
    try {
      return await core.readNamespacedSecret({ name: `orka-dk-${namespace}`, namespace: opNamespace });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  /** What a pod of the recycled namespace gets for API_KEY, twice (the second from the resolver's memo). */
  const resolvedTwice = async () => {
    const once = await resolveAsPod(kc, operator, opNamespace, recycled, ['API_KEY']);
    expect(await resolveAsPod(kc, operator, opNamespace, recycled, ['API_KEY'])).toEqual(once);
    return once;
  };
  const make = async (uidNote: string) => {
    await core.createNamespace({ body: { metadata: { name: recycled, labels: { [TENANT_LABEL]: 'recycled' } } } });
    await createServiceAccount(kc, recycled, 'runner');
    const value = canary(uidNote);
    const sealedValue = await sealWithPublishedCert(kc, opNamespace, recycled, 'API_KEY', value);
    await custom.createNamespacedCustomObject({ ...osecCoords(recycled), body: JSON.parse(osecManifest(recycled, 'api-key', { sealedValue })) as object });
    await waitForReady(kc, recycled, 'api-key', 'Stored');
    const ns = await core.readNamespace({ name: recycled });
    const key = await dataKey(recycled);
    expect(key?.metadata?.annotations?.['orka.io/namespace-uid']).toBe(ns.metadata?.uid);
    // Served, and kept in the operator's memo: a namespace made again must not get it.
    expect(await resolvedTwice()).toMatchObject({ values: { API_KEY: value }, missing: [] });
    return key;
  };

  it('a deleted namespace takes its data key along; made again, it gets a new one', async () => {
    const first = await make('first');
    // Its second resolve came from the memo: what follows runs with plaintext memoised.
    expect(await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text()).toMatch(/^orka_operator_resolve_memo_lookups_total\{result="hit"\} [1-9]/m);
    // The namespace controller finishes the deletion (no controller-manager runs here otherwise).
    await deleteNamespace(cp, kc, recycled, async () => {
      await eventually(async () => ((await dataKey(recycled)) === undefined ? true : undefined), 60_000, 250);
    });
    const second = await make('second');
    expect(second?.metadata?.annotations?.['orka.io/data-key-id']).not.toBe(first?.metadata?.annotations?.['orka.io/data-key-id']);
  });

  it('never uses a data key made for an earlier namespace of the same name', async () => {
    // A key that outlived its namespace (made while no operator ran): same name, another UID.
    const current = await dataKey(recycled);
    const stale = { ...current?.metadata?.annotations, 'orka.io/namespace-uid': '00000000-0000-0000-0000-000000000000', 'orka.io/data-key-id': 'dk-stale' };
    await core.replaceNamespacedSecret({ name: `orka-dk-${recycled}`, namespace: opNamespace, body: { ...current, metadata: { ...current?.metadata, annotations: stale } } });
    // Without a data key of this namespace, its value is missing: memoised plaintext or not.
    await eventually(async () => ((await resolveAsPod(kc, operator, opNamespace, recycled, ['API_KEY'])).missing?.includes('API_KEY') ? true : undefined), 30_000, 250);
    // The resolver-facing read (no create) refuses it; the next write replaces it.
    const third = canary('third');
    await custom.patchNamespacedCustomObject({ ...osecCoords(recycled), name: 'api-key', body: { spec: { sealedValue: await sealWithPublishedCert(kc, opNamespace, recycled, 'API_KEY', third) } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await waitForReady(kc, recycled, 'api-key', 'Stored', (o) => (o.status?.version ?? 0) >= 2);
    expect(await resolvedTwice()).toMatchObject({ values: { API_KEY: third }, missing: [] });
    const replaced = await dataKey(recycled);
    expect(replaced?.metadata?.annotations?.['orka.io/data-key-id']).not.toBe('dk-stale');
    expect(replaced?.metadata?.annotations?.['orka.io/namespace-uid']).toBe((await core.readNamespace({ name: recycled })).metadata?.uid);
  });
});

describe('leak scan', () => {
  it('finds no planted value in the operator log, OrkaSecrets, Events or etcd, in any encoded form', async () => {
    expect(planted.all.length).toBeGreaterThanOrEqual(3);
    expect(sources.all.length).toBeGreaterThanOrEqual(7);
    const everyValue = [...planted.all, ...sources.all];
    // Control canaries, planted where each search must find them: a description (in the
    // OrkaSecrets and, JSON-escaped, in etcd), an Event's message, a log line.
    const control = canaries('CONTROL').make('description');
    await custom.createNamespacedCustomObject({ ...osecCoords(nohook), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'leak-control' }, spec: { description: control } } });
    await core.createNamespacedEvent({
      namespace: nohook,
      body: { metadata: { name: uniqueName('leak-control') }, involvedObject: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', namespace: nohook, name: 'leak-control' }, reason: 'Control', message: control, type: 'Normal' },
    });

    // The log of the one operator process this file started (no sidecar runs here).
    const logs = operator.logs.join('\n');
    expect(logs).toContain('"msg":"value stored"');
    expect(findLeaks(`${logs}\n${JSON.stringify({ msg: control })}`, [control])).toHaveLength(1);
    expect(findLeaks(logs, everyValue), 'in the operator log').toEqual([]);

    // The OrkaSecrets (spec and status) and the Events of every namespace involved.
    const namespaces = [opNamespace, tenant, nohook, recycled];
    const osecs = JSON.stringify(await Promise.all(namespaces.map((namespace) => custom.listNamespacedCustomObject(osecCoords(namespace)))));
    expect(osecs).toContain('"reason":"SourceRefused"');
    expect(findLeaks(osecs, [control])).toHaveLength(1);
    expect(findLeaks(osecs, everyValue), 'in the OrkaSecrets').toEqual([]);
    const events = JSON.stringify(await Promise.all(namespaces.map(async (namespace) => (await core.listNamespacedEvent({ namespace })).items)));
    expect(events).toContain('"reason":"InvalidSource"');
    expect(findLeaks(events, [control])).toHaveLength(1);
    expect(findLeaks(events, everyValue), 'in the Events').toEqual([]);

    // etcd, everything under /registry. The source values are there, as they are, in the Secrets
    // this file made (found: the search sees inside Secrets too); they are left out of the search,
    // which would find them there whatever the operator did. The sealed values must be nowhere:
    // the operator keeps them only encrypted.
    const etcd = etcdText(cp.etcdUrl);
    expect(findLeaks(etcd, [control])).toHaveLength(1);
    expect(findLeaks(etcd, sources.all.filter((v) => v.includes('-db-')))).toHaveLength(3);
    expect(findLeaks(etcd, planted.all), 'in etcd').toEqual([]);
  });
});
