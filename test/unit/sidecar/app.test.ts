import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OrkaSecretsClient, isOrkaError } from '../../../src/client/index.js';
import { OrkaError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { createSidecarApp } from '../../../src/sidecar/app.js';
import { ValueCache } from '../../../src/sidecar/cache.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import type { Resolution } from '../../../src/sidecar/upstream.js';

/** A hand-written fake of the operator: a map of values, a call log, and a switch to fail. */
const upstream = {
  values: new Map<string, string>(),
  calls: [] as string[][],
  down: false,
  async resolve(names: readonly string[]): Promise<Resolution> {
    this.calls.push([...names]);
    if (this.down) throw new OrkaError('UPSTREAM_UNAVAILABLE', 'the operator cannot be reached');
    const values: Record<string, string> = {};
    const missing: string[] = [];
    for (const n of names) {
      const v = this.values.get(n);
      if (v === undefined) missing.push(n);
      else values[n] = v;
    }
    return { values, missing };
  },
};

let server: Server;
let port: number;
let client: OrkaSecretsClient;
const cache = new ValueCache({ maxEntries: 100, staleAfterMs: 30_000 });

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

beforeAll(async () => {
  const app = createSidecarApp({ maxBodyBytes: 4096, cache, resolve: (n) => upstream.resolve(n), metrics: createSidecarMetrics(), log: createLogger({ name: 't', level: 'silent' }) });
  server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  client = new OrkaSecretsClient({ baseUrl: `http://127.0.0.1:${port}` });
});

afterAll(() => {
  server.close();
});

beforeEach(() => {
  upstream.values = new Map([
    ['API_KEY', 'sk_live_1'],
    ['TOKEN', 'tok "quoted"'],
  ]);
  upstream.calls = [];
  upstream.down = false;
  cache.setStreamUp(false);
  cache.setStreamUp(true); // clears the cache
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
    cache.forget('API_KEY');
    expect(await client.get('API_KEY')).toBe('sk_live_2');
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
    ['an oversized body', 'POST', '/v1/render', JSON.stringify({ template: 'x'.repeat(5000) }), 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown endpoint', 'GET', '/v1/nothing', undefined, 400, 'INVALID_REQUEST'],
  ])('answers %s with its 4xx', async (_what, method, path, body, status, code) => {
    const res = await raw(path, { method, body, headers: { 'x-orka-request': 'true', host: `localhost:${port}`, 'content-type': 'application/json' } });
    expect(res.status).toBe(status);
    expect(res.body.error?.code).toBe(code);
  });

  it('reports health and readiness with the stream state', async () => {
    expect((await raw('/healthz', {})).status).toBe(200);
    expect((await raw('/readyz', {})).body).toEqual({ status: 'ok', changeStream: 'up' });
  });
});

describe('ValueCache', () => {
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
    now = 10_000;
    expect(c.get('A')).toBe('1');
    c.set('B', '2');
    c.set('C', '3');
    expect(c.size).toBe(2);
    expect(c.get('A')).toBeUndefined();
  });
});
