/**
 * The certificate manager (src/operator/keys/tls.ts) against the real apiserver. The cache it
 * decides from is a stand-in here, so that its view can lag on cue (the informer's timing cannot
 * be staged); every read and write of the Secret goes to the apiserver.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { createCA, issueServingCert } from '../../src/core/pki.js';
import { CertManager, TLS_SECRET } from '../../src/operator/keys/tls.js';
import type { Watched } from '../../src/operator/kube/informers.js';
import { adminKubeConfig, createNamespace } from '../env/kube.js';

const cp = inject('controlPlane');
let kc: KubeConfig;

beforeAll(() => {
  kc = adminKubeConfig(cp);
});

/** A cache that answers `get` from `views` in turn (the last one for ever after). */
function laggingCache(views: Array<V1Secret | undefined>): Watched<V1Secret> {
  let call = 0;
  return { get: () => views[Math.min(call++, views.length - 1)], on: () => undefined, list: () => [], synced: Promise.resolve(), confirmedAt: () => Date.now(), stop: async () => undefined } as unknown as Watched<V1Secret>;
}

/** A leader's certificate manager deciding from `cache`, and the messages it logged. */
function managerOver(namespace: string, cache: Watched<V1Secret>) {
  const messages: string[] = [];
  const log = createLogger({ name: 'test', level: 'info' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  const certs = new CertManager(kc, cache, {
    namespace,
    hosts: ['127.0.0.1'],
    managed: true,
    validDays: 1,
    renewBeforeDays: 0,
    checkPeriodSeconds: 3600,
    mutatingWebhook: 'not-installed',
    validatingWebhook: 'not-installed',
    isLeader: () => true,
    log,
  });
  return { certs, messages };
}

describe('the serving certificate', () => {
  it('is never replaced by a second CA when a TLS Secret appeared after the view the new one was decided from', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = await createNamespace(kc, { prefix: 'tls' });
    // The CA another leader (or this one, a moment earlier) made; injected pods already trust it.
    const now = new Date();
    const first = createCA({ commonName: 'the-first-ca', now, validDays: 1 });
    const serving = issueServingCert({ ca: first, hosts: ['127.0.0.1'], now, validDays: 1 });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const written = await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: TLS_SECRET }, type: 'kubernetes.io/tls', data: { 'ca.crt': b64(first.certPem), 'ca.key': b64(first.keyPem), 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) } },
    });
    // The view: no Secret when the check decides, the written one once the watch caught up (while
    // the new key pairs were being made).
    const { certs, messages } = managerOver(namespace, laggingCache([undefined, written]));
    await certs.check();
    const after = await core.readNamespacedSecret({ name: TLS_SECRET, namespace });
    expect(after.metadata?.resourceVersion).toBe(written.metadata?.resourceVersion);
    expect(Buffer.from(after.data?.['ca.crt'] ?? '', 'base64').toString()).toBe(first.certPem);
    // Kept for the reason under test (its write refused at the version it decided from), not
    // because the check failed early and its error was swallowed.
    expect(messages).toContain('serving certificate not written: the Secret changed since the decision; keeping the one written meanwhile');
    expect(messages.filter((m) => /check failed/.test(m))).toEqual([]);
  });

  it('is written when there is none in the API either (the control of the case above)', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = await createNamespace(kc, { prefix: 'tls-control' });
    const { certs, messages } = managerOver(namespace, laggingCache([undefined]));
    await certs.check();
    const after = await core.readNamespacedSecret({ name: TLS_SECRET, namespace });
    expect(Buffer.from(after.data?.['ca.crt'] ?? '', 'base64').toString()).toMatch(/BEGIN CERTIFICATE/);
    expect(messages).toContain('serving certificate created');
    expect(messages.filter((m) => /check failed/.test(m))).toEqual([]);
  });
});
