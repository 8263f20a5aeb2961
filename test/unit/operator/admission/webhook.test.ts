import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tenancy } from '../../../../src/api/tenancy.js';
import { inject, type InjectConfig } from '../../../../src/operator/admission/inject.js';
import { webhookHandler } from '../../../../src/operator/admission/webhook.js';
import { AccessReviewLimited, type AccessQuestion } from '../../../../src/operator/kube/accessreview.js';
import { deriveRecordKey, verifyRecord, VALUE_FROM_RECORD_ANNOTATION, type RecordKeys } from '../../../../src/core/valuefrom-record.js';
import { bindingOf } from '../../../../src/operator/admission/record.js';
import { admissionObserver } from '../../../../src/operator/http/metrics.js';
import { createOperatorMetrics } from '../../../../src/operator/metrics.js';
import { BodyBudget } from '../../../../src/operator/http/server.js';

describe('webhookHandler', () => {
  const config: InjectConfig = {
    image: 'orka-secrets:test',
    imagePullPolicy: 'Never',
    operatorUrl: 'https://orka-secrets-operator.orka-system.svc:8443',
    caPem: 'CA',
    port: 8731,
    metricsPort: 8732,
    tokenAudience: 'orka-secrets',
    tokenExpirationSeconds: 600,
    resources: { requests: {}, limits: {} },
    nativeSidecar: false,
  };
  const metrics = createOperatorMetrics();
  let server: Server;
  let port: number;

  // The access questions the handler asked, and whether the stand-in limiter refuses them.
  const asked: AccessQuestion[] = [];
  let limited = false;
  const recordKey = deriveRecordKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
  const keys: RecordKeys = { activeId: 'seal-1', key: (id) => (id === 'seal-1' ? recordKey : undefined) };

  // What it logs, line by line (pino's JSON).
  const lines: Array<{ level: number; msg: string; outcome?: string }> = [];

  beforeAll(async () => {
    // Mounted as main.ts mounts it: alone on its listener, whatever it does not take refused.
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const webhooks = webhookHandler({
      injectConfig: () => config,
      tenancy: (ns) => ({ tenant: ns === 'acme', never: false, reason: 'no' }) as Tenancy,
      namespace: () => undefined,
      canI: async (q) => {
        asked.push(q);
        if (limited) throw new AccessReviewLimited();
        return q.user.username === 'alice';
      },
      recordKeys: () => keys,
      namespaceUid: async () => 'uid-acme',
      log,
      observe: admissionObserver(metrics),
      bodies: new BodyBudget(16 * 1024 * 1024),
    });
    server = createServer((req, res) => {
      if (!webhooks(req, res)) res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"NOT_FOUND"}}');
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  const call = (method: string, path: string, body?: string | Buffer): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const runner = (labels: Record<string, string>) => ({ metadata: { name: 'r', labels }, spec: { containers: [{ name: 'runner', image: 'runner:1' }] } });
  const review = (object: unknown, namespace = 'acme') => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', namespace, operation: 'CREATE', object } });
  const counted = async (webhook: string, result: string) =>
    (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'orka_operator_admissions_total')?.values.find((v) => v.labels.webhook === webhook && v.labels.result === result)?.value ?? 0;

  it('answers a pod review with the patch that injects it, and counts it', async () => {
    const pod = runner({ 'orka.io/inject': 'true' });
    const res = await call('POST', '/webhooks/mutate-pods?timeout=5s', review(pod));
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.body) as { apiVersion: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect(answer).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u1', allowed: true, patchType: 'JSONPatch' } });
    const patched = jsonpatch.applyPatch(structuredClone(pod), JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8'))).newDocument;
    expect(patched).toEqual(inject(pod as V1Pod, { namespace: 'acme', tenancy: { tenant: true } }, config).pod);
    expect(await counted('mutate-pods', 'mutated')).toBe(1);
    const timed = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'orka_operator_admission_duration_seconds');
    expect(timed?.values.find((v) => v.labels.webhook === 'mutate-pods' && v.labels.le === '+Inf')?.value).toBe(1);
  });

  it('logs a routine injection at debug only, and a labelled pod it leaves alone at info', async () => {
    const before = lines.length;
    await call('POST', '/webhooks/mutate-pods', review(runner({ 'orka.io/inject': 'true' })));
    expect(lines.slice(before)).toEqual([]);
    await call('POST', '/webhooks/mutate-pods', review(runner({ 'orka.io/inject': 'true' }), 'not-a-tenant'));
    expect(lines.slice(before)).toMatchObject([{ level: 30, msg: 'pod admission', outcome: 'not-a-tenant' }]);
    expect(await counted('mutate-pods', 'allowed')).toBe(1);
  });

  const osecReview = (object: Record<string, unknown>, over: Record<string, unknown> = {}) =>
    JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u1', resource: { group: 'orka.io', version: 'v1alpha1', resource: 'orkasecrets' }, namespace: 'acme', operation: 'CREATE', userInfo: { username: 'alice' }, object: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', ...object }, ...over },
    });
  const fromSecret = (name: string, secret: string) => ({ metadata: { name }, spec: { valueFrom: { secretKeyRef: { name: secret, key: 'password' } } } });

  it('answers an OrkaSecret review, and counts the refusal', async () => {
    const res = await call('POST', '/webhooks/validate-orkasecrets', osecReview({ metadata: { name: 'api.key' }, spec: {} }));
    expect(JSON.parse(res.body).response).toMatchObject({ uid: 'u1', allowed: false, status: { code: 422, reason: 'Invalid' } });
    expect(await counted('validate-orkasecrets', 'denied')).toBe(1);
  });

  it.each([
    ['a body that is not JSON', '{"request":', 400, /not JSON/],
    ['JSON that is not an AdmissionReview', '{"kind":"Pod"}', 400, /not an AdmissionReview/],
    ['a body over 3 MiB', Buffer.alloc(3 * 1024 * 1024 + 1, 0x20), 413, /at most 3145728 bytes/],
    ['a review whose object is no pod', review(null), 500, /could not be answered/],
  ])('answers %s with a clear error', async (_what, body, status, message) => {
    const errors = await counted('mutate-pods', 'error');
    const res = await call('POST', '/webhooks/mutate-pods', body);
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body).error.message).toMatch(message);
    expect(await counted('mutate-pods', 'error')).toBe(errors + 1);
  });

  it('records a valueFrom the requester may read, with a record bound to the namespace, object and reference', async () => {
    const before = asked.length;
    const res = await call('POST', '/webhooks/authorize-orkasecrets', osecReview(fromSecret('db', 'app-db')));
    const response = (JSON.parse(res.body) as { response: { allowed: boolean; patch: string } }).response;
    expect(response.allowed).toBe(true);
    expect(asked.slice(before)).toEqual([{ user: { username: 'alice' }, namespace: 'acme', verb: 'get', resource: 'secrets', name: 'app-db' }]);
    const patched = jsonpatch.applyPatch(fromSecret('db', 'app-db'), JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'))).newDocument as unknown as { metadata: { annotations: Record<string, string> } };
    const record = patched.metadata.annotations[VALUE_FROM_RECORD_ANNOTATION];
    expect(verifyRecord(keys, bindingOf({ name: 'acme', uid: 'uid-acme' }, 'db', { name: 'app-db', key: 'password' }), record)).toEqual({ ok: true, active: true });
    // The validating webhook takes the object with its record, and refuses it without.
    const withRecord = { ...fromSecret('db', 'app-db'), metadata: { name: 'db', annotations: { [VALUE_FROM_RECORD_ANNOTATION]: record } } };
    expect(JSON.parse((await call('POST', '/webhooks/validate-orkasecrets', osecReview(withRecord))).body).response.allowed).toBe(true);
    const copied = { ...fromSecret('other', 'app-db'), metadata: { name: 'other', annotations: { [VALUE_FROM_RECORD_ANNOTATION]: record } } };
    expect(JSON.parse((await call('POST', '/webhooks/validate-orkasecrets', osecReview(copied))).body).response).toMatchObject({ allowed: false, status: { code: 403 } });
  });

  it('refuses a valueFrom the requester may not read, naming the rule', async () => {
    const res = await call('POST', '/webhooks/authorize-orkasecrets', osecReview(fromSecret('db', 'admin-db'), { userInfo: { username: 'mallory' } }));
    expect(JSON.parse(res.body).response).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining('mallory may not get Secret admin-db') } });
  });

  it('over the rate limit, refuses with a message to try again', async () => {
    limited = true;
    try {
      const res = await call('POST', '/webhooks/authorize-orkasecrets', osecReview(fromSecret('db', 'app-db')));
      expect(JSON.parse(res.body).response).toMatchObject({ allowed: false, status: { code: 429, message: expect.stringMatching(/too many access checks.*try again/) } });
    } finally {
      limited = false;
    }
  });

  it.each([
    ['no apiVersion', (r: Record<string, unknown>) => ({ ...r, apiVersion: undefined })],
    ['a review of pods', (r: { request: object }) => ({ ...r, request: { ...r.request, resource: { group: '', version: 'v1', resource: 'pods' } } })],
    ['a DELETE', (r: { request: object }) => ({ ...r, request: { ...r.request, operation: 'DELETE' } })],
    ['no userInfo', (r: { request: object }) => ({ ...r, request: { ...r.request, userInfo: undefined } })],
  ])('answers a malformed OrkaSecret review (%s) with 400 on both paths, asking nothing', async (_what, spoil) => {
    const before = asked.length;
    const body = JSON.stringify(spoil(JSON.parse(osecReview(fromSecret('db', 'admin-db'), { userInfo: { username: 'mallory' } }))));
    for (const path of ['/webhooks/authorize-orkasecrets', '/webhooks/validate-orkasecrets']) {
      const res = await call('POST', path, body);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.message).toMatch(/not an AdmissionReview of an OrkaSecret/);
    }
    expect(asked.length).toBe(before);
  });

  it('passes every other request on, untouched', async () => {
    expect((await call('GET', '/webhooks/mutate-pods')).status).toBe(404);
    expect((await call('POST', '/v1/resolve', '{}')).status).toBe(404);
  });
});
