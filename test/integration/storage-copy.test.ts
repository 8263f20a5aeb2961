/**
 * Stored ciphertext copied by hand (a storage Secret's data written into another OrkaSecret's
 * storage, under another name or in another tenant's namespace) opens nowhere: each value is
 * sealed with its tenant's data key and bound to tenant, name and version, so the copy serves
 * nothing, and the object says so: DecryptFailed under another name, DataKeyLost in another
 * tenant (whose data keys do not include the one the copy names). The targets here have no
 * source (their value was given once and kept), so nothing can store over the copy and the
 * outcome stays put. Real operator, real apiserver.
 */
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canaries, findLeaks, osecCoords } from '../env/canary.js';
import { waitForReady } from '../env/kube.js';
import { install, putSealed } from '../env/installation.js';
import { eventually, podCredentials, resolveExchange, type OperatorProcess } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let opNamespace: string;
let tenantA: string;
let tenantB: string;
let operator: OperatorProcess;
const planted = canaries('CANARY-copy');

/** Stores `value` as NAME in `namespace`, then drops its source: the value is kept, with nothing to store again from. */
async function storeKept(namespace: string, name: string, value: string): Promise<void> {
  const object = name.toLowerCase().replaceAll('_', '-');
  await putSealed(kc, opNamespace, namespace, name, value);
  await custom.patchNamespacedCustomObject({ ...osecCoords(namespace), name: object, body: { spec: { sealedValue: null } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  await waitForReady(kc, namespace, object, 'Stored', (o) => o.spec?.sealedValue === undefined);
}

/** Writes the data of storage Secret `from` over that of storage Secret `to` (labels and owner kept). */
async function copyStorage(from: { namespace: string; object: string }, to: { namespace: string; object: string }): Promise<void> {
  const source = await core.readNamespacedSecret({ name: `orkasecret-${from.object}`, namespace: from.namespace });
  const target = await core.readNamespacedSecret({ name: `orkasecret-${to.object}`, namespace: to.namespace });
  await core.replaceNamespacedSecret({ name: `orkasecret-${to.object}`, namespace: to.namespace, body: { ...target, data: source.data } });
}

beforeAll(async () => {
  let tenants: string[];
  ({ kc, opNamespace, operator, tenants } = await install(cp, 'copy', { tenantIds: ['copy-a', 'copy-b'] }));
  [tenantA, tenantB] = tenants as [string, string];
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
}, 90_000);

afterAll(async () => {
  await operator?.stop('SIGKILL');
});

describe('storage copied by hand', () => {
  it.each([
    // The tenant's data key opens nothing bound to another name.
    ['under another name of the same tenant', 'SAME_TENANT_TARGET', () => tenantA, 'DecryptFailed', 'the stored value cannot be decrypted with the keys this operator has'],
    // Another tenant does not even hold the data key the copy names.
    ['into another tenant, under the same name', 'ORIGINAL', () => tenantB, 'DataKeyLost', 'names a data key namespace'],
  ])('%s serves nothing', { timeout: 90_000 }, async (_label, targetName, targetNamespace, reason, message) => {
    const namespace = targetNamespace();
    const targetObject = targetName.toLowerCase().replaceAll('_', '-');
    const original = planted.make(`original-${namespace}-${targetName}`);
    const own = planted.make(`own-${namespace}-${targetName}`);
    if (!(await exists(tenantA, 'original'))) await storeKept(tenantA, 'ORIGINAL', original);
    await storeKept(namespace, targetName, own);
    const credentials = await podCredentials(kc, opNamespace, namespace);
    // Positive control: the target serves its own value before the copy.
    expect((await resolveExchange(credentials, operator, [targetName])).body.values).toEqual({ [targetName]: own });
    const copied = (await resolveExchange(await podCredentials(kc, opNamespace, tenantA), operator, ['ORIGINAL'])).body.values?.ORIGINAL as string;

    await copyStorage({ namespace: tenantA, object: 'original' }, { namespace, object: targetObject });

    // Every answer from the copy on: the target's own value (until the cache has the copy) or
    // missing, never the copied one; it settles at missing.
    const answers: unknown[] = [];
    await eventually(async () => {
      const answer = await resolveExchange(credentials, operator, [targetName]);
      answers.push(answer.body);
      return answer.status === 200 && answer.body.missing?.includes(targetName) ? true : undefined;
    }, 30_000);
    expect(findLeaks(JSON.stringify(answers), [copied])).toEqual([]);
    const status = await waitForReady(kc, namespace, targetObject, reason);
    expect(status.status?.conditions?.[0]?.status).toBe('False');
    expect(status.status?.conditions?.[0]?.message).toContain(message);
    // The original still serves in its place.
    expect((await resolveExchange(await podCredentials(kc, opNamespace, tenantA), operator, ['ORIGINAL'])).body.values).toEqual({ ORIGINAL: copied });
  });
});

async function exists(namespace: string, object: string): Promise<boolean> {
  return await custom.getNamespacedCustomObject({ ...osecCoords(namespace), name: object }).then(
    () => true,
    () => false,
  );
}
