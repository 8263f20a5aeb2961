/**
 * Known-answer vectors for every stored format: key ring format 1, layout version 1 of the three
 * envelopes (sealed value, stored value, wrapped data key) and layout 2 of the sealed value. They were made once, by the
 * code of the time, and are never regenerated: clusters hold data in these formats, so a change
 * that cannot open them (or writes different bytes from the same keys and nonces) must fail
 * here. The key material in the fixture is for these tests only.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptValue, EnvelopeKind, encryptValue, envelopeKeyId, sealedFor, unseal, unwrapDataKey, wrapDataKey } from '../../../src/core/envelope.js';
import { loadKeyRing, parseKeyRing } from '../../../src/core/keyring.js';
import { sealingKeyIdOf } from '../../../src/core/sealing-cert.js';

interface Vectors {
  keyring: string;
  tenant: string;
  name: string;
  value: string;
  version: number;
  dataKeyHex: string;
  wrappedDataKeyHex: string;
  wrapNonceStart: number;
  storedDataKeyId: string;
  storedValueHex: string;
  storeNonceStart: number;
  sealedValueBase64: string;
  sealedTenantId: string;
  sealedValueLayout2Base64: string;
}

const v = JSON.parse(readFileSync(new URL('../fixtures/envelope-vectors.json', import.meta.url), 'utf8')) as Vectors;
const ring = loadKeyRing(parseKeyRing(v.keyring));
const dataKey = Buffer.from(v.dataKeyHex, 'hex');

/** The random source the vectors were made with: a byte counter from `start`. */
function counting(start: number): (n: number) => Buffer {
  let next = start;
  return (n) => Buffer.from(Array.from({ length: n }, () => next++ & 0xff));
}

describe('key ring, format 1', () => {
  it('parses and loads, with its keys under their ids', () => {
    expect(ring.data.format).toBe(1);
    expect(ring.activeKek()).toEqual({ id: 'kek-20260101-fffac995', key: Buffer.from('azPuCYPKgFzPs3AYUR4bQdvhGNY4XDhFwRl1pdo5/S0=', 'base64') });
    expect(ring.activeSealing().id).toBe('seal-20260101-d8e5ccf1');
    expect(sealingKeyIdOf(ring.activeSealing().certPem)).toBe('seal-20260101-d8e5ccf1');
    expect(ring.sealingKey('seal-20260101-d8e5ccf1')?.asymmetricKeyType).toBe('rsa');
    expect(ring.activeSince().toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('wrapped data key, layout 1', () => {
  const wrapped = Buffer.from(v.wrappedDataKeyHex, 'hex');

  it('opens with the ring', () => {
    expect(envelopeKeyId(wrapped)).toBe(ring.activeKek().id);
    expect(unwrapDataKey({ keks: ring.kek, tenant: v.tenant, wrapped })).toEqual(dataKey);
  });

  it('is written byte for byte the same from the same key and nonce', () => {
    expect(wrapDataKey({ kek: ring.activeKek(), tenant: v.tenant, dataKey }, counting(v.wrapNonceStart)).toString('hex')).toBe(v.wrappedDataKeyHex);
    expect([...wrapped.subarray(0, 3)]).toEqual([EnvelopeKind.DataKey, 0x01, ring.activeKek().id.length]);
  });
});

describe('stored value, layout 1', () => {
  const stored = Buffer.from(v.storedValueHex, 'hex');
  const open = (version: number) => decryptValue({ dataKeys: (id) => (id === v.storedDataKeyId ? dataKey : undefined), tenant: v.tenant, name: v.name, version, stored }).toString('utf8');

  it('opens with the data key, bound to tenant, name and version', () => {
    expect(open(v.version)).toBe(v.value);
    expect(() => open(v.version + 1)).toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
  });

  it('is written byte for byte the same from the same key and nonce', () => {
    const again = encryptValue({ dataKey: { id: v.storedDataKeyId, key: dataKey }, tenant: v.tenant, name: v.name, version: v.version, value: Buffer.from(v.value) }, counting(v.storeNonceStart));
    expect(again.toString('hex')).toBe(v.storedValueHex);
    expect([...stored.subarray(0, 3)]).toEqual([EnvelopeKind.Stored, 0x01, v.storedDataKeyId.length]);
  });
});

describe('sealed value, layout 1 (bound to the namespace name only)', () => {
  const sealed = Buffer.from(v.sealedValueBase64, 'base64');
  const binding = { tenantId: 'any-tenant', namespace: v.tenant, name: v.name };

  it('opens with the ring where the namespace accepts the format (RSA-OAEP padding is random, so only opening can be checked)', async () => {
    expect(envelopeKeyId(sealed)).toBe(ring.activeSealing().id);
    expect(sealedFor(sealed)).toEqual({ namespace: v.tenant, name: v.name });
    expect((await unseal({ privateKeys: ring.sealingKey, binding, openNamespaceBound: true, sealed })).toString('utf8')).toBe(v.value);
    expect([...sealed.subarray(0, 3)]).toEqual([EnvelopeKind.Sealed, 0x01, ring.activeSealing().id.length]);
  });

  it('opens nowhere else: it names no tenant, so a namesake namespace could not be told apart', async () => {
    await expect(unseal({ privateKeys: ring.sealingKey, binding, sealed })).rejects.toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
  });
});

describe('sealed value, layout 2 (bound to tenant id, namespace and name)', () => {
  const sealed = Buffer.from(v.sealedValueLayout2Base64, 'base64');
  const binding = { tenantId: v.sealedTenantId, namespace: v.tenant, name: v.name };

  it('opens with the ring for its tenant id, namespace and name', async () => {
    expect(envelopeKeyId(sealed)).toBe(ring.activeSealing().id);
    expect(sealedFor(sealed)).toEqual(binding);
    expect((await unseal({ privateKeys: ring.sealingKey, binding, sealed })).toString('utf8')).toBe(v.value);
    expect([...sealed.subarray(0, 3)]).toEqual([EnvelopeKind.Sealed, 0x02, ring.activeSealing().id.length]);
  });

  it('opens for no other tenant id in the namespace of the same name', async () => {
    await expect(unseal({ privateKeys: ring.sealingKey, binding: { ...binding, tenantId: 'tenant-other' }, sealed })).rejects.toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
  });
});
