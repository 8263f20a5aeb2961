/**
 * The admission webhooks called by the real apiserver: sidecar injection into pods, refusal of
 * invalid OrkaSecrets at kubectl apply time, and certificate renewal while serving.
 */
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { connect } from 'node:tls';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seal } from '../../src/core/envelope.js';
import { createCA, issueServingCert } from '../../src/core/pki.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, kubectl, uniqueName } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';
import { restrictedViolations } from '../env/pod-security.js';
import { caBundlePublished, installWebhooks, removeWebhooks, SCOPE_LABEL } from '../env/webhooks.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let operator: OperatorProcess;
let tenant: string;
let plain: string;
const hookName = uniqueName('orka-secrets-test');

const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
/** A sealed value for `name` in `namespace` (default: the tenant) of tenant id `tenantId`; admission reads only its clear-text label. */
function sealedFor(namespace: string | undefined, name: string, tenantId = 'hooks'): () => string {
  return () => seal({ publicKey, keyId: 'k', tenantId, namespace: namespace ?? tenant, name, value: Buffer.from('v') }).toString('base64');
}

function runner(name: string, labels: Record<string, string>): V1Pod {
  // automountServiceAccountToken off: with no controller-manager, no legacy token Secret exists,
  // and the ServiceAccount admission plugin of 1.20 would refuse the pod for want of one.
  return { metadata: { name, labels }, spec: { automountServiceAccountToken: false, containers: [{ name: 'runner', image: 'runner:1' }] } };
}

/** SHA-256 of the certificate the server presents now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(createHash('sha256').update(raw).digest('hex'));
    });
    socket.on('error', reject);
  });
}

/** SHA-256 of the certificate the server presents, after a handshake that trusts only `caPem` (as a sidecar's does). */
function verifiedFingerprint(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem, rejectUnauthorized: true }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(createHash('sha256').update(raw).digest('hex'));
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  core = kc.makeApiClient(CoreV1Api);
  await installCrd(kc);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-hooks' });
  tenant = await createNamespace(kc, { prefix: 'hook-tenant', tenant: 'hooks', labels: { [SCOPE_LABEL]: hookName } });
  plain = await createNamespace(kc, { prefix: 'hook-plain', labels: { [SCOPE_LABEL]: hookName } });
  // No controller-manager here: the ServiceAccount admission plugin needs "default" to exist.
  for (const ns of [tenant, plain]) await createServiceAccount(kc, ns, 'default');
  operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: opNamespace,
    identity: 'hooks-op',
    env: {
      ORKA_WATCH_NAMESPACES: [tenant, plain].join(','),
      ORKA_MUTATING_WEBHOOK: hookName,
      ORKA_VALIDATING_WEBHOOK: hookName,
      ORKA_SIDECAR_IMAGE: 'orka-secrets:test',
      // Short-lived certificates, checked every second: renewal happens during this file.
      ORKA_CERT_VALIDITY: '40s',
      ORKA_CERT_RENEW_BEFORE: '30s',
      ORKA_CERT_CHECK_PERIOD: '1s',
    },
  });
  await operator.waitForLog(/resolver API and webhooks listening/);
  await installWebhooks(kc, { name: hookName, url: `https://127.0.0.1:${operator.webhookPort}`, scope: hookName });
  await eventually(async () => ((await caBundlePublished(kc, hookName)) ? true : undefined));
});

afterAll(async () => {
  await removeWebhooks(kc, hookName);
  await operator?.stop();
});

