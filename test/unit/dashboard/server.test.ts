/**
 * The dashboard's HTTP app with a hand-written fake cluster: the guards (CSP, Host, Origin,
 * CSRF, one-time sign-in, cookie name and flags, a doubled cookie, expiry, sign-out, sign-in
 * rate limits), who is signed in, and the error answers.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrkaError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import type { CreateRequest, SecretRow } from '../../../src/dashboard/api.js';
import type { ClusterAccess } from '../../../src/dashboard/cluster.js';
import { SignInLimiter } from '../../../src/dashboard/ratelimit.js';
import { createDashboardApp } from '../../../src/dashboard/server.js';
import { Sessions } from '../../../src/dashboard/sessions.js';

/** The local form's cookie: the base name and this process's part. */
const COOKIE = 'orka_dashboard_session_a1b2c3';

const row = (name: string): SecretRow => ({ name, description: '', created: '2026-01-01T00:00:00Z', reference: `{{secrets.${name}}}`, status: { tone: 'ok', label: 'Ready', ready: 'True', reason: 'Stored', settled: true }, version: 1 });

/** A fake cluster: remembers what it was asked, refuses deletes as RBAC would. */
const fake = {
  created: [] as CreateRequest[],
  server: 'https://cluster.example:6443',
  /** Times the cluster was asked who the person is. */
  reviews: 0,
  async whoAmI() {
    this.reviews++;
    return 'system:serviceaccount:people:alice';
  },
  /** The namespaces each tenants call was asked for by name. */
  asked: [] as (string[] | undefined)[],
  async tenants(asked?: string[]) {
    this.asked.push(asked);
    return { tenants: [{ namespace: 'acme', tenant: 'acme' }] };
  },
  /** The page arguments each list call got. */
  pages: [] as ({ limit?: number; continueToken?: string } | undefined)[],
  async list(namespace: string, page?: { limit?: number; continueToken?: string }) {
    this.pages.push(page);
    return { namespace, secrets: [row('API_KEY')], ...(page?.continueToken ? {} : { continue: 'next-page' }) };
  },
  detail: async (_ns: string, name: string) => ({ ...row(name), source: { kind: 'sealed' as const }, conditions: [], events: [] }),
  sealingKey: async () => ({ keyId: 'k', spki: 'AA==', tenant: 't' }),
  async create(_ns: string, req: CreateRequest) {
    this.created.push(req);
    if (req.name === 'TAKEN') throw new OrkaError('ALREADY_EXISTS', 'a secret named TAKEN already exists in namespace acme', { field: 'name' });
    return row(req.name);
  },
  update: async (_ns: string, name: string) => row(name),
  remove: async (_ns: string, name: string) => {
    throw new OrkaError('FORBIDDEN', `Kubernetes RBAC does not allow you to delete secret ${name} in namespace acme`, { verb: 'delete' });
  },
} satisfies ClusterAccess & { created: CreateRequest[]; reviews: number; pages: unknown[]; asked: unknown[] };

let now = new Date('2026-11-27T12:00:00Z');
const sessions = new Sessions<null>({ sessionTtlMs: 3_600_000, loginTtlMs: 60_000, now: () => now });
let server: Server;
let port: number;
let signOuts = 0;
const assets = mkdtempSync(join(tmpdir(), 'orka-dashboard-assets-'));
for (const f of ['index.html', 'app.js', 'app.css']) writeFileSync(join(assets, f), `/* ${f} */`);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string; verb?: string } } & Record<string, unknown>;
  text: string;
}

