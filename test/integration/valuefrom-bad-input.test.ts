/**
 * A `valueFrom` source that turns into bad input after its value was stored (bytes that are not
 * UTF-8, more than 64 KiB, its key removed, the Secret deleted): the value stored before stays
 * served, unchanged, and the Ready condition says what was refused and which version is served.
 * Real operator, real apiserver (the admission record stamped as the webhook would).
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MAX_VALUE_BYTES } from '../../src/core/envelope.js';
import { canaries, osecCoords } from '../env/canary.js';
import { getOrkaSecret, waitForReady } from '../env/kube.js';
import { install } from '../env/installation.js';
import { expectNoValueReported } from '../env/leak-scan.js';
import { eventually, podCredentials, resolveExchange, type OperatorProcess } from '../env/operator.js';
import { admissionRecord } from '../env/webhooks.js';

const cp = inject('controlPlane');
let kc: KubeConfig;
let core: CoreV1Api;
let opNamespace: string;
let tenant: string;
let operator: OperatorProcess;
const planted = canaries('CANARY-badsource');

beforeAll(async () => {
  ({ kc, opNamespace, operator, tenant } = await install(cp, 'badsource'));
  core = kc.makeApiClient(CoreV1Api);
}, 90_000);

afterAll(async () => {
  await operator?.stop('SIGKILL');
});

/** What each case does to the source Secret `name` (key `value`), the reason it must give, and the refusal it must name. */
const cases: [string, (name: string) => Promise<unknown>, string, RegExp][] = [
  ['bytes that are not UTF-8', (name) => core.replaceNamespacedSecret({ name, namespace: tenant, body: { metadata: { name }, data: { value: Buffer.from([0xff, 0xfe, 0x41, 0xc3]).toString('base64') } } }), 'ValueNotUTF8', /is not UTF-8 text/],
  ['more than 64 KiB', (name) => core.replaceNamespacedSecret({ name, namespace: tenant, body: { metadata: { name }, stringData: { value: 'x'.repeat(MAX_VALUE_BYTES + 1) } } }), 'ValueTooLarge', new RegExp(`the value is ${MAX_VALUE_BYTES + 1} bytes; at most ${MAX_VALUE_BYTES}`)],
  ['its key removed', (name) => core.replaceNamespacedSecret({ name, namespace: tenant, body: { metadata: { name }, stringData: { other: 'not the key' } } }), 'SourceNotFound', /has no key value/],
  ['the Secret deleted', (name) => core.deleteNamespacedSecret({ name, namespace: tenant }), 'SourceNotFound', /does not exist in namespace/],
];

describe('a valueFrom source changed to bad input after a store', () => {
  it.each(cases)('%s: the previous value stays served, the condition says why', { timeout: 90_000 }, async (label, spoil, reason, refusal) => {
    const object = `from-${label.replaceAll(/[^a-z0-9]+/g, '-').replace(/-$/, '')}`.slice(0, 40);
    const secretName = object.toUpperCase().replaceAll('-', '_');
    const source = `${object}-src`;
    const value = planted.make(object);
    await core.createNamespacedSecret({ namespace: tenant, body: { metadata: { name: source }, stringData: { value } } });
    const ref = { name: source, key: 'value' };
    const annotations = await admissionRecord(kc, opNamespace, tenant, object, ref);
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...osecCoords(tenant), body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: object, annotations }, spec: { valueFrom: { secretKeyRef: ref } } } });
    const stored = await waitForReady(kc, tenant, object, 'Stored', (o) => o.status?.version === 1);
    const storage = await core.readNamespacedSecret({ name: `orkasecret-${object}`, namespace: tenant });
    const credentials = await podCredentials(kc, opNamespace, tenant);
    expect((await resolveExchange(credentials, operator, [secretName])).body.values).toEqual({ [secretName]: value });

    await spoil(source);

    const refused = await waitForReady(kc, tenant, object, reason);
    const ready = refused.status?.conditions?.find((c) => c.type === 'Ready');
    // Ready stays True: workflows still resolve the version stored before, and the message says so.
    expect(ready?.status).toBe('True');
    expect(ready?.message).toMatch(refusal);
    expect(ready?.message).toContain('nothing new was stored: the previous value (version 1) is still served');
    expect(refused.status?.version).toBe(1);
    expect(refused.status?.valueUpdatedAt).toBe(stored.status?.valueUpdatedAt);
    // The storage is the one written before, and the value served is the one stored before.
    expect((await core.readNamespacedSecret({ name: `orkasecret-${object}`, namespace: tenant })).metadata?.resourceVersion).toBe(storage.metadata?.resourceVersion);
    expect((await resolveExchange(credentials, operator, [secretName])).body).toMatchObject({ values: { [secretName]: value }, missing: [] });
    // A Warning Event says it too.
    await eventually(async () => {
      const events = (await core.listNamespacedEvent({ namespace: tenant })).items;
      return events.some((e) => e.involvedObject.name === object && e.type === 'Warning' && e.reason === reason) ? true : undefined;
    });
    expect((await getOrkaSecret(kc, tenant, object)).status?.observedGeneration).toBe(1);
  });

  it('no value in the operator\'s logs, the conditions (which name each refusal) or the Events', async () => {
    expect(planted.all).toHaveLength(cases.length);
    await expectNoValueReported({ kc, namespaces: [tenant, opNamespace], logs: operator.logs, planted: planted.all, control: canaries('CONTROL').make('control') });
  });
});
