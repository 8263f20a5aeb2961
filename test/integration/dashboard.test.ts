/**
 * `orka-secrets dashboard` as a real process against the real apiserver, over HTTP (no browser:
 * the page itself is test/browser/dashboard.test.ts): the one-time link reaches the browser in a
 * private page file, never on a command line; each process has its own cookie name; a doubled
 * cookie is refused; the page is told who the cluster says is signed in, not the kubeconfig's
 * entry name; a person who may not list namespaces is offered the tenant they name.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CustomObjectsApi, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Cluster, personKubeConfig } from '../../src/dashboard/cluster.js';
import { startDashboard, writeTokenKubeconfig, type DashboardProcess } from '../env/dashboard.js';
import { adminKubeConfig, createNamespace, createServiceAccount, requestToken } from '../env/kube.js';
import { eventually } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let dir: string;
let opNamespace: string;
const dashboards: DashboardProcess[] = [];

/** Signs in with a one-time link; the session cookie (name=value) it set. */
async function signIn(link: string): Promise<string> {
  const res = await fetch(link, { redirect: 'manual' });
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe('/');
  return (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
}

const session = (d: DashboardProcess, cookie: string) => fetch(new URL('/api/session', d.url), { headers: { cookie } });

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  dir = mkdtempSync(join(tmpdir(), 'orka-dashboard-test-'));
  opNamespace = await createNamespace(kc, { prefix: 'orka-dash' });
});

