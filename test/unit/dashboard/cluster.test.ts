/**
 * The pure parts of the dashboard's cluster adapter: Kubernetes failures in words for a person,
 * OrkaSecrets as rows (never a value, not even the sealed one), and the decision of who is signed
 * in, against a stand-in apiserver of each age (the real 1.20 one: test/integration/dashboard.test.ts).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createCA } from '../../../src/core/pki.js';
import { clientCertUser, Cluster, clusterError, serviceAccountUser } from '../../../src/dashboard/cluster.js';
import { recentEvents, sourceOf, toRow } from '../../../src/dashboard/rows.js';
import type { OrkaSecret } from '../../../src/api/resource.js';

const at = { namespace: 'acme', name: 'API_KEY', server: 'https://k8s.example:6443' };

describe('clusterError', () => {
  it.each([
    [403, 'create', 'FORBIDDEN', 'Kubernetes RBAC does not allow you to create secret API_KEY in namespace acme (verb "create" on orkasecrets.orka.io)'],
    [403, 'delete', 'FORBIDDEN', 'Kubernetes RBAC does not allow you to delete secret API_KEY in namespace acme (verb "delete" on orkasecrets.orka.io)'],
    [409, 'create', 'ALREADY_EXISTS', 'a secret named API_KEY already exists in namespace acme: choose another name, or edit that one'],
    [404, 'update', 'SECRET_NOT_FOUND', 'secret API_KEY in namespace acme could not be found (deleted meanwhile?)'],
    [401, 'list', 'UNAUTHENTICATED', 'the cluster did not accept your credentials (expired or revoked?): sign in again'],
    [undefined, 'list', 'UPSTREAM_UNAVAILABLE', 'the cluster at https://k8s.example:6443 cannot be reached; check that it is up and that your kubeconfig points at it'],
  ] as const)('HTTP %s on %s is %s', (code, verb, expected, message) => {
    const err = clusterError(Object.assign(new Error('connect ECONNREFUSED'), code === undefined ? {} : { code }), { ...at, verb });
    expect(err.code).toBe(expected);
    expect(err.message).toBe(message);
    if (code === 403) expect(err.details.verb).toBe(verb);
  });

  it("quotes the apiserver's own refusal for invalid objects", () => {
    const err = clusterError({ code: 422, body: JSON.stringify({ message: 'OrkaSecret "x" is invalid: spec.description: Too long' }) }, { ...at, verb: 'create' });
    expect(err).toMatchObject({ code: 'INVALID_REQUEST', message: 'the cluster refused it: OrkaSecret "x" is invalid: spec.description: Too long' });
  });
});

describe('toRow', () => {
  const base: OrkaSecret = {
    metadata: { name: 'stripe-api-key', namespace: 'acme', generation: 2, creationTimestamp: new Date('2026-11-01T00:00:00Z') },
    spec: { description: 'Stripe', sealedValue: 'U0VBTEVE' },
    status: {
      observedGeneration: 2,
      version: 3,
      reference: '{{secrets.STRIPE_API_KEY}}',
      usage: { lastResolvedAt: '2026-11-27T10:00:00Z', resolveCount: 4 },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Stored', message: 'stored', lastTransitionTime: '' }],
    },
  };

  it('shows names, dates, status and usage, and no sealed value', () => {
    const row = toRow({ ...base, status: { ...base.status, valueUpdatedAt: '2026-11-20T00:00:00Z' } });
    expect(row).toEqual({
      name: 'STRIPE_API_KEY',
      description: 'Stripe',
      created: '2026-11-01T00:00:00.000Z',
      updated: '2026-11-20T00:00:00Z',
      reference: '{{secrets.STRIPE_API_KEY}}',
      status: { tone: 'ok', label: 'Ready', ready: 'True', reason: 'Stored', message: 'stored', settled: true },
      lastUsed: '2026-11-27T10:00:00Z',
      version: 3,
    });
    expect(JSON.stringify(row)).not.toContain('U0VBTEVE');
  });

  it('names the source without the value: sealed, a Secret key, or none', () => {
    expect(sourceOf(base)).toEqual({ kind: 'sealed' });
    expect(sourceOf({ ...base, spec: { valueFrom: { secretKeyRef: { name: 'stripe', key: 'live' } } } })).toEqual({ kind: 'valueFrom', secret: 'stripe', key: 'live' });
    expect(sourceOf({ ...base, spec: {} })).toEqual({ kind: 'none' });
  });

  it('lists the most recent events first', () => {
    const event = (reason: string, last: string) => ({ metadata: {}, involvedObject: {}, type: 'Normal', reason, message: reason, count: 2, lastTimestamp: new Date(last) });
    expect(recentEvents([event('A', '2026-11-01T00:00:00Z'), event('B', '2026-11-03T00:00:00Z'), event('C', '2026-11-02T00:00:00Z')], 2)).toEqual([
      { type: 'Normal', reason: 'B', message: 'B', count: 2, last: '2026-11-03T00:00:00.000Z' },
      { type: 'Normal', reason: 'C', message: 'C', count: 2, last: '2026-11-02T00:00:00.000Z' },
    ]);
  });
});

/** A stand-in apiserver answering the two reviews, as a cluster of a given age would. */
async function reviewsServer(args: { selfSubjectReview: boolean; tokenReviews: boolean }): Promise<{ url: string; asked: string[]; close: () => void }> {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/apis/authentication.k8s.io/v1/selfsubjectreviews' && args.selfSubjectReview) {
        return void res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', status: { userInfo: { username: 'oidc:alice@example.com' } } }));
      }
      if (req.url === '/apis/authentication.k8s.io/v1/tokenreviews' && args.tokenReviews) {
        const token = (JSON.parse(body) as { spec: { token: string } }).spec.token;
        return void res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status: token === 'alice-oidc-token' ? { authenticated: true, user: { username: 'oidc:alice@example.com' } } : { authenticated: false } }));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'the server could not find the requested resource' }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, close: () => server.close() };
}

