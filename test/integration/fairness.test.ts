/**
 * Fairness across tenants, against the real apiserver with a real operator and sidecar: one
 * tenant holding every change stream of a replica, or resolving faster than its rate, does not
 * take another tenant's stream, push invalidation or resolves; refusals are logged once per
 * caller per interval.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { isOrkaError } from '../../src/core/errors.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { canaries, osecCoords } from '../env/canary.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, podCredentials, resolveExchange, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let operator: OperatorProcess;
let opNamespace: string;
let hog: string;
let small: string;
let caPem: string;
let dir: string;
const sidecars: SidecarProcess[] = [];
const streams: Array<{ close: () => void }> = [];
const canary = canaries().make;
/** The replica's stream cap here: the hog fills it with two pods (4 + 2 streams). */
const MAX_STREAMS = 6;

/** Opens a change stream; `ended` resolves when the operator closes it. */
function openStream(token: string): Promise<{ status: number; headers: IncomingHttpHeaders; text: () => string; ended: Promise<void>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: operator.resolverPort, path: '/v1/changes', ca: caPem, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      const ended = new Promise<void>((done) => res.on('close', () => done()));
      res.on('data', (c: Buffer) => (text += c.toString()));
      const stream = { status: res.statusCode ?? 0, headers: res.headers, text: () => text, ended, close: () => req.destroy() };
      streams.push(stream);
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Log lines of the operator with `msg` about `pod`. */
const linesAbout = (msg: string, pod: string) => operator.logs.filter((l) => l.includes(`"msg":"${msg}"`) && l.includes(`"pod":"${pod}"`));

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  opNamespace = await createNamespace(kc, { prefix: 'orka-fair' });
  hog = await createNamespace(kc, { prefix: 'fair-hog', tenant: 'hog' });
  small = await createNamespace(kc, { prefix: 'fair-small', tenant: 'small' });
  for (const ns of [hog, small]) await createServiceAccount(kc, ns, 'runner');
  dir = mkdtempSync(join(tmpdir(), 'orka-fair-'));
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'fair-op',
    env: { ORKA_WATCH_NAMESPACES: [hog, small].join(','), ORKA_MAX_STREAMS: String(MAX_STREAMS), ORKA_RESOLVE_RATE: '1', ORKA_RESOLVE_BURST: '4' },
  });
  await operator.waitForLog(/resolver API and webhooks listening/);
  const tls = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
  caPem = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
});

afterAll(async () => {
  for (const s of streams) s.close();
  await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  await operator?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('change streams are shared fairly across tenants', () => {
  it("one tenant holding every stream does not keep another tenant's sidecar from its stream, nor from push invalidation of a delete", { timeout: 120_000 }, async () => {
    // The hog fills the replica: pod 1 with four streams (the per-identity cap), pod 2 with two.
    const [pod1, pod2] = await Promise.all([podBoundToken(kc, { namespace: hog, serviceAccount: 'runner' }), podBoundToken(kc, { namespace: hog, serviceAccount: 'runner' })]);
    const held = [];
    for (const token of [pod1.token, pod1.token, pod1.token, pod1.token, pod2.token, pod2.token]) held.push(await openStream(token));
    expect(held.map((s) => s.status)).toEqual(Array(MAX_STREAMS).fill(200));
    // Full, and the hog holds every slot: more of its streams are refused, with a Retry-After.
    const refused = [];
    for (let i = 0; i < 5; i++) refused.push(await openStream(pod2.token));
    expect(refused.map((s) => s.status)).toEqual(Array(5).fill(429));
    expect(Number(refused[0]?.headers['retry-after'])).toBeGreaterThan(0);
    // Five refusals of one pod, one audit line (before: one per refusal).
    await operator.waitForLog(/change stream refused/);
    expect(linesAbout('change stream refused', pod2.pod)).toHaveLength(1);

    // Another tenant's sidecar, whose cached values outlive the test: only the stream can
    // invalidate them.
    const value = canary('small-api-key');
    const sealedValue = await sealWithPublishedCert(kc, opNamespace, small, 'API_KEY', value);
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...osecCoords(small), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api-key' }, spec: { sealedValue } } });
    await waitForReady(kc, small, 'api-key', 'Stored');
    const tokenFile = join(dir, 'small.token');
    writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: small, serviceAccount: 'runner' })).token);
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, caPem);
    const sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${operator.resolverPort}`, tokenFile, caFile, env: { ORKA_CACHE_STALE_AFTER: '10m' } });
    sidecars.push(sidecar);
    // Before: refused (the replica full), retried every 0.8 s for ever.
    await eventually(async () => ((await (await fetch(`${sidecar.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}: the other tenant's sidecar never got its change stream\n${sidecar.logs.slice(-5).join('\n')}`);
    });
    // Its slot came from the hog: one of the hog's streams was closed (a second one of pod 1).
    const closed = await Promise.race([Promise.any(held.map((s, i) => s.ended.then(() => i))), new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
    expect(closed).toBeLessThan(4);
    await operator.waitForLog(/its slot went to a tenant below its fair share/);
    expect(linesAbout('change stream closed: its slot went to a tenant below its fair share', pod1.pod)).toHaveLength(1);

    const client = new OrkaSecretsClient({ baseUrl: sidecar.url });
    expect(await client.get('API_KEY')).toBe(value);
    await custom.deleteNamespacedCustomObject({ ...osecCoords(small), name: 'api-key' });
    // Pushed: gone long before the 10-minute stale limit.
    await eventually(
      async () => {
        try {
          await client.get('API_KEY');
          return undefined;
        } catch (err) {
          return isOrkaError(err, 'SECRET_NOT_FOUND') ? true : undefined;
        }
      },
      30_000,
      200,
    );
    // The hog cannot take the slot back: at its share, refused.
    expect((await openStream(pod2.token)).status).toBe(429);
  });
});

describe('resolves are rate-limited per tenant', () => {
  it('a tenant over its rate gets 429 with Retry-After, while another tenant is served', { timeout: 60_000 }, async () => {
    const [hogPod, smallPod] = await Promise.all([podCredentials(kc, opNamespace, hog), podCredentials(kc, opNamespace, small)]);
    // Burst 4, 1 per second: ten at once leave several refused.
    const answers = await Promise.all(Array.from({ length: 10 }, () => resolveExchange(hogPod, operator, ['API_KEY'])));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
    for (const a of limited) {
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((a.body as { error?: { code?: string } }).error?.code).toBe('TOO_MANY_REQUESTS');
    }
    const other = await resolveExchange(smallPod, operator, ['API_KEY']);
    expect(other.status).toBe(200);
    // One audit line for the refused pod, however many it was refused.
    const pod = /"pod":"([^"]+)"/.exec((await operator.waitForLog(/resolve refused: the tenant is over its resolve rate/)) ?? '')?.[1] as string;
    expect(linesAbout('resolve refused: the tenant is over its resolve rate', pod)).toHaveLength(1);
  });
});
