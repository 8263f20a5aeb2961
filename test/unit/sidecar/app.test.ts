import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OrkaSecretsClient, isOrkaError } from '../../../src/client/index.js';
import { OrkaError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { createSidecarApp } from '../../../src/sidecar/app.js';
import { ValueCache } from '../../../src/sidecar/cache.js';
import { Lookup } from '../../../src/sidecar/lookup.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import type { Resolution } from '../../../src/sidecar/upstream.js';

/**
 * A hand-written fake of the operator: a map of values with their revisions (a replica's view),
 * a call log, and a switch to fail.
 */
const upstream = {
  values: new Map<string, string>(),
  revisions: new Map<string, number>(),
  calls: [] as string[][],
  down: false,
  /** Answer after this many ms (a slow operator), so that requests overlap. */
  latencyMs: 0,
  async resolve(names: readonly string[]): Promise<Resolution> {
    this.calls.push([...names]);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.down) throw new OrkaError('UPSTREAM_UNAVAILABLE', 'the operator cannot be reached');
    // The operator's own limit (MAX_NAMES_PER_REQUEST).
    if (names.length > 256) throw new OrkaError('INVALID_REQUEST', 'body must be {"names": [1 to 256 secret names]}');
    const values: Record<string, string> = {};
    const missing: string[] = [];
    const revisions: Record<string, string> = {};
    for (const n of names) {
      const v = this.values.get(n);
      if (v === undefined) missing.push(n);
      else values[n] = v;
      const r = this.revisions.get(n);
      if (r !== undefined) revisions[n] = String(r);
    }
    return { values, missing, revisions };
  },
};

let server: Server;
let port: number;
let client: OrkaSecretsClient;
let cache: ValueCache;

/** A raw request, for what the client would never send. */
function raw(path: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as never }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

// A fresh sidecar per test: a cache, its lookup and the app, the change stream up.
beforeEach(async () => {
  cache = new ValueCache({ maxEntries: 1000, staleAfterMs: 30_000 });
  cache.setStreamUp(true);
  const metrics = createSidecarMetrics();
  const lookup = new Lookup({ cache, resolve: (n) => upstream.resolve(n), metrics, staleWaitMs: 400 });
  const app = createSidecarApp({ maxBodyBytes: 65_536, cache, lookup, metrics, log: createLogger({ name: 't', level: 'silent' }) });
  server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  client = new OrkaSecretsClient({ baseUrl: `http://127.0.0.1:${port}` });
});

afterEach(() => {
  server.close();
});

beforeEach(() => {
  upstream.values = new Map([
    ['API_KEY', 'sk_live_1'],
    ['TOKEN', 'tok "quoted"'],
  ]);
  upstream.revisions = new Map([
    ['API_KEY', 10],
    ['TOKEN', 11],
  ]);
  upstream.calls = [];
  upstream.down = false;
  upstream.latencyMs = 0;
});

