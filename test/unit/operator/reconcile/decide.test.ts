import { describe, expect, it } from 'vitest';
import type { V1Secret } from '@kubernetes/client-node';
import { createConflict, decide, type Observed } from '../../../../src/operator/reconcile/decide.js';
import type { OrkaSecretStatus } from '../../../../src/api/resource.js';

const now = new Date('2026-11-27T10:00:00Z');
const v = (s: string) => Buffer.from(s);

function observed(over: Partial<Observed> = {}): Observed {
  return {
    namespace: 'acme',
    object: { generation: 1 },
    secretName: { ok: true, name: 'API_KEY' },
    tenancy: { tenant: true },
    incoming: { kind: 'value', value: v('one'), source: 'sealedValue' },
    now,
    ...over,
  };
}

function ready(status: OrkaSecretStatus | undefined) {
  return status?.conditions?.find((c) => c.type === 'Ready');
}

describe('decide', () => {
  it('stores a new value as version 1 with status and reference, and no Event (a routine first store)', () => {
    const plan = decide(observed());
    expect(plan.storage).toEqual({ op: 'write', version: 1, value: v('one') });
    expect(plan.status).toMatchObject({ secretName: 'API_KEY', reference: '{{secrets.API_KEY}}', version: 1, valueUpdatedAt: now.toISOString(), observedGeneration: 1 });
    expect(ready(plan.status)).toMatchObject({ status: 'True', reason: 'Stored' });
    expect(plan.events.filter((e) => e.reason === 'Stored')).toEqual([]);
    expect(plan.outcome).toBe('Stored');
  });

  it('records an Event when a value is replaced, or stored after a failure', () => {
    const first = decide(observed());
    const replaced = decide(observed({ object: { generation: 2, status: first.status }, stored: { version: 1, value: v('one') }, incoming: { kind: 'value', value: v('two-two'), source: 'sealedValue' } }));
    expect(replaced.events).toEqual([{ type: 'Normal', reason: 'Stored', message: 'value stored as version 2' }]);
    const failed = decide(observed({ incoming: { kind: 'undecryptable' } }));
    const recovered = decide(observed({ object: { generation: 2, status: failed.status } }));
    expect(recovered.events).toContainEqual({ type: 'Normal', reason: 'Stored', message: 'value stored as version 1' });
  });

  it('warns with an Event when the value stored is very short, without saying its length', () => {
    const short = decide(observed({ incoming: { kind: 'value', value: v('abc'), source: 'sealedValue' } }));
    expect(short.storage).toMatchObject({ op: 'write' });
    expect(short.events).toEqual([{ type: 'Warning', reason: 'ShortValue', message: expect.stringContaining('fewer than 6 characters') }]);
    expect(decide(observed({ incoming: { kind: 'value', value: v('long-enough'), source: 'sealedValue' } })).events).toEqual([]);
  });

  it('refuses a value that is not UTF-8 text, storing nothing (a previous value stays served)', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x80]);
    const plan = decide(observed({ incoming: { kind: 'value', value: bytes, source: 'valueFrom' } }));
    expect(plan.storage).toEqual({ op: 'keep' });
    expect(ready(plan.status)).toMatchObject({ status: 'False', reason: 'ValueNotUTF8', message: expect.stringContaining('base64') });
    const kept = decide(observed({ stored: { version: 2, value: v('earlier-value') }, incoming: { kind: 'value', value: bytes, source: 'valueFrom' } }));
    expect(kept.storage).toEqual({ op: 'keep' });
    expect(ready(kept.status)).toMatchObject({ status: 'True', reason: 'ValueNotUTF8', message: expect.stringContaining('version 2) is still served') });
  });

  it('is level-based: applying the plan and observing again changes nothing', () => {
    const first = decide(observed());
    const again = decide(observed({ object: { generation: 1, status: first.status }, stored: { version: 1, value: v('one') }, now: new Date(now.getTime() + 60_000) }));
    expect(again).toEqual({ storage: { op: 'keep' }, events: [], outcome: 'Stored' });
  });

  it('bumps the version only when the value changes', () => {
    const status = decide(observed()).status;
    const same = decide(observed({ object: { generation: 2, status }, stored: { version: 1, value: v('one') } }));
    expect(same.storage).toEqual({ op: 'keep' });
    expect(same.status?.version).toBe(1);
    expect(same.status?.observedGeneration).toBe(2);
    expect(same.events).toEqual([]);
    const changed = decide(observed({ object: { generation: 3, status }, stored: { version: 1, value: v('one') }, incoming: { kind: 'value', value: v('two'), source: 'valueFrom' } }));
    expect(changed.storage).toEqual({ op: 'write', version: 2, value: v('two') });
    expect(changed.status?.version).toBe(2);
  });

  it('writes a storage Secret deleted by hand back with the same version', () => {
    const status = decide(observed()).status;
    const restored = decide(observed({ object: { generation: 1, status: { ...status, version: 3 } } }));
    expect(restored.storage).toEqual({ op: 'write', version: 3, value: v('one') });
    expect(restored.status).toBeUndefined();
    expect(restored.events).toEqual([{ type: 'Warning', reason: 'Stored', message: 'the storage Secret was missing: value stored again as version 3' }]);
    // The spec changed meanwhile: a new value, a new version.
    const changed = decide(observed({ object: { generation: 2, status: { ...status, version: 3 } } }));
    expect(changed.storage).toEqual({ op: 'write', version: 4, value: v('one') });
  });

  it('a data key deleted by hand: a value with a source is stored again, one without is reported lost by name', () => {
    const status = decide(observed()).status;
    const lostKey = { version: 2, undecryptable: true as const, dataKeyLost: true as const };
    const again = decide(observed({ object: { generation: 1, status: { ...status, version: 2 } }, stored: lostKey }));
    expect(again.storage).toEqual({ op: 'write', version: 3, value: v('one') });
    expect(again.events).toEqual([{ type: 'Warning', reason: 'DataKeyLost', message: 'the stored value names a data key namespace acme does not have (its data-key Secret was deleted, or the storage was copied from another namespace): value stored again from its source under a new data key, as version 3' }]);
    expect(again.outcome).toBe('Stored');
    const lost = decide(observed({ object: { generation: 1, status: { ...status, version: 2 } }, stored: lostKey, incoming: { kind: 'none' } }));
    expect(lost.storage).toEqual({ op: 'keep' });
    expect(ready(lost.status)).toMatchObject({ status: 'False', reason: 'DataKeyLost', message: expect.stringContaining('the value of API_KEY is lost: its stored value names a data key namespace acme does not have (its data-key Secret was deleted, or the storage was copied from another namespace)') });
    expect(lost.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'DataKeyLost' })]);
  });

  it('keeps the stored value when no source is given', () => {
    const plan = decide(observed({ incoming: { kind: 'none' }, stored: { version: 4, value: v('x') } }));
    expect(plan.storage).toEqual({ op: 'keep' });
    expect(plan.status?.version).toBe(4);
    expect(ready(plan.status)).toMatchObject({ status: 'True', reason: 'Stored', message: expect.stringContaining('kept') });
  });

  it('never goes back in version even if status says more than storage', () => {
    const plan = decide(observed({ object: { generation: 1, status: { version: 7 } }, stored: { version: 3, value: v('old') } }));
    expect(plan.storage).toEqual({ op: 'write', version: 8, value: v('one') });
  });

  it.each([
    ['an invalid name', { secretName: { ok: false as const, message: 'object name "Bad" must start with a lower-case letter' } }, 'InvalidName', /must start/],
    ['a namespace that is not a tenant', { tenancy: { tenant: false as const, never: false, reason: 'namespace acme is not a tenant: it needs the label orka.io/tenant' } }, 'NotATenant', /acme is not a tenant: it needs the label/],
    ["the operator's namespace", { tenancy: { tenant: false as const, never: true, reason: "namespace orka-system is the operator's own namespace" } }, 'NotATenant', /operator's own namespace/],
    ['no value at all', { incoming: { kind: 'none' as const } }, 'NoValue', /no value yet/],
    ['a value sealed for another secret', { incoming: { kind: 'sealed-for-other' as const, tenant: 'globex', name: 'OTHER' } }, 'SealedForAnotherSecret', /sealed for OTHER in globex, not for API_KEY in acme/],
    ['a damaged sealed value', { incoming: { kind: 'undecryptable' as const } }, 'DecryptFailed', /could not be opened/],
    ['a value sealed for another tenant', { incoming: { kind: 'sealed-for-other-tenant' as const, sealedFor: 'tenant-y', tenantId: 'tenant-x' } }, 'SealedForAnotherTenant', /sealed for tenant tenant-y, and namespace acme belongs to tenant tenant-x.*seal the value again for tenant tenant-x \(`orka-secrets -n acme seal API_KEY`; nothing was stored\)$/],
    ['a value in the format of earlier releases', { incoming: { kind: 'sealed-namespace-bound' as const, tenantId: 'tenant-x' } }, 'NamespaceBoundSealedValue', /format of earlier releases, bound to the namespace name only.*seal the value again for tenant tenant-x/],
    ['a missing source Secret', { incoming: { kind: 'source-missing' as const, secret: 'creds', key: 'k', missing: 'secret' as const } }, 'SourceNotFound', /Secret creds does not exist/],
    ['a missing source key', { incoming: { kind: 'source-missing' as const, secret: 'creds', key: 'k', missing: 'key' as const } }, 'SourceNotFound', /has no key k/],
    ['a source Secret of a refused type', { incoming: { kind: 'source-refused' as const, secret: 'default-token-x', type: 'kubernetes.io/service-account-token' } }, 'SourceRefused', /never reads service-account tokens/],
    ['a valueFrom that names no valid Secret and key', { incoming: { kind: 'source-invalid' as const } }, 'InvalidSource', /must name a Secret/],
    [
      'a valueFrom admission did not record as authorized',
      { incoming: { kind: 'source-unauthorized' as const, secret: 'db-admin', object: 'api-key', problem: 'missing' as const } },
      'ValueFromNotAuthorized',
      /not authorized at admission \(it has no admission record\), so Secret db-admin was not read.*kubectl -n acme annotate orkasecret api-key orka\.io\/value-from-recheck=/,
    ],
    ['both value sources', { incoming: { kind: 'conflict' as const } }, 'ConflictingSources', /mutually exclusive/],
    ['a value over the limit', { incoming: { kind: 'too-large' as const, bytes: 70000, limit: 65536 } }, 'ValueTooLarge', /70000 bytes/],
    ['a stored value that cannot be decrypted', { incoming: { kind: 'none' as const }, stored: { version: 2, undecryptable: true as const } }, 'DecryptFailed', /cannot be decrypted/],
  ])('refuses %s: Ready False, a warning, nothing stored', (_what, over, reason, message) => {
    const plan = decide(observed(over));
    expect(plan.storage).toEqual({ op: 'keep' });
    expect(ready(plan.status)).toMatchObject({ status: 'False', reason, message: expect.stringMatching(message) });
    expect(plan.events).toEqual([expect.objectContaining({ type: 'Warning', reason })]);
    expect(plan.outcome).toBe(reason);
  });

  it('keeps an earlier good value when a bad sealed value arrives', () => {
    const plan = decide(observed({ stored: { version: 2, value: v('good') }, incoming: { kind: 'sealed-for-other', tenant: 'x', name: 'Y' } }));
    expect(plan.storage).toEqual({ op: 'keep' });
    expect(plan.status?.version).toBe(2);
  });

  it.each<[string, Observed['incoming']]>([
    ['sealed for another secret', { kind: 'sealed-for-other', tenant: 'x', name: 'Y' }],
    ['sealed for another tenant (the namespace was relabelled)', { kind: 'sealed-for-other-tenant', sealedFor: 'tenant-y', tenantId: 'tenant-x' }],
    ['in the namespace-bound format', { kind: 'sealed-namespace-bound', tenantId: 'tenant-x' }],
    ['damaged', { kind: 'undecryptable' }],
    ['from a missing source', { kind: 'source-missing', secret: 'creds', key: 'k', missing: 'secret' }],
    ['too large', { kind: 'too-large', bytes: 70000, limit: 65536 }],
    ['from an invalid source reference', { kind: 'source-invalid' }],
    ['from a refused source type', { kind: 'source-refused', secret: 'sa-token', type: 'kubernetes.io/service-account-token' }],
    ['from a valueFrom whose admission record was edited', { kind: 'source-unauthorized', secret: 'creds', object: 'api-key', problem: 'mismatch' }],
  ])('says the previous value is still served when a new one %s is refused: Ready True, the refusal as the reason', (_what, incoming) => {
    const plan = decide(observed({ stored: { version: 2, value: v('good') }, incoming }));
    const condition = ready(plan.status);
    expect(condition?.status).toBe('True');
    expect(condition?.reason).not.toBe('Stored');
    expect(condition?.message).toMatch(/nothing new was stored: the previous value \(version 2\) is still served$/);
    expect(condition?.message?.match(/nothing was stored|nothing new was stored/g)).toEqual(['nothing new was stored']);
    expect(plan.events).toEqual([expect.objectContaining({ type: 'Warning', reason: condition?.reason })]);
  });

  it('says nothing is served when the stored value itself cannot be decrypted', () => {
    const plan = decide(observed({ stored: { version: 2, undecryptable: true }, incoming: { kind: 'undecryptable' } }));
    expect(ready(plan.status)).toMatchObject({ status: 'False', reason: 'DecryptFailed' });
  });

  it('does not repeat a warning event nor move lastTransitionTime while the condition holds', () => {
    const first = decide(observed({ incoming: { kind: 'undecryptable' } }));
    const later = decide(observed({ incoming: { kind: 'undecryptable' }, object: { generation: 1, status: first.status }, now: new Date(now.getTime() + 5000) }));
    expect(later.events).toEqual([]);
    expect(later.status).toBeUndefined();
  });

  it('leaves usage to the resolver: never in the plan, never a reason to write', () => {
    const plan = decide(observed({ object: { generation: 1, status: { usage: { resolveCount: 5 } } } }));
    expect(plan.status).toBeDefined();
    expect(plan.status?.usage).toBeUndefined();
    const settled = decide(observed({ object: { generation: 1, status: { ...plan.status, usage: { resolveCount: 9 } } }, stored: { version: 1, value: v('one') } }));
    expect(settled.status).toBeUndefined();
  });

  it('deletes storage when the object is gone, and does nothing when there is none', () => {
    expect(decide(observed({ object: undefined, stored: { version: 1, value: v('x') } }))).toEqual({ storage: { op: 'delete' }, events: [], outcome: 'Deleted' });
    expect(decide(observed({ object: undefined }))).toEqual({ storage: { op: 'keep' }, events: [], outcome: 'Gone' });
  });
});