describe('pod injection', () => {
  it('injects an opted-in pod of a tenant namespace', async () => {
    const pod = await core.createNamespacedPod({ namespace: tenant, body: runner('with-label', { 'orka.io/inject': 'true' }) });
    expect(pod.metadata?.annotations?.['orka.io/status']).toBe('injected');
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['runner', 'orka-secrets']);
    const sidecar = pod.spec?.containers[1];
    expect(sidecar?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(sidecar?.env?.find((e) => e.name === 'ORKA_CA_PEM')?.value).toContain('BEGIN CERTIFICATE');
    expect(pod.spec?.containers[0]?.env).toContainEqual({ name: 'ORKA_SECRETS_URL', value: 'http://127.0.0.1:8731' });
    const volume = pod.spec?.volumes?.find((v) => v.name === 'orka-secrets-token');
    expect(volume?.projected?.sources?.[0]?.serviceAccountToken).toMatchObject({ audience: 'orka-secrets', path: 'token' });
    // Only the sidecar mounts the token.
    expect(pod.spec?.containers[0]?.volumeMounts ?? []).toEqual([]);
  });

  // 1.20 has no Pod Security admission: the profile's rules are checked on the admitted pod,
  // field by field (test/env/pod-security.ts), as the apiserver stored it.
  it('keeps a pod that meets Pod Security "restricted" within it', async () => {
    const body = runner('restricted', { 'orka.io/inject': 'true' });
    body.spec!.containers[0]!.securityContext = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } };
    const pod = await core.createNamespacedPod({ namespace: tenant, body });
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['runner', 'orka-secrets']);
    expect(restrictedViolations(pod.spec!, pod.metadata?.annotations)).toEqual([]);
  });

  it('leaves pods without the label, and pods outside tenant namespaces', async () => {
    const unlabelled = await core.createNamespacedPod({ namespace: tenant, body: runner('no-label', {}) });
    expect(unlabelled.spec?.containers.map((c) => c.name)).toEqual(['runner']);
    const elsewhere = await core.createNamespacedPod({ namespace: plain, body: runner('not-tenant', { 'orka.io/inject': 'true' }) });
    expect(elsewhere.spec?.containers.map((c) => c.name)).toEqual(['runner']);
    expect(elsewhere.metadata?.annotations?.['orka.io/status']).toBeUndefined();
  });

  it('does not inject twice: a pod that already has the sidecar is admitted unchanged', async () => {
    const first = await core.readNamespacedPod({ name: 'with-label', namespace: tenant });
    const again: V1Pod = {
      metadata: { name: 'again', labels: first.metadata?.labels, annotations: first.metadata?.annotations },
      spec: { automountServiceAccountToken: false, containers: first.spec?.containers ?? [], volumes: first.spec?.volumes?.filter((v) => v.name === 'orka-secrets-token') },
    };
    const pod = await core.createNamespacedPod({ namespace: tenant, body: again });
    expect(pod.spec?.containers.filter((c) => c.name === 'orka-secrets')).toHaveLength(1);
    expect(pod.spec?.volumes?.filter((v) => v.name === 'orka-secrets-token')).toHaveLength(1);
    // The log line arrives through a pipe: wait for it rather than read at once.
    await operator.waitForLog(/"outcome":"already-injected"/, 30_000);
  });
});

describe('connections', () => {
  // The apiserver's Go client keeps an idle webhook connection for 90 s and sends the next call
  // on it. A server that closes it first (Node's default: after 5 s, plus 1 s) made every
  // admission after a pause pay a new TLS handshake, and refused the create whose call raced the
  // close ("connection reset by peer", failurePolicy Fail).
  it("keeps an idle connection open past Node's default keep-alive timeout, and admits over it", async () => {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const review = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'idle', namespace: tenant, object: runner('idle', {}) } });
    const post = () =>
      new Promise<{ status?: number; body: string; reused: boolean; socket: Socket }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: operator.webhookPort, path: '/webhooks/mutate-pods', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode, body, reused: req.reusedSocket, socket: req.socket as Socket }));
        });
        req.on('error', reject);
        req.end(review);
      });
    try {
      const first = await post();
      expect(first.status).toBe(200);
      // Idle for longer than Node's default would keep the connection: the server must not close it.
      const closed = await Promise.race([once(first.socket, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 7_000))]);
      expect(closed).toBe(false);
      const second = await post();
      expect(second.reused).toBe(true);
      expect(second.status).toBe(200);
      expect(JSON.parse(second.body).response).toMatchObject({ uid: 'idle', allowed: true });
      // The apiserver's own connection sat idle as long: admission over it still works.
      const pod = await core.createNamespacedPod({ namespace: tenant, body: runner('after-idle', { 'orka.io/inject': 'true' }) });
      expect(pod.metadata?.annotations?.['orka.io/status']).toBe('injected');
    } finally {
      agent.destroy();
    }
  });
});