describe('sidecar API', () => {
  it('gets a secret, then serves it from memory', async () => {
    expect(await client.get('API_KEY')).toBe('sk_live_1');
    expect(await client.get('API_KEY')).toBe('sk_live_1');
    expect(upstream.calls).toEqual([['API_KEY']]);
  });

  it('renders strings and nested JSON in one upstream call, leaving other expressions alone', async () => {
    expect(await client.render('Bearer {{ secrets.API_KEY }}')).toBe('Bearer sk_live_1');
    const out = await client.render({ h: { auth: '{{secrets.TOKEN}}', expr: '{{ $json.id }}' }, list: ['{{secrets.API_KEY}}', 3] });
    expect(out).toEqual({ h: { auth: 'tok "quoted"', expr: '{{ $json.id }}' }, list: ['sk_live_1', 3] });
    expect(upstream.calls).toEqual([['API_KEY'], ['TOKEN']]);
  });

  it('renders more than 256 distinct uncached names: batches upstream, whatever is cached', async () => {
    const names = Array.from({ length: 600 }, (_, i) => `MANY_${i}`);
    for (const [i, n] of names.entries()) upstream.values.set(n, `v${i}`);
    const template = names.map((n) => `{{secrets.${n}}}`).join(',');
    const expected = names.map((_, i) => `v${i}`).join(',');
    expect(await client.render(template)).toBe(expected);
    expect(upstream.calls.map((c) => c.length)).toEqual([256, 256, 88]);
    expect(await client.render(template)).toBe(expected);
    expect(upstream.calls).toHaveLength(3);
  });

  it('merges identical lookups in flight: 100 concurrent GETs of one uncached name make one upstream call', async () => {
    upstream.latencyMs = 50;
    const answers = await Promise.all(Array.from({ length: 100 }, () => client.get('API_KEY')));
    expect(new Set(answers)).toEqual(new Set(['sk_live_1']));
    expect(upstream.calls).toEqual([['API_KEY']]);
  });

  it('merges a render with a lookup in flight: only the names not yet asked go upstream', async () => {
    upstream.latencyMs = 50;
    const [a, b] = await Promise.all([client.get('API_KEY'), client.render('{{secrets.API_KEY}} {{secrets.TOKEN}}')]);
    expect([a, b]).toEqual(['sk_live_1', 'sk_live_1 tok "quoted"']);
    expect(upstream.calls.flat().sort()).toEqual(['API_KEY', 'TOKEN']);
  });

  it('answers SECRET_NOT_FOUND naming every missing secret', async () => {
    try {
      await client.render('{{secrets.GONE}} {{secrets.API_KEY}} {{secrets.ALSO_GONE}}');
      expect.unreachable();
    } catch (err) {
      expect(isOrkaError(err, 'SECRET_NOT_FOUND')).toBe(true);
      expect((err as OrkaError).details.secrets).toEqual(['GONE', 'ALSO_GONE']);
    }
    await expect(client.get('GONE')).rejects.toThrow('secret GONE could not be found');
  });

  it('masks served values and their encodings', async () => {
    await client.get('TOKEN');
    const text = `a ${'tok "quoted"'} b ${JSON.stringify('tok "quoted"')} c ${Buffer.from('tok "quoted"').toString('base64')}`;
    const out = await client.redact(text);
    expect(out).not.toContain('tok "quoted"');
    expect(out).not.toContain('tok \\"quoted\\"');
    expect(out).not.toContain(Buffer.from('tok "quoted"').toString('base64'));
    expect(out.startsWith('a [REDACTED] b')).toBe(true);
  });

  it('forgets a value when the change stream says so', async () => {
    await client.get('API_KEY');
    upstream.values.set('API_KEY', 'sk_live_2');
    upstream.revisions.set('API_KEY', 12);
    cache.changed('API_KEY', 12, false);
    expect(await client.get('API_KEY')).toBe('sk_live_2');
  });

  it('keeps a value when a change event older than it arrives late', async () => {
    await client.get('API_KEY');
    cache.changed('API_KEY', 9, true);
    expect(await client.get('API_KEY')).toBe('sk_live_1');
    expect(upstream.calls).toEqual([['API_KEY']]);
  });

  it('never serves an answer older than a deletion it saw: the name is missing (a replica behind the stream)', async () => {
    await client.get('API_KEY');
    // The stream (one replica) says: deleted at 20; the resolver (another replica) still has revision 10.
    cache.changed('API_KEY', 20, true);
    await expect(client.get('API_KEY')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    await expect(client.render('{{secrets.API_KEY}}')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    // Created again later: a newer answer is taken.
    cache.changed('API_KEY', 30, false);
    upstream.values.set('API_KEY', 'sk_live_3');
    upstream.revisions.set('API_KEY', 30);
    expect(await client.get('API_KEY')).toBe('sk_live_3');
  });

  it('asks again while the answer is older than an update it saw, and takes the first one as new', async () => {
    await client.get('TOKEN');
    cache.changed('TOKEN', 15, false);
    upstream.calls = [];
    // The lagging replica catches up after its second answer.
    const resolve = upstream.resolve.bind(upstream);
    let answers = 0;
    upstream.resolve = async (names) => {
      if (++answers === 2) {
        upstream.values.set('TOKEN', 'tok new');
        upstream.revisions.set('TOKEN', 15);
      }
      return resolve(names);
    };
    try {
      expect(await client.get('TOKEN')).toBe('tok new');
      expect(upstream.calls).toEqual([['TOKEN'], ['TOKEN']]);
    } finally {
      upstream.resolve = resolve;
    }
  });

  it('answers UPSTREAM_UNAVAILABLE, not the old value, when the operator never catches up; a missing answer older than a creation too', async () => {
    cache.changed('TOKEN', 15, false);
    await expect(client.get('TOKEN')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', message: expect.stringContaining('not caught up') });
    expect(upstream.calls.length).toBeGreaterThan(1);
    cache.changed('NEW_ONE', 16, false);
    await expect(client.get('NEW_ONE')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('serves from memory while the operator is down and the stream was up; refuses the rest', async () => {
    await client.get('API_KEY');
    upstream.down = true;
    expect(await client.get('API_KEY')).toBe('sk_live_1');
    await expect(client.get('TOKEN')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it.each([
    ['no X-Orka-Request', { host: () => `127.0.0.1:${port}` }, 403, 'FORBIDDEN'],
    ['a foreign Host', { 'x-orka-request': 'true', host: () => 'evil.example:80' }, 403, 'FORBIDDEN'],
    ['a rebinding Host on the right port', { 'x-orka-request': 'true', host: () => `attacker.test:${port}` }, 403, 'FORBIDDEN'],
    ['an Origin header (a browser)', { 'x-orka-request': 'true', host: () => `127.0.0.1:${port}`, origin: 'http://127.0.0.1:3000' }, 403, 'FORBIDDEN'],
  ])('refuses a request with %s', async (_what, headerFns, status, code) => {
    const headers = Object.fromEntries(Object.entries(headerFns).map(([k, v]) => [k, typeof v === 'function' ? v() : v]));
    const res = await raw('/v1/secrets/API_KEY', { headers });
    expect(res.status).toBe(status);
    expect(res.body.error?.code).toBe(code);
    expect(upstream.calls).toEqual([]);
  });

  it.each([
    ['an invalid name', 'GET', '/v1/secrets/api-key', undefined, 400, 'INVALID_SECRET_NAME'],
    ['a malformed reference', 'POST', '/v1/render', '{"template":"{{secrets.lower}}"}', 400, 'INVALID_TEMPLATE'],
    ['malformed JSON', 'POST', '/v1/render', '{"template":', 400, 'INVALID_REQUEST'],
    ['a body without template', 'POST', '/v1/render', '{"tpl":"x"}', 400, 'INVALID_REQUEST'],
    ['a JSON array body', 'POST', '/v1/render', '[1,2]', 400, 'INVALID_REQUEST'],
    ['redact without text', 'POST', '/v1/redact', '{"text":5}', 400, 'INVALID_REQUEST'],
    ['an oversized body', 'POST', '/v1/render', JSON.stringify({ template: 'x'.repeat(70_000) }), 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown endpoint', 'GET', '/v1/nothing', undefined, 404, 'NOT_FOUND'],
    ['an unknown endpoint outside /v1', 'GET', '/nothing', undefined, 404, 'NOT_FOUND'],
    ['OPTIONS (no CORS here)', 'OPTIONS', '/v1/secrets/API_KEY', undefined, 404, 'NOT_FOUND'],
    ['a wrong method on a known path', 'DELETE', '/v1/secrets/API_KEY', undefined, 404, 'NOT_FOUND'],
  ])('answers %s with its 4xx', async (_what, method, path, body, status, code) => {
    const res = await raw(path, { method, body, headers: { 'x-orka-request': 'true', host: `localhost:${port}`, 'content-type': 'application/json' } });
    expect(res.status).toBe(status);
    expect(res.body.error?.code).toBe(code);
  });

  it('answers 413 on a declared Content-Length over the limit before the body is sent', async () => {
    const res = await new Promise<{ status: number; body: { error?: { code: string } } }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/render', method: 'POST', headers: { 'x-orka-request': 'true', host: `127.0.0.1:${port}`, 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) } }, (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => {
          resolve({ status: r.statusCode ?? 0, body: JSON.parse(text) as never });
          req.destroy();
        });
      });
      req.on('error', reject);
      // Headers only: the 10 MiB body is never written, so only an early answer can come back.
      req.flushHeaders();
    });
    expect(res.status).toBe(413);
    expect(res.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('reports health and readiness with the stream state', async () => {
    expect((await raw('/healthz', {})).status).toBe(200);
    expect((await raw('/readyz', {})).body).toEqual({ status: 'ok', changeStream: 'up' });
  });
});

describe('ValueCache', () => {
  it('masks a replaced or deleted value for the grace period, then no more', () => {
    let now = 0;
    const c = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000, redactGraceMs: 60_000, now: () => now });
    c.set('A', 'first-value', 1);
    c.set('B', 'other-value', 2);
    c.set('A', 'second-value', 3); // replaced
    c.changed('B', 4, true); // deleted
    now = 59_999;
    expect(c.redact('first-value other-value second-value')).toBe('[REDACTED] [REDACTED] [REDACTED]');
    now = 60_000;
    expect(c.redact('first-value other-value second-value')).toBe('first-value other-value [REDACTED]');
  });

  it('serves a value at most staleAfter after it was fetched, however healthy the stream looks', () => {
    let now = 0;
    const c = new ValueCache({ maxEntries: 10, staleAfterMs: 30_000, now: () => now });
    c.setStreamUp(true);
    c.set('A', '1');
    now = 30_000;
    expect(c.get('A')).toBe('1');
    now += 1;
    expect(c.get('A')).toBeUndefined();
  });

  it('keeps a full cache of maximum-size values within its byte budget, says so, and still masks every value served', () => {
    const dropped: number[] = [];
    const c = new ValueCache({ maxEntries: 200, maxBytes: 4 * 1024 * 1024, staleAfterMs: 1000, onBudget: (n) => dropped.push(n) });
    c.setStreamUp(true);
    const value = (i: number) => `${i}:`.padEnd(65_536, `v${i}-`);
    for (let i = 0; i < 200; i++) c.set(`N${i}`, value(i));
    expect(c.bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(c.size).toBeLessThan(200);
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(200 - c.size);
    expect(c.get('N199')).toBe(value(199));
    expect(c.get('N0')).toBeUndefined();
    expect(c.redact(`x ${value(0)} y ${value(199)}`)).toBe('x [REDACTED] y [REDACTED]');
    // 200 values of 64 KiB are indexed one by one (about 1 s here, far more on a loaded CI machine):
    // a generous limit, since this asserts memory bounds, not speed.
  }, 60_000);

  it('does not serve values older than the limit while the stream is down, and is bounded', () => {
    let now = 0;
    const c = new ValueCache({ maxEntries: 2, staleAfterMs: 1000, now: () => now });
    c.set('A', '1');
    now = 500;
    expect(c.get('A')).toBe('1');
    now = 1500;
    expect(c.get('A')).toBeUndefined();
    c.setStreamUp(true);
    c.set('A', '1');
    now = 2_000;
    expect(c.get('A')).toBe('1');
    c.set('B', '2');
    c.set('C', '3');
    expect(c.size).toBe(2);
    expect(c.get('A')).toBeUndefined();
  });
});