describe('createConflict (a create found the storage Secret already there)', () => {
  const owner = 'uid-of-the-orkasecret';
  const labels = { 'app.kubernetes.io/managed-by': 'orka-secrets', 'orka.io/orkasecret': 'api-key' };
  const secret = (over: { labels?: Record<string, string>; owners?: Array<{ uid: string; controller?: boolean }> }): V1Secret => ({
    metadata: {
      name: 'orkasecret-api-key',
      ...(over.labels ? { labels: over.labels } : {}),
      ownerReferences: (over.owners ?? []).map((o) => ({ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', name: 'api-key', ...o })),
    },
  });

  it('is the cache being behind when the one found carries the storage labels: nothing is replaced (it would store the value twice)', () => {
    expect(createConflict(secret({ labels, owners: [{ uid: owner, controller: true }] }), owner)).toBe('cache-behind');
  });

  it('is hidden storage, replaced, when it is ours but its labels were edited away (the cache can never see it)', () => {
    expect(createConflict(secret({ owners: [{ uid: owner, controller: true }] }), owner)).toBe('hidden');
    expect(createConflict(secret({ labels: { 'orka.io/orkasecret': 'api-key' }, owners: [{ uid: owner, controller: true }] }), owner)).toBe('hidden');
  });

  it('is foreign when this OrkaSecret does not control it, labels or not', () => {
    expect(createConflict(secret({ labels }), owner)).toBe('foreign');
    expect(createConflict(secret({ labels, owners: [{ uid: 'someone-else', controller: true }] }), owner)).toBe('foreign');
    expect(createConflict(secret({ labels, owners: [{ uid: owner, controller: false }] }), owner)).toBe('foreign');
    expect(createConflict(secret({ owners: [{ uid: owner, controller: true }] }), undefined)).toBe('foreign');
  });
});
