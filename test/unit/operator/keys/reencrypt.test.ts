import { describe, expect, it } from 'vitest';
import { planReencryption, type StoredRef } from '../../../../src/operator/keys/reencrypt.js';
import { previousDataKeyField, wrappedDataKeys } from '../../../../src/api/datakey.js';

const ref = (namespace: string, name: string, keyId: string | undefined): StoredRef => ({ namespace, name, keyId });
const base = { now: 100_000, settleMs: 30_000, firstSeen: () => 0 };

describe('planReencryption', () => {
  it('plans every value under an earlier key of its tenant, in a stable order, and nothing else', () => {
    const plan = planReencryption({
      ...base,
      keys: [
        { tenant: 'acme', active: 'dk-new', previous: ['dk-old'] },
        { tenant: 'globex', active: 'dk-g2', previous: ['dk-g1'] },
        { tenant: 'plain', active: 'dk-p', previous: [] },
      ],
      stored: [
        ref('globex', 'orkasecret-b', 'dk-g1'),
        ref('acme', 'orkasecret-z', 'dk-old'),
        ref('acme', 'orkasecret-a', 'dk-old'),
        ref('acme', 'orkasecret-done', 'dk-new'),
        ref('acme', 'orkasecret-lost', 'dk-gone'),
        ref('acme', 'orkasecret-bad', undefined),
        ref('plain', 'orkasecret-p', 'dk-p'),
        ref('nokeys', 'orkasecret-n', 'dk-old'),
      ],
    });
    expect(plan.pending.map((p) => `${p.ref.namespace}/${p.ref.name}<-${p.from}`)).toEqual(['acme/orkasecret-a<-dk-old', 'acme/orkasecret-z<-dk-old', 'globex/orkasecret-b<-dk-g1']);
    expect(plan.removable).toEqual([]);
    expect(plan.settling).toBe(0);
    expect(Object.fromEntries(plan.pendingByTenant)).toEqual({ acme: 2, globex: 1 });
  });

  it('removes an earlier key only once no value names it and it has been known for the settle time', () => {
    const keys = [{ tenant: 'acme', active: 'dk-3', previous: ['dk-1', 'dk-2'] }];
    const stored = [ref('acme', 'orkasecret-a', 'dk-2'), ref('acme', 'orkasecret-b', 'dk-3')];
    const settled = planReencryption({ ...base, keys, stored });
    expect(settled.removable).toEqual([{ tenant: 'acme', id: 'dk-1' }]);
    expect(settled.pending.map((p) => p.from)).toEqual(['dk-2']);
    const fresh = planReencryption({ ...base, keys, stored, firstSeen: () => base.now - 1000 });
    expect(fresh.removable).toEqual([]);
    expect(fresh.settling).toBe(1);
    expect(Object.fromEntries(fresh.pendingByTenant)).toEqual({ acme: 1 });
  });

  it('lets a value that opens under no key neither wait for re-encryption nor hold its key', () => {
    const plan = planReencryption({ ...base, keys: [{ tenant: 'acme', active: 'dk-2', previous: ['dk-1'] }], stored: [ref('acme', 'orkasecret-tampered', 'dk-1')], skip: (r) => r.name === 'orkasecret-tampered' });
    expect(plan.pending).toEqual([]);
    expect(plan.removable).toEqual([{ tenant: 'acme', id: 'dk-1' }]);
    expect(Object.fromEntries(plan.pendingByTenant)).toEqual({ acme: 0 });
  });

  it('has nothing to do when no tenant has an earlier key', () => {
    const plan = planReencryption({ ...base, keys: [{ tenant: 'acme', active: 'dk-1', previous: [] }], stored: [ref('acme', 'orkasecret-a', 'dk-1')] });
    expect(plan).toEqual({ pending: [], removable: [], settling: 0, pendingByTenant: new Map() });
  });
});

describe('wrappedDataKeys', () => {
  it('reads the active key and the earlier ones, active first', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const keys = wrappedDataKeys({ metadata: { annotations: { 'orka.io/data-key-id': 'dk-2' } }, data: { [previousDataKeyField('dk-1')]: b64('one'), wrapped: b64('two'), unrelated: b64('x') } });
    expect(keys.map((k) => [k.id, k.active, k.wrapped.toString()])).toEqual([
      ['dk-2', true, 'two'],
      ['dk-1', false, 'one'],
    ]);
  });

  it('holds no active key without its id', () => {
    expect(wrappedDataKeys({ data: { wrapped: 'AA==' } })).toEqual([]);
  });
});
