import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OrkaError } from '../../../../src/core/errors.js';
import { createLogger } from '../../../../src/core/logger.js';
import { isResolveRequest, resolveHandler } from '../../../../src/operator/resolver/http.js';
import { BodyBudget } from '../../../../src/operator/http/server.js';
import type { Resolver } from '../../../../src/operator/resolver/resolver.js';
import type { TokenAuthenticator } from '../../../../src/operator/kube/tokenreview.js';

// The resolver and the token review are stand-ins (their own tests cover them); the handler's
// job is the order (token, then body), the limits, the answer and the audit line.
const VALUE = 'canary-value-9f3a7c';
const TOKEN = 'token-of-runner-7d1e';
const logged: string[] = [];
const observed: Array<{ status: number; missing: readonly string[] | undefined }> = [];
const recorded: Array<{ namespace: string; names: readonly string[] }> = [];
let bodyRead = false;

const resolver = {
  tenancy: (namespace: string) => (namespace === 'acme' ? { tenant: true } : { tenant: false, reason: `namespace ${namespace} is not a tenant` }),
  resolve: async (_namespace: string, names: readonly string[]) => {
    if (names.includes('STALE')) throw new OrkaError('UPSTREAM_UNAVAILABLE', 'stale view');
    const values: Record<string, string> = {};
    for (const n of names) if (n === 'API_KEY') values[n] = VALUE;
    return { values, missing: names.filter((n) => n !== 'API_KEY'), revisions: { API_KEY: '42' }, ageMs: 1500 };
  },
} as unknown as Resolver;
const auth = {
  authenticate: async (token: string) => {
    if (token === TOKEN) return { namespace: 'acme', serviceAccount: 'runner', pod: 'runner-1' };
    if (token === 'other-ns') return { namespace: 'plain', serviceAccount: 'runner', pod: 'runner-2' };
    throw new OrkaError('UNAUTHENTICATED', 'the token was refused');
  },
} as unknown as TokenAuthenticator;

let server: Server;
let port: number;
beforeAll(async () => {
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logged.push(chunk.toString()), done()) });
  const handle = resolveHandler({
    resolver,
    auth,
    usage: { record: (namespace, names) => recorded.push({ namespace, names }) },
    audit: createLogger({ name: 'test', level: 'info' }, sink).child({ component: 'audit' }),
    observe: (status, answer) => observed.push({ status, missing: answer?.missing }),
    bodies: new BodyBudget(1024 * 1024),
  });
  server = createServer((req, res) => {
    // Whether the handler had read the body when it answered.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res;
    res.writeHead = ((...args: unknown[]) => ((bodyRead = req.readableDidRead), writeHead(...args))) as typeof res.writeHead;
    if (isResolveRequest(req)) handle(req, res);
    else res.writeHead(404).end();
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});
afterAll(() => server.close());
beforeEach(() => {
  logged.length = 0;
  observed.length = 0;
  recorded.length = 0;
  bodyRead = false;
});

function post(body: string, headers: Record<string, string> = {}, path = '/v1/resolve'): Promise<{ status: number; headers: IncomingMessage['headers']; json: { values?: Record<string, string>; missing?: string[]; revisions?: object; error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

describe('POST /v1/resolve', () => {
  it('answers values, missing names and revisions, with the view age, and records usage and one audit line without the value', async () => {
    const res = await post(JSON.stringify({ names: ['API_KEY', 'NOPE'] }), {}, '/v1/resolve?trace=1');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ values: { API_KEY: VALUE }, missing: ['NOPE'], revisions: { API_KEY: '42' } });
    expect(res.headers.age).toBe('2');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(recorded).toEqual([{ namespace: 'acme', names: ['API_KEY'] }]);
    expect(observed).toEqual([{ status: 200, missing: ['NOPE'] }]);
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] as string)).toMatchObject({ component: 'audit', tenant: 'acme', pod: 'runner-1', sa: 'runner', names: ['API_KEY', 'NOPE'], missing: ['NOPE'], outcome: 'partial', msg: 'resolve' });
    expect(logged.join('')).not.toContain(VALUE);
    expect(logged.join('')).not.toContain(TOKEN);
  });

  it('refuses a caller without a valid token before reading its body, and a namespace that is not a tenant', async () => {
    const anonymous = await post(`{${'x'.repeat(64 * 1024)}`, { authorization: 'Bearer nope' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error?.code).toBe('UNAUTHENTICATED');
    expect(bodyRead).toBe(false);
    expect(observed).toEqual([{ status: 401, missing: undefined }]);
    const outsider = await post(JSON.stringify({ names: ['API_KEY'] }), { authorization: 'Bearer other-ns' });
    expect(outsider.status).toBe(403);
    expect(outsider.json.error?.message).toMatch(/not a tenant/);
    expect(recorded).toEqual([]);
    expect(logged.join('')).not.toContain('nope');
  });

  it.each([
    ['not JSON', '{"names": [', {}, 400, /not valid JSON/],
    ['another content type', JSON.stringify({ names: ['A'] }), { 'content-type': 'text/plain' }, 400, /must be JSON/],
    ['another shape', JSON.stringify({ names: [] }), {}, 400, /1 to 256 secret names/],
    ['an unknown field', JSON.stringify({ names: ['A'], extra: 1 }), {}, 400, /1 to 256 secret names/],
    ['more than 16 KiB', JSON.stringify({ names: ['A'], pad: 'x'.repeat(1024 * 1024) }), {}, 413, /too large/],
    ['just over 16 KiB', JSON.stringify({ names: ['A'], pad: 'x'.repeat(16 * 1024) }), {}, 413, /too large/],
    ['an empty body', '', {}, 400, /not valid JSON/],
  ] as const)('answers %s with a clear error and nothing resolved', async (_what, body, headers, status, message) => {
    const res = await post(body, headers);
    expect(res.status).toBe(status);
    expect(res.json.error?.message).toMatch(message);
    expect(recorded).toEqual([]);
  });

  it('reads a body that comes in pieces after its headers (a slow client)', async () => {
    const slow = (body: string) =>
      new Promise<{ status: number; json: { values?: Record<string, string>; error?: { message: string } } }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/resolve', method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.flushHeaders();
        setTimeout(() => req.write(body.slice(0, 5)), 20);
        setTimeout(() => req.end(body.slice(5)), 60);
      });
    const ok = await slow(JSON.stringify({ names: ['API_KEY'] }));
    expect(ok.status).toBe(200);
    expect(ok.json.values).toEqual({ API_KEY: VALUE });
    const bad = await slow('{"names": [');
    expect(bad.status).toBe(400);
    expect(bad.json.error?.message).toMatch(/not valid JSON/);
    expect(observed.map((o) => o.status)).toEqual([200, 400]);
  });

  it('answers what the resolver refuses with its code (a stale view: 503)', async () => {
    const res = await post(JSON.stringify({ names: ['STALE'] }));
    expect(res.status).toBe(503);
    expect(res.json.error?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(observed).toEqual([{ status: 503, missing: undefined }]);
  });

  it('is only POST /v1/resolve (with or without a query)', () => {
    const req = (method: string, url: string) => ({ method, url }) as IncomingMessage;
    expect(isResolveRequest(req('POST', '/v1/resolve'))).toBe(true);
    expect(isResolveRequest(req('POST', '/v1/resolve?x=1'))).toBe(true);
    expect(isResolveRequest(req('GET', '/v1/resolve'))).toBe(false);
    expect(isResolveRequest(req('POST', '/v1/resolver'))).toBe(false);
    expect(isResolveRequest(req('POST', '/v1/changes'))).toBe(false);
  });
});
