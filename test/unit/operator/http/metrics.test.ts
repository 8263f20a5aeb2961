import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionObserver, httpMetrics, resolveObserver, resolveOutcome } from '../../../../src/operator/http/metrics.js';
import { createOperatorMetrics, trackCertificateAndKeys, trackResolveMemo } from '../../../../src/operator/metrics.js';
import { createCA } from '../../../../src/core/pki.js';

describe('outcome labels', () => {
  it.each([
    [200, { values: {}, missing: [] }, 'ok'],
    [200, { values: {}, missing: ['A'] }, 'partial'],
    [401, {}, 'unauthenticated'],
    [403, {}, 'forbidden'],
    [400, {}, 'invalid'],
    [413, {}, 'invalid'],
    [503, {}, 'unavailable'],
    [500, {}, 'error'],
  ])('resolve %i %j -> %s', (status, body, outcome) => expect(resolveOutcome(status, body)).toBe(outcome));
});

describe('httpMetrics middleware', () => {
  const metrics = createOperatorMetrics();
  let server: Server;
  let port: number;
  const streams: express.Response[] = [];

  beforeAll(async () => {
    const app = express();
    app.use(httpMetrics(metrics));
    app.get('/v1/changes', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ready\ndata: {}\n\n');
      streams.push(res);
    });
    server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  const value = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
    const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
    return metric?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
  };

  it('counts and times admissions by webhook and result, and resolves by outcome, as their handlers tell them', async () => {
    const admitted = admissionObserver(metrics);
    admitted('validate-orkasecrets', 'denied', 0.001);
    admitted('mutate-pods', 'mutated', 0.001);
    const observe = resolveObserver(metrics);
    observe(200, { missing: ['X'] }, 0.001);
    observe(401, undefined, 0.001);
    expect(await value('orka_operator_admissions_total', { webhook: 'validate-orkasecrets', result: 'denied' })).toBe(1);
    expect(await value('orka_operator_admissions_total', { webhook: 'mutate-pods', result: 'mutated' })).toBe(1);
    expect(await value('orka_operator_resolver_requests_total', { outcome: 'partial' })).toBe(1);
    expect(await value('orka_operator_resolver_requests_total', { outcome: 'unauthenticated' })).toBe(1);
    expect(await value('orka_operator_admission_duration_seconds', { webhook: 'mutate-pods', le: '+Inf' })).toBe(1);
    expect(await value('orka_operator_resolver_request_duration_seconds', { le: '+Inf' })).toBe(2);
  });

  it('counts open change streams until they close', async () => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/changes' });
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    await once(res, 'data');
    expect(await value('orka_operator_resolver_streams_open')).toBe(1);
    req.destroy();
    await new Promise<void>((resolve) => {
      const check = async () => ((await value('orka_operator_resolver_streams_open')) === 0 ? resolve() : setTimeout(() => void check(), 10));
      void check();
    });
    expect(await value('orka_operator_resolver_streams_open')).toBe(0);
  });
});

describe('certificate expiry and key age', () => {
  it('are read from what is loaded at each scrape', async () => {
    const metrics = createOperatorMetrics();
    const now = new Date('2026-01-10T00:00:00Z');
    const ca = createCA({ commonName: 'test', now, validDays: 30 });
    trackCertificateAndKeys(metrics, { certPem: () => ca.certPem, keysSince: () => new Date('2026-01-01T00:00:00Z'), now: () => now });
    const text = await metrics.registry.metrics();
    const expiry = Number(/^orka_operator_certificate_expiry_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    expect(Math.abs(expiry - (now.getTime() / 1000 + 30 * 86400))).toBeLessThan(86400 * 1.01);
    expect(text).toMatch(/^orka_operator_key_age_seconds 777600$/m);
  });
});

describe('resolver memo', () => {
  it('counts hits and misses since the last scrape, and shows the bytes held', async () => {
    const metrics = createOperatorMetrics();
    const stats = { hits: 3, misses: 1, bytes: 500 };
    trackResolveMemo(metrics, { stats: () => ({ ...stats }) });
    expect(await metrics.registry.metrics()).toMatch(/^orka_operator_resolve_memo_lookups_total\{result="hit"\} 3$[^]*^orka_operator_resolve_memo_bytes 500$/m);
    Object.assign(stats, { hits: 10, misses: 2, bytes: 0 });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^orka_operator_resolve_memo_lookups_total\{result="hit"\} 10$/m);
    expect(text).toMatch(/^orka_operator_resolve_memo_lookups_total\{result="miss"\} 2$/m);
    expect(text).toMatch(/^orka_operator_resolve_memo_bytes 0$/m);
  });
});