describe('OrkaSecret validation at kubectl apply time', () => {
  it.each([
    ['api.key', {}, /"\." at position 4/],
    ['api--key', {}, /two hyphens in a row/],
    ['both', { sealedValue: 'AAAA', valueFrom: { secretKeyRef: { name: 'x', key: 'y' } } }, /spec\.sealedValue and spec\.valueFrom are mutually exclusive/],
    ['not-sealed', { sealedValue: 'AAAA' }, /spec\.sealedValue is not a well-formed sealed value: .*orka-secrets -n \S+ seal NOT_SEALED/],
    ['copied-key', { sealedValue: sealedFor('elsewhere', 'COPIED_KEY') }, /sealed for COPIED_KEY in namespace elsewhere, not for COPIED_KEY in namespace hook-tenant/],
    ['renamed-key', { sealedValue: sealedFor(undefined, 'OTHER_KEY') }, /sealed for OTHER_KEY in namespace hook-tenant-\w+, not for RENAMED_KEY/],
    // The namesake: a value of tenant id "gone" in a namespace now labelled orka.io/tenant=hooks.
    ['other-tenant', { sealedValue: sealedFor(undefined, 'OTHER_TENANT', 'gone') }, /sealed for tenant gone, and namespace hook-tenant-\w+ belongs to tenant hooks/],
  ])('refuses %s with the rule', (name, spec, message) => {
    const resolved = Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, typeof v === 'function' ? (v as () => string)() : v]));
    const res = kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name, namespace: tenant }, spec: resolved }));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/admission webhook "orkasecrets\.orka\.io" denied the request/);
    expect(res.stderr).toMatch(message);
  });

  it('accepts a valid one', () => {
    const res = kubectl(cp, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api-key', namespace: tenant }, spec: { description: 'ok' } }));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });
});

describe('certificates', () => {
  it('renews the serving certificate while serving, without a restart; injected pods keep trusting it and admission keeps working', async () => {
    // The CA the sidecars of pods injected before the renewal hold: the renewed certificate must
    // be one they accept, over a real TLS handshake naming the operator's address.
    const holder = await core.createNamespacedPod({ namespace: tenant, body: runner('ca-holder', { 'orka.io/inject': 'true' }) });
    const podCa = holder.spec?.containers.find((c) => c.name === 'orka-secrets')?.env?.find((e) => e.name === 'ORKA_CA_PEM')?.value ?? '';
    expect(new X509Certificate(podCa).ca).toBe(true);
    // One handshake, trusting only the pod's CA: two (one to read, one to verify) could straddle
    // a renewal, which is due every few seconds here.
    const before = await verifiedFingerprint(operator.resolverPort, podCa);
    let admitted = 0;
    const admit = async () => {
      const pod = await core.createNamespacedPod({ namespace: tenant, body: runner(`renewal-${admitted++}`, { 'orka.io/inject': 'true' }) });
      expect(pod.metadata?.annotations?.['orka.io/status']).toBe('injected');
    };
    // Admitting pods all along (a failed admission fails the test at once): the swap must never
    // make the apiserver's webhook calls fail. Bounded generously; renewal is due 10 s after issue.
    const until = Date.now() + 90_000;
    for (let round = 0; ; round++) {
      await admit();
      if ((await servedFingerprint(operator.resolverPort)) !== before) break;
      if (Date.now() > until || round > 90_000 / 250) throw new Error('the serving certificate was not renewed in 90 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    for (let i = 0; i < 3; i++) await admit();
    await operator.waitForLog(/serving certificate renewed/, 30_000);
    expect(operator.proc.exitCode).toBeNull();
    const renewed = await verifiedFingerprint(operator.resolverPort, podCa);
    expect(renewed).not.toBe(before);
    // The webhook listener has the renewed certificate too (the apiserver checks it against the CA bundle).
    await eventually(async () => ((await verifiedFingerprint(operator.webhookPort, podCa)) === renewed ? true : undefined));
  });
});

describe('certificates from elsewhere (cert-manager)', () => {
  it('with ORKA_TLS_MANAGED=false, serves the certificate it is given and swaps in a new one', async () => {
    const ns = await createNamespace(kc, { prefix: 'orka-ext-tls' });
    const external = await startOperator({
      kubeconfigPath: cp.kubeconfigPath,
      namespace: ns,
      identity: 'external-tls',
      env: { ORKA_WATCH_NAMESPACES: ns, ORKA_TLS_MANAGED: 'false', ORKA_MUTATING_WEBHOOK: `${hookName}-none`, ORKA_VALIDATING_WEBHOOK: `${hookName}-none` },
    });
    try {
      await external.waitForLog(/became leader/);
      // It must not make its own: nothing listens until the Secret exists. No sleep to give it a
      // chance: the create below fails (409) if it made one first, and the log check at the end
      // and the served certificate catch one made later.
      const write = async (serving: { certPem: string; keyPem: string }, ca: string, replace: boolean) => {
        const body = { metadata: { name: 'orka-secrets-tls', namespace: ns }, type: 'kubernetes.io/tls', stringData: { 'ca.crt': ca, 'tls.crt': serving.certPem, 'tls.key': serving.keyPem } };
        if (replace) await core.replaceNamespacedSecret({ name: 'orka-secrets-tls', namespace: ns, body });
        else await core.createNamespacedSecret({ namespace: ns, body });
      };
      const fingerprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
      const ca = createCA({ commonName: 'cert-manager-ca', now: new Date(), validDays: 1 });
      const first = issueServingCert({ ca, hosts: ['127.0.0.1'], now: new Date(), validDays: 1 });
      await write(first, ca.certPem, false);
      await external.waitForLog(/resolver API and webhooks listening/);
      expect(await servedFingerprint(external.resolverPort)).toBe(fingerprint(first.certPem));
      const second = issueServingCert({ ca, hosts: ['127.0.0.1'], now: new Date(), validDays: 1 });
      await write(second, ca.certPem, true);
      await eventually(async () => ((await servedFingerprint(external.resolverPort)) === fingerprint(second.certPem) ? true : undefined));
      await eventually(async () => ((await servedFingerprint(external.webhookPort)) === fingerprint(second.certPem) ? true : undefined));
      expect(external.logs.some((l) => l.includes('serving certificate renewed') || l.includes('serving certificate created'))).toBe(false);
    } finally {
      await external.stop();
    }
  });
});
