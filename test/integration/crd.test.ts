import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, kubectl, requestToken, reviewToken } from '../env/kube.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let namespace: string;
const sealed = Buffer.from('not really sealed, but base64 all the same').toString('base64');

function osec(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name }, spec };
}

async function create(name: string, spec: Record<string, unknown>): Promise<unknown> {
  return kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', namespace, plural: 'orkasecrets', body: osec(name, spec) });
}

/** The apiserver's message when it refuses an object. */
async function refusal(name: string, spec: Record<string, unknown>): Promise<string> {
  try {
    await create(name, spec);
  } catch (err) {
    const e = err as { code?: number; body?: string };
    expect(e.code).toBe(422);
    return (JSON.parse(e.body ?? '{}') as { message?: string }).message ?? '';
  }
  throw new Error(`${name} was accepted`);
}

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  const crd = await installCrd(kc);
  expect(crd.status?.acceptedNames?.shortNames).toEqual(['osec']);
  namespace = await createNamespace(kc, { prefix: 'crd', tenant: 'acme' });
});

describe('the OrkaSecret CRD', () => {
  it('is Established with its names and category', () => {
    const res = kubectl(cp, ['get', 'crd', 'orkasecrets.orka.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status} {.spec.names.categories}']);
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.stdout).toBe('True ["orka"]');
  });

  it.each([
    ['sealed', { description: 'Stripe live key', sealedValue: sealed }],
    ['from-secret', { valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } }],
    ['no-source', { description: 'keep the stored value' }],
    ['empty', {}],
    ['long-description', { description: 'd'.repeat(1024), sealedValue: sealed }],
    // Both sources pass the schema on 1.20 (no CEL): the operator's validating webhook refuses
    // them in words (webhook.test.ts), and the operator stores nothing (operator.test.ts).
    ['both-sources', { sealedValue: sealed, valueFrom: { secretKeyRef: { name: 'a', key: 'b' } } }],
  ])('accepts a valid object (%s)', async (name, spec) => {
    await expect(create(name, spec)).resolves.toMatchObject({ metadata: { name, namespace } });
  });

  it.each([
    ['a description over 1024 characters', 'too-long', { description: 'd'.repeat(1025) }, /spec\.description in body should be at most 1024 chars long/],
    ['a description that is not a string', 'wrong-type', { description: 5 }, /spec\.description: Invalid value: "integer": spec\.description in body must be of type string/],
    ['a secretKeyRef without key', 'no-key', { valueFrom: { secretKeyRef: { name: 'a' } } }, /spec\.valueFrom\.secretKeyRef\.key: Required value/],
    ['a sealedValue that is not base64', 'not-base64', { sealedValue: 'hello world!' }, /spec\.sealedValue in body should match/],
    ['valueFrom without secretKeyRef', 'empty-from', { valueFrom: {} }, /spec\.valueFrom\.secretKeyRef: Required value/],
  ])('refuses %s with a message naming the field and the rule', async (_what, name, spec, message) => {
    expect(await refusal(name, spec)).toMatch(message);
  });

  it('refuses a plain-text value without echoing it', () => {
    const manifest = JSON.stringify({ ...osec('plain', { value: 'hunter2-canary' }), metadata: { name: 'plain', namespace } });
    const res = kubectl(cp, ['apply', '-f', '-'], manifest);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/"spec\.value" must not validate the schema/);
    expect(res.stderr + res.stdout).not.toContain('hunter2-canary');
    expect(kubectl(cp, ['get', 'osec', 'plain', '-n', namespace]).code).not.toBe(0);
  });

  it('prints SECRET, DESCRIPTION, REFERENCE, READY, REASON and AGE with kubectl get osec', () => {
    const res = kubectl(cp, ['get', 'osec', '-n', namespace]);
    expect(res.code).toBe(0);
    const [header, ...rows] = res.stdout.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'SECRET', 'DESCRIPTION', 'REFERENCE', 'READY', 'REASON', 'AGE']);
    expect(rows.find((r) => r.startsWith('sealed '))).toMatch(/Stripe live key/);
    const wide = kubectl(cp, ['get', 'orka', '-n', namespace, '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/VERSION\s+LAST-USED/);
  });

  it('teaches the resource through kubectl explain', () => {
    const res = kubectl(cp, ['explain', 'orkasecret.spec']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/sealedValue/);
    expect(res.stdout).toMatch(/A plain-text value field is refused/);
    expect(kubectl(cp, ['explain', 'osec.status.conditions.reason']).stdout).toMatch(/SealedForAnotherSecret/);
  });

  it('keeps status behind the status subresource', async () => {
    const api = kc.makeApiClient(CustomObjectsApi);
    const coords = { group: 'orka.io', version: 'v1alpha1', namespace, plural: 'orkasecrets', name: 'sealed' };
    const current = (await api.getNamespacedCustomObject(coords)) as { status?: unknown; metadata: Record<string, unknown> };
    await api.replaceNamespacedCustomObject({ ...coords, body: { ...current, status: { secretName: 'IGNORED' } } });
    expect(((await api.getNamespacedCustomObject(coords)) as { status?: unknown }).status).toBeUndefined();
    const fresh = (await api.getNamespacedCustomObject(coords)) as Record<string, unknown>;
    await api.replaceNamespacedCustomObjectStatus({ ...coords, body: { ...fresh, status: { secretName: 'SEALED', reference: '{{secrets.SEALED}}', version: 1 } } });
    expect(((await api.getNamespacedCustomObject(coords)) as { status?: unknown }).status).toEqual({ secretName: 'SEALED', reference: '{{secrets.SEALED}}', version: 1 });
  });
});

describe('service-account tokens from the helper', () => {
  it('pass a TokenReview for their audience and fail for another', async () => {
    await createServiceAccount(kc, namespace, 'runner');
    const token = await requestToken(kc, { namespace, serviceAccount: 'runner', audience: 'orka-secrets' });
    const ok = await reviewToken(kc, token, ['orka-secrets']);
    expect(ok.authenticated).toBe(true);
    expect(ok.user?.username).toBe(`system:serviceaccount:${namespace}:runner`);
    expect(ok.audiences).toEqual(['orka-secrets']);
    const other = await reviewToken(kc, token, ['something-else']);
    expect(other.authenticated).toBeFalsy();
    const forged = await reviewToken(kc, `${token.slice(0, -4)}AAAA`, ['orka-secrets']);
    expect(forged.authenticated).toBeFalsy();
  });
});
