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
import { createDashboardApp, SESSION_COOKIE } from '../../../src/dashboard/server.js';
import { Sessions } from '../../../src/dashboard/sessions.js';

const GOOD = 'good-token-of-alice';
/** Tokens each fake cluster call was made with. */
const seen: string[] = [];
const fakeFor = (token: string): ClusterAccess => ({
  server: 'https://k8s',
  user: () => undefined,
  tenants: async () => {
    seen.push(token);
    return { tenants: [{ namespace: 'acme' }] };
  },
  list: async () => [],
  sealingKey: async () => ({ keyId: 'k', spki: '', tenant: 't' }),
  create: async () => {
    throw new Error('unused');
  },
  update: async () => {
    throw new Error('unused');
  },
  remove: async () => undefined,
});
const verifyToken = async (token: string) => {
  if (token !== GOOD) throw new OrkaError('UNAUTHENTICATED', 'the cluster did not accept this token');
  return token;
};

const servers: Server[] = [];
async function serve(mode: 'token' | 'proxy'): Promise<number> {
  const assets = mkdtempSync(join(tmpdir(), 'orka-dashboard-assets-'));
  for (const f of ['index.html', 'app.js', 'app.css']) writeFileSync(join(assets, f), f);
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  server.on(
    'request',
    createDashboardApp<string>({
      sessions: new Sessions<string>({ sessionTtlMs: 3_600_000, loginTtlMs: 60_000 }),
      clusterFor: fakeFor,
      assetsDir: assets,
      hosts: ['secrets.example.com'],
      origins: ['https://secrets.example.com'],
      secureCookie: true,
      log: createLogger({ name: 't', level: 'silent' }),
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

  it('opens a Secure session whose calls carry that token', async () => {
    const res = await start(GOOD);
    expect(res.status).toBe(204);
    const cookie = String(res.headers['set-cookie']?.[0]);
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict; Path=\/; Secure$/);
    const before = seen.length;
    const tenants = await call(port, '/api/tenants', { headers: { cookie: cookie.split(';')[0] as string } });
    expect(tenants.status).toBe(200);
    expect(seen.slice(before)).toEqual([GOOD]);
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
