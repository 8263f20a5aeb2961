/**
 * The in-cluster sign-in of the dashboard app, with a fake cluster: a pasted Kubernetes token
 * checked by the cluster opens a session; an auth proxy's Authorization header acts per request;
 * each person's calls carry their own token.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrkaError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import type { ClusterAccess } from '../../../src/dashboard/cluster.js';
import { SignInLimiter } from '../../../src/dashboard/ratelimit.js';
import { createDashboardApp, SESSION_COOKIE } from '../../../src/dashboard/server.js';
import { Sessions } from '../../../src/dashboard/sessions.js';

const GOOD = 'good-token-of-alice';
/** Tokens each fake cluster call was made with. */
const seen: string[] = [];
const fakeFor = (token: string): ClusterAccess => ({
  server: 'https://k8s',
  whoAmI: async () => (token === GOOD ? 'system:serviceaccount:people:alice' : undefined),
  tenants: async () => {
    seen.push(token);
    return { tenants: [{ namespace: 'acme' }] };
  },
  list: async () => ({ namespace: 'acme', secrets: [] }),
  detail: async () => {
    throw new Error('unused');
  },
  sealingKey: async () => ({ keyId: 'k', spki: '', tenant: 't' }),
  create: async () => {
    throw new Error('unused');
  },
  update: async () => {
    throw new Error('unused');
  },
  remove: async () => undefined,
});
let verified = 0;
const verifyToken = async (token: string) => {
  verified++;
  if (token !== GOOD) throw new OrkaError('UNAUTHENTICATED', 'the cluster did not accept this token');
  return token;
};

const servers: Server[] = [];
async function serve(mode: 'token' | 'proxy', options: { sessions?: Sessions<string>; signInLimiter?: SignInLimiter } = {}): Promise<number> {
  const assets = mkdtempSync(join(tmpdir(), 'orka-dashboard-assets-'));
  for (const f of ['index.html', 'app.js', 'app.css']) writeFileSync(join(assets, f), f);
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  server.on(
    'request',
    createDashboardApp<string>({
      sessions: options.sessions ?? new Sessions<string>({ sessionTtlMs: 3_600_000, loginTtlMs: 60_000 }),
      clusterFor: fakeFor,
      assetsDir: assets,
      hosts: ['secrets.example.com'],
      origins: ['https://secrets.example.com'],
      secureCookie: true,
      log: createLogger({ name: 't', level: 'silent' }),
      ...(options.signInLimiter ? { signInLimiter: options.signInLimiter } : {}),
      bearer: { mode, verifyToken },
    }),
  );
  return (server.address() as AddressInfo).port;
}

function call(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown> & { error?: { code: string; message: string; signIn?: string } } }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: 'secrets.example.com', ...options.headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text || '{}') as never }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

afterAll(() => {
  for (const s of servers) s.close();
});

describe('sign-in with a Kubernetes token', () => {
  let port: number;
  beforeAll(async () => {
    port = await serve('token');
  });
  const start = (token: string, origin = 'https://secrets.example.com') =>
    call(port, '/api/session/start', { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ token }) });

  it('says how to sign in when signed out', async () => {
    const res = await call(port, '/api/session');
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'UNAUTHENTICATED', signIn: 'token', message: expect.stringMatching(/sign in with a Kubernetes token/) });
  });

  it('refuses a token the cluster refuses, and a sign-in from another origin', async () => {
    expect((await start('forged-token-xyz')).body.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await start(GOOD, 'https://evil.example')).status).toBe(403);
    expect((await start('')).body.error).toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('opens a Secure __Host- session whose calls carry that token, and shows who the cluster says it is', async () => {
    const res = await start(GOOD);
    expect(res.status).toBe(204);
    const cookie = String(res.headers['set-cookie']?.[0]);
    // __Host-: the browser keeps it only with Secure, Path=/ and no Domain, so no other host of the site can plant or shadow it.
    expect(cookie).toMatch(new RegExp(`^__Host-${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=3600; HttpOnly; SameSite=Strict; Path=/; Secure$`));
    expect((await call(port, '/api/session', { headers: { cookie: cookie.split(';')[0] as string } })).body.user).toBe('system:serviceaccount:people:alice');
    const before = seen.length;
    const tenants = await call(port, '/api/tenants', { headers: { cookie: cookie.split(';')[0] as string } });
    expect(tenants.status).toBe(200);
    expect(seen.slice(before)).toEqual([GOOD]);
  });
});

describe('bounds on token sign-ins', () => {
  it("ends a token's oldest session when it signs in once more than its maximum", async () => {
    const port = await serve('token', { sessions: new Sessions<string>({ sessionTtlMs: 3_600_000, loginTtlMs: 60_000, maxPerCredential: 2 }) });
    const cookies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(port, '/api/session/start', { method: 'POST', headers: { origin: 'https://secrets.example.com', 'content-type': 'application/json' }, body: JSON.stringify({ token: GOOD }) });
      cookies.push(String(res.headers['set-cookie']?.[0]).split(';')[0] as string);
    }
    const status = await Promise.all(cookies.map(async (cookie) => (await call(port, '/api/tenants', { headers: { cookie } })).status));
    expect(status).toEqual([401, 200, 200]);
  });

  it('rate-limits sign-ins per client before asking the cluster: 429 with Retry-After', async () => {
    const port = await serve('token', { signInLimiter: new SignInLimiter({ perClient: { burst: 2, perMinute: 1 }, global: { burst: 100, perMinute: 100 } }) });
    const start = () => call(port, '/api/session/start', { method: 'POST', headers: { origin: 'https://secrets.example.com', 'content-type': 'application/json' }, body: JSON.stringify({ token: 'guess-number-one' }) });
    expect((await start()).status).toBe(401);
    expect((await start()).status).toBe(401);
    const before = verified;
    const refused = await start();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(refused.body.error).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    expect(verified).toBe(before);
  });
});

describe('behind an auth proxy', () => {
  let port: number;
  beforeAll(async () => {
    port = await serve('proxy');
  });

  it("acts with the proxy's bearer token on every request, CSRF token included", async () => {
    const auth = { authorization: `Bearer ${GOOD}` };
    const session = await call(port, '/api/session', { headers: auth });
    expect(session.status).toBe(200);
    expect(session.body.user).toBe('system:serviceaccount:people:alice');
    const before = seen.length;
    expect((await call(port, '/api/tenants', { headers: auth })).status).toBe(200);
    expect(seen.slice(before)).toEqual([GOOD]);
    const change = (csrf: string) => call(port, '/api/tenants/acme/secrets/API_KEY', { method: 'DELETE', headers: { ...auth, origin: 'https://secrets.example.com', 'x-csrf-token': csrf } });
    expect((await change('wrong')).status).toBe(403);
    expect((await change(session.body.csrfToken as string)).status).toBe(204);
    expect((await call(port, '/api/session')).body.error?.signIn).toBe('proxy');
    expect(SESSION_COOKIE).toBe('orka_dashboard_session');
  });
});