function call(path: string, options: { method?: string; headers?: Record<string, string>; body?: string; port?: number } = {}): Promise<Answer> {
  const to = options.port ?? port;
  return new Promise((resolve, reject) => {
    const headers = { host: `127.0.0.1:${to}`, ...options.headers };
    const req = request({ host: '127.0.0.1', port: to, path, method: options.method ?? 'GET', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let body = {};
        try {
          body = JSON.parse(text || '{}');
        } catch {
          // HTML or CSS
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as never, text });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Signs in through a one-time link; returns the cookie header and the CSRF token. */
async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const res = await call(`/login?token=${sessions.issueLoginToken(null)}`);
  const cookie = String(res.headers['set-cookie']?.[0]).split(';')[0] as string;
  const session = await call('/api/session', { headers: { cookie } });
  return { cookie, csrf: session.body.csrfToken as string };
}

const origin = () => `http://127.0.0.1:${port}`;
const change = (auth: { cookie: string; csrf: string }, extra: Record<string, string> = {}) => ({
  cookie: auth.cookie,
  origin: origin(),
  'x-csrf-token': auth.csrf,
  'content-type': 'application/json',
  ...extra,
});

beforeAll(async () => {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  server.on(
    'request',
    createDashboardApp({
      sessions,
      clusterFor: () => fake,
      assetsDir: assets,
      hosts: [`127.0.0.1:${port}`, `localhost:${port}`],
      origins: [`http://127.0.0.1:${port}`, `http://localhost:${port}`],
      secureCookie: false,
      cookieInstance: 'a1b2c3',
      // These tests sign in often; the limits have their own test below.
      signInLimiter: new SignInLimiter({ perClient: { burst: 1000, perMinute: 1000 }, global: { burst: 1000, perMinute: 1000 } }),
      log: createLogger({ name: 't', level: 'silent' }),
      onSignOut: () => signOuts++,
    }),
  );
});

afterAll(() => {
  server.close();
});

describe('dashboard server', () => {
  it('serves the page with a strict CSP: only its own script and style, no inline code, no framing', async () => {
    const res = await call('/');
    expect(res.status).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe|https?:|\*/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it.each([['evil.example'], ['evil.example:80'], ['127.0.0.1:1']])('refuses the Host %s (DNS rebinding)', async (host) => {
    const res = await call('/api/session', { headers: { host } });
    expect(res.status).toBe(403);
    expect(res.body.error?.message).toMatch(/answers only to 127\.0\.0\.1:\d+ or localhost:\d+/);
  });

  it('answers probes on /healthz whatever the Host, and nothing else', async () => {
    const res = await call('/healthz', { headers: { host: '10.0.0.7:8080' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect((await call('/', { headers: { host: '10.0.0.7:8080' } })).status).toBe(403);
  });

  it('answers 401 with a message when signed out', async () => {
    const res = await call('/api/tenants');
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/signed out/) });
  });

  it('signs in once per link, with an HttpOnly SameSite=Strict cookie that expires', async () => {
    const token = sessions.issueLoginToken(null);
    const first = await call(`/login?token=${token}`);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const cookie = String(first.headers['set-cookie']?.[0]);
    // Named after this process: cookies ignore the port, so two local dashboards must not share a name.
    expect(cookie).toMatch(new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{43};`));
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Max-Age=3600');
    const again = await call(`/login?token=${token}`);
    expect(again.headers.location).toBe('/?signin=refused');
    expect(again.headers['set-cookie']).toBeUndefined();
  });

  it('refuses an expired sign-in link and ends an expired session', async () => {
    const token = sessions.issueLoginToken(null);
    const auth = await signIn();
    now = new Date(now.getTime() + 61_000);
    expect((await call(`/login?token=${token}`)).headers.location).toBe('/?signin=refused');
    expect((await call('/api/tenants', { headers: { cookie: auth.cookie } })).status).toBe(200);
    now = new Date(now.getTime() + 3_600_000);
    expect((await call('/api/tenants', { headers: { cookie: auth.cookie } })).status).toBe(401);
  });

  it('accepts a change only with this origin, the session and its CSRF token', async () => {
    const auth = await signIn();
    const body = JSON.stringify({ name: 'API_KEY', sealedValue: 'UwE=' });
    const post = (headers: Record<string, string>) => call('/api/tenants/acme/secrets', { method: 'POST', headers, body });
    const { origin: _o, ...noOrigin } = change(auth);
    const { 'x-csrf-token': _c, ...noCsrf } = change(auth);
    expect((await post(noOrigin)).status).toBe(403);
    expect((await post(change(auth, { origin: 'http://evil.example' }))).status).toBe(403);
    expect((await post(change(auth, { 'sec-fetch-site': 'cross-site' }))).status).toBe(403);
    expect((await post(noCsrf)).body.error?.message).toMatch(/CSRF/);
    expect((await post(change(auth, { 'x-csrf-token': 'x'.repeat(43) }))).status).toBe(403);
    const before = fake.created.length;
    expect((await post(change(auth))).status).toBe(201);
    expect(fake.created.length).toBe(before + 1);
  });

  it('passes refusals through with their code, message and verb', async () => {
    const auth = await signIn();
    const taken = await call('/api/tenants/acme/secrets', { method: 'POST', headers: change(auth), body: JSON.stringify({ name: 'TAKEN', sealedValue: 'UwE=' }) });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toMatchObject({ code: 'ALREADY_EXISTS', field: 'name' });
    const refused = await call('/api/tenants/acme/secrets/API_KEY', { method: 'DELETE', headers: change(auth) });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', verb: 'delete', message: expect.stringMatching(/RBAC does not allow you to delete/) });
  });

  it('passes limit and continue through to the cluster, and refuses a limit out of range', async () => {
    const auth = await signIn();
    fake.pages.length = 0;
    const first = await call('/api/tenants/acme/secrets?limit=250', { headers: { cookie: auth.cookie } });
    expect(first.body).toMatchObject({ namespace: 'acme', continue: 'next-page' });
    await call('/api/tenants/acme/secrets?limit=1000&continue=next-page', { headers: { cookie: auth.cookie } });
    await call('/api/tenants/acme/secrets', { headers: { cookie: auth.cookie } });
    expect(fake.pages).toEqual([{ limit: 250 }, { limit: 1000, continueToken: 'next-page' }, { limit: 1000 }]);
    for (const bad of ['0', '1001', 'x', '2.5']) {
      const res = await call(`/api/tenants/acme/secrets?limit=${bad}`, { headers: { cookie: auth.cookie } });
      expect(res.body.error, bad).toMatchObject({ code: 'INVALID_REQUEST', message: 'limit must be a whole number from 1 to 1000' });
    }
    expect(fake.pages).toHaveLength(3);
    const detail = await call('/api/tenants/acme/secrets/API_KEY', { headers: { cookie: auth.cookie } });
    expect(detail.body).toMatchObject({ name: 'API_KEY', source: { kind: 'sealed' } });
  });

  it('passes a namespace named on the page to the tenant list, and refuses one that is no DNS label', async () => {
    const auth = await signIn();
    fake.asked.length = 0;
    await call('/api/tenants', { headers: { cookie: auth.cookie } });
    await call('/api/tenants?namespace=acme-prod', { headers: { cookie: auth.cookie } });
    expect(fake.asked).toEqual([[], ['acme-prod']]);
    for (const bad of ['Acme', 'a..b', '-acme', 'x'.repeat(64)]) {
      const res = await call(`/api/tenants?namespace=${bad}`, { headers: { cookie: auth.cookie } });
      expect(res.status, bad).toBe(400);
      expect(res.body.error, bad).toMatchObject({ code: 'INVALID_REQUEST', field: 'namespace', message: expect.stringMatching(/is not a namespace name: lower-case letters, digits and '-', at most 63 characters/) });
    }
    const many = await call('/api/tenants?namespace=a&namespace=b', { headers: { cookie: auth.cookie } });
    expect(many.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'ask for one namespace at a time' });
    expect(fake.asked).toHaveLength(2);
  });

  it('refuses a namespace that is no DNS label, and bodies that are too large or not JSON', async () => {
    const auth = await signIn();
    expect((await call('/api/tenants/Not_A..NS/secrets', { headers: { cookie: auth.cookie } })).body.error?.code).toBe('NOT_A_TENANT');
    const big = await call('/api/tenants/acme/secrets', { method: 'POST', headers: change(auth), body: JSON.stringify({ sealedValue: 'A'.repeat(300_000) }) });
    expect(big.status).toBe(413);
    const bad = await call('/api/tenants/acme/secrets', { method: 'POST', headers: change(auth), body: '{' });
    expect(bad.body.error?.code).toBe('INVALID_REQUEST');
  });

  it('signs out: the session ends and the cookie is cleared', async () => {
    const auth = await signIn();
    const res = await call('/api/session/end', { method: 'POST', headers: change(auth) });
    expect(res.status).toBe(204);
    expect(String(res.headers['set-cookie']?.[0])).toMatch(new RegExp(`^${COOKIE}=; Max-Age=0`));
    expect(signOuts).toBeGreaterThan(0);
    expect((await call('/api/session', { headers: { cookie: auth.cookie } })).status).toBe(401);
  });

  it('refuses a request that carries the session cookie twice, with a message', async () => {
    const auth = await signIn();
    const other = await signIn();
    for (const cookie of [`${auth.cookie}; ${other.cookie}`, `${auth.cookie}; ${auth.cookie}`]) {
      const res = await call('/api/tenants', { headers: { cookie } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(new RegExp(`sent 2 session cookies named ${COOKIE}.*clear this site's cookies`)) });
    }
    // Another dashboard's cookie (another name) is no concern of this one.
    expect((await call('/api/tenants', { headers: { cookie: `${auth.cookie}; orka_dashboard_session_ffffff=x` } })).status).toBe(200);
  });

  it('shows who the cluster says is signed in, asked once per session', async () => {
    const before = fake.reviews;
    const auth = await signIn(); // reads /api/session once
    const first = await call('/api/session', { headers: { cookie: auth.cookie } });
    const second = await call('/api/session', { headers: { cookie: auth.cookie } });
    expect(first.body.user).toBe('system:serviceaccount:people:alice');
    expect(second.body.user).toBe('system:serviceaccount:people:alice');
    expect(fake.reviews - before).toBe(1);
  });

  it('rate-limits sign-in links per client: 429 with Retry-After', async () => {
    let clock = 0;
    const limited = createServer(
      createDashboardApp({
        sessions,
        clusterFor: () => fake,
        assetsDir: assets,
        hosts: ['127.0.0.1:0'],
        origins: [],
        secureCookie: false,
        signInLimiter: new SignInLimiter({ perClient: { burst: 2, perMinute: 2 }, global: { burst: 100, perMinute: 100 }, now: () => clock }),
        log: createLogger({ name: 't', level: 'silent' }),
      }),
    );
    limited.listen(0, '127.0.0.1');
    await once(limited, 'listening');
    const to = (limited.address() as AddressInfo).port;
    try {
      const login = () => call(`/login?token=${sessions.issueLoginToken(null)}`, { port: to, headers: { host: '127.0.0.1:0' } });
      expect((await login()).status).toBe(303);
      expect((await login()).status).toBe(303);
      const refused = await login();
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('30');
      expect(refused.body.error).toMatchObject({ code: 'TOO_MANY_REQUESTS', message: 'too many sign-in attempts: try again in 30 s' });
      clock += 30_000;
      expect((await login()).status).toBe(303);
    } finally {
      limited.close();
    }
  });
});
