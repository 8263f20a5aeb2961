/**
 * The reconciler's fast path (src/operator/kube/rest.ts) against the real apiserver: answers,
 * errors that carry the status the controller branches on (404, 409) and no data, status patches
 * on the CRD's subresource, watches, and credentials read again
 * from the KubeConfig.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Secret, type V1SecretList } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KubeApiError, KubeRest } from '../../src/operator/kube/rest.js';
import { statusCode } from '../../src/operator/kube/client.js';
import { watchSecrets } from '../../src/operator/kube/informers.js';
import { createLogger } from '../../src/core/logger.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let rest: KubeRest;
let namespace: string;
const canary = 'rest-canary-value-7c1e';

beforeAll(async () => {
  kc = adminKubeConfig(cp);
  await installCrd(kc);
  namespace = await createNamespace(kc, { prefix: 'rest' });
  rest = new KubeRest(kc, () => AbortSignal.timeout(10_000));
});

afterAll(() => rest?.dropConnections());

const secretsPath = () => `/api/v1/namespaces/${namespace}/secrets`;
const body = (name: string): V1Secret => ({ metadata: { name }, stringData: { value: canary } });

describe('the fast path to the apiserver', () => {
  it('creates, reads, replaces and deletes, answering parsed objects', async () => {
    const created = await rest.send<V1Secret>({ method: 'POST', path: secretsPath(), body: body('one') });
    expect(created.metadata?.name).toBe('one');
    expect(Buffer.from(created.data?.value ?? '', 'base64').toString()).toBe(canary);
    const read = await rest.send<V1Secret>({ method: 'GET', path: `${secretsPath()}/one` });
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    const replaced = await rest.send<V1Secret>({ method: 'PUT', path: `${secretsPath()}/one`, body: { ...read, data: { value: Buffer.from('other').toString('base64') } } });
    expect(replaced.metadata?.resourceVersion).not.toBe(read.metadata?.resourceVersion);
    await rest.send({ method: 'DELETE', path: `${secretsPath()}/one` });
    await expect(kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'one', namespace })).rejects.toMatchObject({ code: 404 });
  });

  it('fails with the status and reason the controller branches on, and never with the data it sent', async () => {
    await rest.send({ method: 'POST', path: secretsPath(), body: body('twice') });
    const conflict = await rest.send({ method: 'POST', path: secretsPath(), body: body('twice') }).catch((err: unknown) => err);
    expect(conflict).toBeInstanceOf(KubeApiError);
    expect(statusCode(conflict)).toBe(409);
    expect((conflict as KubeApiError).reason).toBe('AlreadyExists');
    expect((conflict as Error).message).toContain('"twice" already exists');
    expect((conflict as Error).message).not.toContain(canary);
    const missing = await rest.send({ method: 'GET', path: `${secretsPath()}/none` }).catch((err: unknown) => err);
    expect(statusCode(missing)).toBe(404);
    expect((missing as KubeApiError).reason).toBe('NotFound');
    // A stale resourceVersion: the replace of an object changed meanwhile is refused, not applied.
    const stale = await rest.send({ method: 'PUT', path: `${secretsPath()}/twice`, body: { ...body('twice'), metadata: { name: 'twice', resourceVersion: '1' } } }).catch((err: unknown) => err);
    expect(statusCode(stale)).toBe(409);
  });

  it('merge-patches the status subresource of an OrkaSecret', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace, body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'patched' }, spec: {} } });
    await rest.send({
      method: 'PATCH',
      path: `/apis/orka.io/v1alpha1/namespaces/${namespace}/orkasecrets/patched/status`,
      body: { status: { version: 3 } },
      contentType: 'application/merge-patch+json',
    });
    const read = (await custom.getNamespacedCustomObject({ group: 'orka.io', version: 'v1alpha1', plural: 'orkasecrets', namespace, name: 'patched' })) as { status?: { version?: number } };
    expect(read.status?.version).toBe(3);
  });

  it('streams watch events from a version, and ends when asked', async () => {
    const list = await rest.send<V1SecretList>({ method: 'GET', path: secretsPath() });
    const events: Array<{ type: string; name?: string }> = [];
    let ended: unknown = 'not yet';
    const controller = await rest.watch(
      `${secretsPath()}?watch=true&resourceVersion=${list.metadata?.resourceVersion}`,
      undefined,
      (e) => events.push({ type: e.type, name: (e.object as V1Secret).metadata?.name }),
      (err) => (ended = err),
    );
    await rest.send({ method: 'POST', path: secretsPath(), body: body('watched') });
    await expect.poll(() => events, { timeout: 10_000 }).toContainEqual({ type: 'ADDED', name: 'watched' });
    controller.abort();
    await expect.poll(() => ended, { timeout: 5_000 }).not.toBe('not yet');

  });

  it('fills a cache whose list page is far larger than one object (six Secrets of 900 KiB in one page)', { timeout: 60_000 }, async () => {
    const big = await createNamespace(kc, { prefix: 'rest-big' });
    const blob = Buffer.alloc(900 * 1024, 0x61).toString('base64');
    for (let i = 0; i < 6; i++) await rest.send({ method: 'POST', path: `/api/v1/namespaces/${big}/secrets`, body: { metadata: { name: `big-${i}`, labels: { size: 'large' } }, data: { blob } } });
    const cache = watchSecrets(kc, createLogger({ name: 'test', level: 'silent' }), { namespaces: [big], labelSelector: 'size=large' });
    try {
      await cache.synced;
      expect(cache.list(big)).toHaveLength(6);
    } finally {
      await cache.stop();
    }
  });

  it('reads the credentials again from the KubeConfig (a rotated token is used, a revoked one fails)', async () => {
    const changing = new KubeConfig();
    changing.loadFromString(kc.exportConfig());
    const fresh = new KubeRest(changing, () => AbortSignal.timeout(10_000), 0);
    try {
      await fresh.send({ method: 'GET', path: secretsPath() });
      (changing.getCurrentUser() as { token?: string }).token = 'not-a-valid-token';
      const denied = await fresh.send({ method: 'GET', path: secretsPath() }).catch((err: unknown) => err);
      expect(statusCode(denied)).toBe(401);
      expect((denied as Error).message).not.toContain('not-a-valid-token');
    } finally {
      fresh.dropConnections();
    }
  });
});
