import { describe, expect, it } from 'vitest';
import type { V1Secret } from '@kubernetes/client-node';
import { claimedOwner, MAX_STORAGE_OBJECT_BYTES, MAX_STORED_ENVELOPE_BYTES, mayBeAdmittedLater, storageSecret, toStorageMetadata, withheld, type StorageContext } from '../../../src/api/storage.js';
import { encryptValue, MAX_VALUE_BYTES } from '../../../src/core/envelope.js';
import type { OrkaSecret } from '../../../src/api/resource.js';

const owner: OrkaSecret = { metadata: { name: 'api-key', namespace: 'acme', uid: 'uid-1' } };
const tenant: StorageContext = { tenancy: { tenant: true }, ownerUid: (name) => (name === 'api-key' ? 'uid-1' : undefined) };
const small = 1000;

/** The storage Secret the operator writes for `owner`, changed by `edit`. */
function stored(edit: (s: V1Secret) => void = () => undefined): V1Secret {
  const s = storageSecret(owner, { version: 1, envelope: Buffer.from('ciphertext') });
  edit(s);
  return s;
}

describe('which storage-labelled Secrets the cache holds with their data (withheld)', () => {
  it('holds the one the operator writes: tenant namespace, storage name, its OrkaSecret as controller', () => {
    expect(claimedOwner(stored())).toEqual({ name: 'api-key', uid: 'uid-1' });
    expect(withheld(stored(), small, tenant)).toBeUndefined();
  });

  it.each<[string, (s: V1Secret) => void]>([
    ['no owner reference', (s) => (s.metadata!.ownerReferences = [])],
    ['an owner that is not the controller', (s) => (s.metadata!.ownerReferences![0]!.controller = false)],
    ['an owner of another kind', (s) => (s.metadata!.ownerReferences![0]!.kind = 'ConfigMap')],
    ['an owner of another group', (s) => (s.metadata!.ownerReferences![0]!.apiVersion = 'evil.io/v1alpha1')],
    ['an owner of another name', (s) => (s.metadata!.ownerReferences![0]!.name = 'other')],
    ['a name that is not the storage name of its label', (s) => (s.metadata!.name = 'padding-1')],
    ['a label naming another OrkaSecret', (s) => (s.metadata!.labels!['orka.io/orkasecret'] = 'other')],
    ['no managed-by label', (s) => delete s.metadata!.labels!['app.kubernetes.io/managed-by']],
  ])('withholds the data of one with %s (not-storage)', (_what, edit) => {
    expect(withheld(stored(edit), small, tenant)).toBe('not-storage');
  });

  it('withholds it outside a tenant namespace: for now, or for ever in a namespace that is never one', () => {
    expect(withheld(stored(), small, { ...tenant, tenancy: { tenant: false, never: false, reason: 'no label' } })).toBe('not-tenant');
    expect(withheld(stored(), small, { ...tenant, tenancy: { tenant: false, never: true, reason: 'operator namespace' } })).toBe('not-storage');
  });

  it('withholds it while no OrkaSecret of that name and UID is known', () => {
    expect(withheld(stored(), small, { ...tenant, ownerUid: () => undefined })).toBe('no-owner');
    expect(withheld(stored(), small, { ...tenant, ownerUid: () => 'uid-of-a-new-object' })).toBe('no-owner');
  });

  it('withholds one larger than the largest stored value can make', () => {
    expect(withheld(stored(), MAX_STORAGE_OBJECT_BYTES, tenant)).toBeUndefined();
    expect(withheld(stored(), MAX_STORAGE_OBJECT_BYTES + 1, tenant)).toBe('oversize');
  });

  it('rechecks only what the arrival of a namespace or an OrkaSecret can change', () => {
    expect(mayBeAdmittedLater('not-tenant')).toBe(true);
    expect(mayBeAdmittedLater('no-owner')).toBe(true);
    expect(mayBeAdmittedLater('not-storage')).toBe(false);
    expect(mayBeAdmittedLater('oversize')).toBe(false);
  });
});

describe('the bound on a storage Secret', () => {
  it('is the largest stored-value envelope: a 64 KiB value under a 255-byte key id', () => {
    const envelope = encryptValue({ dataKey: { id: 'k'.repeat(255), key: Buffer.alloc(32, 1) }, tenant: 'acme', name: 'API_KEY', version: 1, value: Buffer.alloc(MAX_VALUE_BYTES, 7) });
    expect(envelope.length).toBe(MAX_STORED_ENVELOPE_BYTES);
  });

  it('leaves room for the largest real storage Secret, metadata included', () => {
    const envelope = Buffer.alloc(MAX_STORED_ENVELOPE_BYTES);
    const big = storageSecret({ metadata: { name: 'n'.repeat(253), namespace: 'a'.repeat(63), uid: 'u'.repeat(36) } }, { version: Number.MAX_SAFE_INTEGER, envelope });
    big.metadata = { ...big.metadata, uid: 'u'.repeat(36), resourceVersion: '9'.repeat(20), creationTimestamp: new Date() };
    expect(JSON.stringify(big).length).toBeLessThan(MAX_STORAGE_OBJECT_BYTES);
    expect(MAX_STORAGE_OBJECT_BYTES).toBeLessThan(110 * 1024);
  });
});

describe('toStorageMetadata', () => {
  it('keeps identity, version, the storage labels and the controller owner; drops data and everything else', () => {
    const s = stored((x) => {
      x.metadata!.uid = 'secret-uid';
      x.metadata!.resourceVersion = '42';
      x.metadata!.annotations = { note: 'x'.repeat(1000) };
      x.metadata!.labels!.extra = 'y';
      x.metadata!.ownerReferences!.push({ apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', uid: 'cm-uid' });
      x.data = { ...x.data, padding: 'z'.repeat(1000) };
    });
    toStorageMetadata(s);
    expect(s).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'orkasecret-api-key',
        namespace: 'acme',
        uid: 'secret-uid',
        resourceVersion: '42',
        labels: { 'app.kubernetes.io/managed-by': 'orka-secrets', 'orka.io/orkasecret': 'api-key' },
        ownerReferences: [{ apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', name: 'api-key', uid: 'uid-1', controller: true, blockOwnerDeletion: false }],
      },
    });
    // What it keeps still tells whether it may be admitted later.
    expect(withheld(s, 0, tenant)).toBeUndefined();
  });
});