function kubeConfig(server: string, token: string, user = 'my-kubeconfig-entry'): KubeConfig {
  const kc = new KubeConfig();
  // Plain HTTP to the stand-in: the client allows it only with skipTLSVerify.
  kc.loadFromOptions({ clusters: [{ name: 'c', server, skipTLSVerify: true }], users: [{ name: user, token }], contexts: [{ name: 'x', cluster: 'c', user }], currentContext: 'x' });
  return kc;
}

describe('who is signed in (never the kubeconfig entry name, never the token)', () => {
  it('asks a SelfSubjectReview with the person\'s own credentials where the cluster has one (1.28+)', async () => {
    const api = await reviewsServer({ selfSubjectReview: true, tokenReviews: true });
    try {
      const reviewer = kubeConfig(api.url, 'dashboard-sa-token');
      expect(await new Cluster(kubeConfig(api.url, 'alice-oidc-token'), { operatorNamespace: 'o', fallbackNamespaces: [], tokenReviewer: reviewer }).whoAmI()).toBe('oidc:alice@example.com');
      expect(api.asked).toEqual(['POST /apis/authentication.k8s.io/v1/selfsubjectreviews Bearer alice-oidc-token']);
    } finally {
      api.close();
    }
  });

  it('else has the reviewer review the token (a 1.20 cluster: no SelfSubjectReview)', async () => {
    const api = await reviewsServer({ selfSubjectReview: false, tokenReviews: true });
    try {
      const reviewer = kubeConfig(api.url, 'dashboard-sa-token');
      expect(await new Cluster(kubeConfig(api.url, 'alice-oidc-token'), { operatorNamespace: 'o', fallbackNamespaces: [], tokenReviewer: reviewer }).whoAmI()).toBe('oidc:alice@example.com');
      expect(api.asked[1]).toBe('POST /apis/authentication.k8s.io/v1/tokenreviews Bearer dashboard-sa-token');
      // A token the cluster does not accept names nobody.
      expect(await new Cluster(kubeConfig(api.url, 'forged'), { operatorNamespace: 'o', fallbackNamespaces: [], tokenReviewer: reviewer }).whoAmI()).toBeUndefined();
    } finally {
      api.close();
    }
  });

  it('else reads what the credential names: a ServiceAccount token\'s subject', async () => {
    const api = await reviewsServer({ selfSubjectReview: false, tokenReviews: false });
    const jwt = (claims: object) => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
    try {
      const sa = jwt({ iss: 'https://kubernetes.default.svc', sub: 'system:serviceaccount:people:alice' });
      expect(await new Cluster(kubeConfig(api.url, sa), { operatorNamespace: 'o', fallbackNamespaces: [] }).whoAmI()).toBe('system:serviceaccount:people:alice');
      expect(await new Cluster(kubeConfig(api.url, jwt({ sub: 'alice' })), { operatorNamespace: 'o', fallbackNamespaces: [] }).whoAmI()).toBeUndefined();
      expect(await new Cluster(kubeConfig(api.url, 'opaque-static-token'), { operatorNamespace: 'o', fallbackNamespaces: [] }).whoAmI()).toBeUndefined();
    } finally {
      api.close();
    }
  });

  it('reads the user name of a client certificate from its common name', () => {
    const ca = createCA({ commonName: 'system:admin', now: new Date(), validDays: 1 });
    expect(clientCertUser({ certData: Buffer.from(ca.certPem).toString('base64') })).toBe('system:admin');
    expect(clientCertUser({})).toBeUndefined();
    expect(clientCertUser({ certData: 'bm90IGEgY2VydA==' })).toBeUndefined();
    expect(serviceAccountUser(undefined)).toBeUndefined();
  });
});