afterAll(async () => {
  await Promise.all(dashboards.map((d) => d.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('orka-secrets dashboard', () => {
  it('opens a private sign-in page in the browser: its path on the command line, never the link', async () => {
    // A stand-in xdg-open that records the command line it was given (what `ps` would show).
    const openerDir = join(dir, 'bin');
    const argvFile = join(dir, 'opener-argv');
    mkdirSync(openerDir);
    writeFileSync(join(openerDir, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${argvFile}\n`);
    chmodSync(join(openerDir, 'xdg-open'), 0o755);
    // The kubeconfig's entry is named otherwise than the cluster's user: the page must show the cluster's.
    const kubeconfig = writeTokenKubeconfig(join(dir, 'admin.kubeconfig'), { server: cp.server, caPem: cp.caPem, token: cp.adminToken, user: 'my-laptop-entry' });
    const d = await startDashboard({ kubeconfigPath: kubeconfig, operatorNamespace: opNamespace, openerDir });
    dashboards.push(d);

    const argv = await eventually(() => (existsSync(argvFile) ? readFileSync(argvFile, 'utf8') : undefined), 20_000);
    expect(argv).toBe(`${d.signInFile}\n`);
    const token = new URL(d.signInUrl).searchParams.get('token') as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(argv).not.toContain(token);
    expect(d.logs.join('\n')).not.toContain(token);
    expect(d.logs).toContain(`Orka Secrets dashboard: ${d.url}`);
    expect(statSync(d.signInFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(d.signInFile)).mode & 0o777).toBe(0o700);
    expect(readFileSync(d.signInFile, 'utf8')).toContain(`<meta http-equiv="refresh" content="0;url=${d.signInUrl}">`);

    const cookie = await signIn(d.signInUrl);
    expect(cookie).toMatch(/^orka_dashboard_session_[0-9a-f]{12}=[A-Za-z0-9_-]{43}$/);
    const res = await session(d, cookie);
    expect(res.status).toBe(200);
    // The control plane's token file names this token's user "admin"; a TokenReview says so.
    expect(((await res.json()) as { user?: string }).user).toBe('admin');
    // The link worked once.
    expect((await fetch(d.signInUrl, { redirect: 'manual' })).headers.get('location')).toBe('/?signin=refused');
  });

  it('shows a ServiceAccount person by the name the cluster gives it, though it may not review tokens', async () => {
    const people = await createNamespace(kc, { prefix: 'dash-people' });
    await createServiceAccount(kc, people, 'alice');
    const token = await requestToken(kc, { namespace: people, serviceAccount: 'alice', audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
    const d = await startDashboard({ kubeconfigPath: writeTokenKubeconfig(join(dir, 'alice.kubeconfig'), { server: cp.server, caPem: cp.caPem, token, user: 'alice' }), operatorNamespace: opNamespace });
    dashboards.push(d);
    const body = (await (await session(d, await signIn(d.signInUrl))).json()) as { user?: string };
    expect(body.user).toBe(`system:serviceaccount:${people}:alice`);
    expect(JSON.stringify(body)).not.toContain(token);
  });

  it('offers a tenant editor who may not list namespaces the tenant they name, and only one they may use', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const acme = await createNamespace(kc, { prefix: 'dash-acme', tenant: 'acme' });
    const globex = await createNamespace(kc, { prefix: 'dash-globex', tenant: 'globex' });
    const plain = await createNamespace(kc, { prefix: 'dash-plain' });
    await createServiceAccount(kc, acme, 'erin');
    const subject = [{ kind: 'ServiceAccount', name: 'erin', namespace: acme }];
    // What a tenant editor holds: the OrkaSecrets of their namespaces (and the namespace object), nothing cluster-wide.
    for (const ns of [acme, plain]) {
      await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'secrets-editor' }, rules: [{ apiGroups: ['orka.io'], resources: ['orkasecrets'], verbs: ['get', 'list', 'create', 'update', 'delete'] }, { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] } });
      await rbac.createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name: 'erin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets-editor' }, subjects: subject } });
    }
    const token = await requestToken(kc, { namespace: acme, serviceAccount: 'erin', audience: 'https://kubernetes.default.svc', expirationSeconds: 3600 });
    const erin = new Cluster(personKubeConfig(kc, token), { operatorNamespace: opNamespace, fallbackNamespaces: [] });
    // RBAC's authorizer learns of new bindings through a watch.
    await eventually(async () => ((await erin.tenants([acme])).tenants.length > 0 ? true : undefined), 30_000);

    const none = await erin.tenants();
    expect(none).toMatchObject({ tenants: [], askNamespace: true });
    expect(none.note).toMatch(/does not allow you to list namespaces: open your tenant's namespace by name/);
    expect(await erin.tenants([acme])).toEqual({ tenants: [{ namespace: acme, tenant: 'acme' }], note: expect.any(String) as string, askNamespace: true });
    // Named but not usable: another tenant (RBAC), a namespace that is not a tenant, one that does not exist, the operator's.
    const refused = await erin.tenants([globex, plain, 'no-such-namespace', opNamespace]);
    expect(refused.tenants).toEqual([]);
    expect(refused.note).toContain(`You may not list secrets in ${globex}, ${plain}, no-such-namespace, ${opNamespace}, or it is not a tenant.`);
    // The admin may list namespaces: the list is the cluster's, whatever is named.
    const admin = await new Cluster(kc, { operatorNamespace: opNamespace, fallbackNamespaces: [] }).tenants([plain]);
    expect(admin.askNamespace).toBeUndefined();
    expect(admin.tenants.map((t) => t.namespace)).toEqual(expect.arrayContaining([acme, globex]));
    expect(admin.tenants.map((t) => t.namespace)).not.toContain(plain);
  });

  it('lists a tenant page by page with the apiserver\'s own continue token, and says so when a token is no good', async () => {
    const ns = await createNamespace(kc, { prefix: 'dash-pages', tenant: 'pages' });
    const custom = kc.makeApiClient(CustomObjectsApi);
    for (const name of ['alpha', 'bravo', 'charlie']) {
      await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace: ns, body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec: { sealedValue: 'AA==' } } });
    }
    const cluster = new Cluster(kc, { operatorNamespace: opNamespace, fallbackNamespaces: [] });
    const first = await cluster.list(ns, { limit: 2 });
    expect(first.secrets.map((r) => r.name)).toEqual(['ALPHA', 'BRAVO']);
    expect(first.continue).toEqual(expect.any(String));
    expect(first.remaining).toBe(1);
    const second = await cluster.list(ns, { limit: 2, continueToken: first.continue as string });
    expect(second.secrets.map((r) => r.name)).toEqual(['CHARLIE']);
    expect(second.continue).toBeUndefined();
    await expect(cluster.list(ns, { limit: 2, continueToken: 'not-a-token' })).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/continue/) });
  });

  it('gives two local dashboards their own cookies, and refuses a request carrying one twice', async () => {
    const [a, b] = await Promise.all([1, 2].map(() => startDashboard({ kubeconfigPath: cp.kubeconfigPath, operatorNamespace: opNamespace })));
    dashboards.push(a as DashboardProcess, b as DashboardProcess);
    const ca = await signIn((a as DashboardProcess).signInUrl);
    const cb = await signIn((b as DashboardProcess).signInUrl);
    expect(ca.split('=')[0]).not.toBe(cb.split('=')[0]);
    // One browser sends both cookies to both (cookies ignore the port): each dashboard picks its own.
    expect((await session(a as DashboardProcess, `${ca}; ${cb}`)).status).toBe(200);
    expect((await session(b as DashboardProcess, `${ca}; ${cb}`)).status).toBe(200);
    expect((await session(b as DashboardProcess, ca)).status).toBe(401);
    const twice = await session(a as DashboardProcess, `${ca}; ${ca.split('=')[0]}=planted`);
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as { error: { message: string } }).error.message).toMatch(/sent 2 session cookies named orka_dashboard_session_[0-9a-f]{12}/);
  });

  it('removes its sign-in pages when it stops', async () => {
    const d = dashboards[0] as DashboardProcess;
    expect(await d.stop()).toBe(0);
    expect(existsSync(dirname(d.signInFile))).toBe(false);
  });
});
