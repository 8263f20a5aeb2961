import { createHash, createSecretKey, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aesKey,
  decryptValue,
  encryptValue,
  envelopeKeyId,
  generateDataKey,
  MAX_VALUE_BYTES,
  seal,
  sealedFor,
  unseal,
  unwrapDataKey,
  wrapDataKey,
  type RandomSource,
  type SealedBinding,
} from '../../../src/core/envelope.js';
import { isOrkaError } from '../../../src/core/errors.js';
import { sealNamespaceBound, sealWithLabel } from '../../env/raw-seal.js';

/** A deterministic random source for repeatable envelopes (never for production). */
function seeded(seed: string): RandomSource {
  let counter = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let filled = 0; filled < size; filled += 32) {
      createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, filled);
    }
    return out;
  };
}

const sealing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherSealing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeys = (id: string) => (id === 'seal-1' ? sealing.privateKey : undefined);
const kek = { id: 'kek-1', key: generateDataKey() };
const dataKey = { id: 'dk-1', key: generateDataKey() };
const keks = (id: string) => (id === kek.id ? kek.key : undefined);
const dataKeys = (id: string) => (id === dataKey.id ? dataKey.key : undefined);

async function expectDecryptFailed(f: () => unknown): Promise<void> {
  let caught: unknown;
  try {
    await f();
  } catch (err) {
    caught = err;
  }
  expect(isOrkaError(caught, 'DECRYPT_FAILED')).toBe(true);
  expect((caught as Error).message).toBe('the encrypted data could not be opened');
}

/** Every single-byte change and every truncation of `envelope` must fail to open. */
async function expectTamperProof(envelope: Buffer, open: (b: Buffer) => unknown): Promise<void> {
  for (let i = 0; i < envelope.length; i++) {
    const flipped = Buffer.from(envelope);
    flipped[i] = (flipped[i] as number) ^ 0x01;
    await expectDecryptFailed(() => open(flipped));
  }
  for (let length = 0; length < envelope.length; length++) await expectDecryptFailed(() => open(envelope.subarray(0, length)));
  await expectDecryptFailed(() => open(Buffer.concat([envelope, Buffer.from([0])])));
}

describe('sealed values', () => {
  const value = Buffer.from('sk_live_canary');
  const acme = { tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' };
  const sealed = seal({ publicKey: sealing.publicKey, keyId: 'seal-1', ...acme, value });
  const open = (b: Buffer, binding: Partial<SealedBinding> = {}) => unseal({ privateKeys, binding: { ...acme, ...binding }, sealed: b });

  it('opens for the tenant, namespace and name it was sealed for, with a PEM key too', async () => {
    expect(await open(sealed)).toEqual(value);
    const pem = sealing.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fromPem = seal({ publicKey: pem, keyId: 'seal-1', ...acme, value });
    expect(await open(fromPem)).toEqual(value);
    expect(envelopeKeyId(sealed)).toBe('seal-1');
    expect([...sealed.subarray(0, 2)]).toEqual([0x53, 0x02]);
    expect(sealed.includes(value)).toBe(false);
  });

  it.each([
    // The namesake: tenant-x was off-boarded and namespace acme given to another tenant.
    ['another tenant in a namespace of the same name', { tenantId: 'tenant-y' }],
    ['the same tenant in another of its namespaces', { namespace: 'acme-staging' }],
    ['another name', { name: 'OTHER' }],
    ['a binding that only moves a slash', { tenantId: 'tenant-x', namespace: 'acme', name: 'API' }],
  ])('fails when opened for %s', async (_what, binding) => {
    await expectDecryptFailed(() => open(sealed, binding));
  });

  it('opens for the same tenant, namespace and name in another cluster (a restored key ring, a new namespace object)', async () => {
    // Nothing of the namespace object (its UID) is bound: only what a restore recreates.
    expect(await unseal({ privateKeys: (id) => (id === 'seal-1' ? sealing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() : undefined), binding: acme, sealed })).toEqual(value);
  });

  it('fails with an unknown key id or the wrong private key', async () => {
    await expectDecryptFailed(() => unseal({ privateKeys: () => undefined, binding: acme, sealed }));
    await expectDecryptFailed(() => unseal({ privateKeys: () => otherSealing.privateKey, binding: acme, sealed }));
  });

  it('fails on any changed byte of any field, and on any truncation', async () => {
    await expectTamperProof(sealed, (b) => open(b));
  });

  it('cannot be passed off as a namespace-bound (layout 1) value, even where those are accepted', async () => {
    const downgraded = Buffer.from(sealed);
    downgraded[1] = 0x01;
    await expectDecryptFailed(() => unseal({ privateKeys, binding: acme, openNamespaceBound: true, sealed: downgraded }));
  });

  it('says whom it was sealed for, a claim that opening checks', async () => {
    expect(sealedFor(sealed)).toEqual(acme);
    expect(sealedFor(Buffer.from('garbage'))).toBeUndefined();
    // Rewriting the clear label to another tenant makes the envelope unopenable for both.
    const relabelled = Buffer.from(sealed.toString('latin1').replace('tenant-x/acme/API_KEY', 'tenant-y/acme/API_KEY'), 'latin1');
    expect(sealedFor(relabelled)).toEqual({ ...acme, tenantId: 'tenant-y' });
    await expectDecryptFailed(() => open(relabelled, { tenantId: 'tenant-y' }));
    await expectDecryptFailed(() => open(relabelled));
  });

  it.each([
    ['control characters in the tenant', '\u001b[2J\u001b[31mevil/acme/API_KEY'],
    ['a forged event line in the name', 't/acme/X\nNormal Stored value stored'],
    ['a namespace that is no namespace name', 't/Acme_Corp/API_KEY'],
    ['a tenant id that is no label value', '-t-/acme/API_KEY'],
    ['an overlong name', `t/acme/${'A'.repeat(20_000)}`],
    ['a missing tenant', 'acme/API_KEY'],
    ['an extra part', 't/x/acme/API_KEY'],
  ])('makes no claim from a label that is not a valid tenant/namespace/NAME: %s', async (_what, label) => {
    expect(sealedFor(sealWithLabel({ publicKey: sealing.publicKey, keyId: 'seal-1', layout: 2, label, value: Buffer.from('v') }))).toBeUndefined();
  });

  it.each([
    ['a tenant id that is no label value', { tenantId: 'a/b' }, /tenant id/],
    ['an empty tenant id', { tenantId: '' }, /tenant id/],
    ['a namespace that is no namespace name', { namespace: 'Acme' }, /namespace/],
    ['a secret name that breaks the rule', { name: 'api-key' }, /API|api-key/],
  ])('refuses to seal for %s, as a caller error', async (_what, binding, message) => {
    expect(() => seal({ publicKey: sealing.publicKey, keyId: 'seal-1', ...acme, ...binding, value })).toThrow(message);
  });

  it('refuses values over the size limit', async () => {
    const big = Buffer.alloc(MAX_VALUE_BYTES + 1);
    expect(() => seal({ publicKey: sealing.publicKey, keyId: 'seal-1', ...acme, value: big })).toThrow(/at most 65536/);
  });

  it('round-trips any value, for any tenant id', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.stringMatching(/^[A-Za-z0-9]([-_.A-Za-z0-9]{0,20}[A-Za-z0-9])?$/), async (bytes, tenantId) => {
        const v = Buffer.from(bytes);
        const s = seal({ publicKey: sealing.publicKey, keyId: 'seal-1', ...acme, tenantId, value: v });
        expect(await unseal({ privateKeys, binding: { ...acme, tenantId }, sealed: s })).toEqual(v);
      }),
      { numRuns: 50 },
    );
  });
});

describe('namespace-bound sealed values (layout 1, before tenant ids)', () => {
  const value = Buffer.from('sealed-by-an-earlier-release');
  const old = sealNamespaceBound({ publicKey: sealing.publicKey, keyId: 'seal-1', namespace: 'acme', name: 'API_KEY', value });
  const binding = { tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' };

  it('open only when the caller accepts them, whatever the tenant id (the layout names none)', async () => {
    await expectDecryptFailed(() => unseal({ privateKeys, binding, sealed: old }));
    await expectDecryptFailed(() => unseal({ privateKeys, binding: { ...binding, tenantId: 'tenant-y' }, sealed: old }));
    expect(await unseal({ privateKeys, binding, openNamespaceBound: true, sealed: old })).toEqual(value);
  });

  it('still open only for their namespace and name', async () => {
    await expectDecryptFailed(() => unseal({ privateKeys, binding: { ...binding, namespace: 'globex' }, openNamespaceBound: true, sealed: old }));
    await expectDecryptFailed(() => unseal({ privateKeys, binding: { ...binding, name: 'OTHER' }, openNamespaceBound: true, sealed: old }));
  });

  it('say whom they were sealed for, without a tenant', () => {
    expect(sealedFor(old)).toEqual({ namespace: 'acme', name: 'API_KEY' });
    expect(sealedFor(sealWithLabel({ publicKey: sealing.publicKey, keyId: 'seal-1', layout: 1, label: 't/acme/API_KEY', value: Buffer.from('v') }))).toBeUndefined();
  });
});

describe('data keys', () => {
  const wrapped = wrapDataKey({ kek, tenant: 'acme', dataKey: dataKey.key });

  it('unwraps for its tenant only', async () => {
    expect(unwrapDataKey({ keks, tenant: 'acme', wrapped })).toEqual(dataKey.key);
    expect(envelopeKeyId(wrapped)).toBe('kek-1');
    await expectDecryptFailed(() => unwrapDataKey({ keks, tenant: 'globex', wrapped }));
    await expectDecryptFailed(() => unwrapDataKey({ keks: () => generateDataKey(), tenant: 'acme', wrapped }));
  });

  it('fails on any changed byte and any truncation', async () => {
    await expectTamperProof(wrapped, (b) => unwrapDataKey({ keks, tenant: 'acme', wrapped: b }));
  });

  it('is not confused with another kind of envelope', async () => {
    const stored = encryptValue({ dataKey: { id: 'kek-1', key: kek.key }, tenant: 'acme', name: 'A', version: 1, value: Buffer.alloc(32) });
    await expectDecryptFailed(() => unwrapDataKey({ keks, tenant: 'acme', wrapped: stored }));
  });
});

describe('stored values', () => {
  const value = Buffer.from('canary-stored-value');
  const stored = encryptValue({ dataKey, tenant: 'acme', name: 'API_KEY', version: 3, value });
  const open = (b: Buffer, tenant = 'acme', name = 'API_KEY', version = 3) => decryptValue({ dataKeys, tenant, name, version, stored: b });

  it('decrypts with the same tenant, name and version', async () => {
    expect(open(stored)).toEqual(value);
    expect(envelopeKeyId(stored)).toBe('dk-1');
  });

  it.each([
    ['tenant', 'globex', 'API_KEY', 3],
    ['name', 'acme', 'OTHER', 3],
    ['version', 'acme', 'API_KEY', 4],
  ] as const)('fails when moved to another %s', async (_what, tenant, name, version) => {
    await expectDecryptFailed(() => open(stored, tenant, name, version));
  });

  it('fails on any changed byte and any truncation', async () => {
    await expectTamperProof(stored, (b) => open(b));
  });

  it('uses a fresh nonce each time, and the injected random source', async () => {
    const a = encryptValue({ dataKey, tenant: 'acme', name: 'A', version: 1, value });
    const b = encryptValue({ dataKey, tenant: 'acme', name: 'A', version: 1, value });
    expect(a.equals(b)).toBe(false);
    const c = encryptValue({ dataKey, tenant: 'acme', name: 'A', version: 1, value }, seeded('x'));
    const d = encryptValue({ dataKey, tenant: 'acme', name: 'A', version: 1, value }, seeded('x'));
    expect(c.equals(d)).toBe(true);
  });

  it('opens the same envelope with the KeyObject of a key as with its raw bytes, both ways', async () => {
    const keyObject = aesKey(dataKey.key);
    expect(decryptValue({ dataKeys: () => keyObject, tenant: 'acme', name: 'API_KEY', version: 3, stored })).toEqual(value);
    const sealedWithObject = encryptValue({ dataKey: { id: 'dk-1', key: keyObject }, tenant: 'acme', name: 'API_KEY', version: 3, value });
    expect(open(sealedWithObject)).toEqual(value);
    await expectDecryptFailed(() => decryptValue({ dataKeys: () => aesKey(generateDataKey()), tenant: 'acme', name: 'API_KEY', version: 3, stored }));
    await expectDecryptFailed(() => decryptValue({ dataKeys: () => aesKey(dataKey.key), tenant: 'acme', name: 'API_KEY', version: 4, stored }));
  });

  it('refuses to make a KeyObject of, or to use, a key that is not 32 bytes', async () => {
    expect(() => aesKey(Buffer.alloc(16))).toThrow(/32 bytes/);
    const short = createSecretKey(Buffer.alloc(16));
    expect(() => encryptValue({ dataKey: { id: 'x', key: short }, tenant: 't', name: 'A', version: 1, value })).toThrow(/32 bytes/);
    await expectDecryptFailed(() => decryptValue({ dataKeys: () => short, tenant: 'acme', name: 'API_KEY', version: 3, stored }));
  });

  it('refuses a wrong-sized key and bad versions as caller errors', async () => {
    expect(() => encryptValue({ dataKey: { id: 'x', key: Buffer.alloc(16) }, tenant: 't', name: 'A', version: 1, value })).toThrow(/32 bytes/);
    expect(() => encryptValue({ dataKey, tenant: 't', name: 'A', version: -1, value })).toThrow(/non-negative/);
    expect(() => encryptValue({ dataKey: { id: '', key: dataKey.key }, tenant: 't', name: 'A', version: 1, value })).toThrow(/key id/);
  });

  it('round-trips any value', async () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (bytes, version) => {
        const v = Buffer.from(bytes);
        const s = encryptValue({ dataKey, tenant: 't', name: 'N', version, value: v });
        expect(decryptValue({ dataKeys, tenant: 't', name: 'N', version, stored: s })).toEqual(v);
      }),
    );
  });
});

describe('hostile input', () => {
  it('opening random bytes only ever throws DECRYPT_FAILED', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(0x53, 0x56, 0x4b), async (bytes, kind) => {
        const data = Buffer.from(bytes);
        if (data.length > 0) data[0] = kind;
        if (data.length > 1) data[1] = kind === 0x53 ? 2 : 1;
        await expectDecryptFailed(() => unseal({ privateKeys: () => sealing.privateKey, binding: { tenantId: 't', namespace: 'n', name: 'N' }, openNamespaceBound: true, sealed: data }));
        await expectDecryptFailed(() => unwrapDataKey({ keks: () => kek.key, tenant: 't', wrapped: data }));
        await expectDecryptFailed(() => decryptValue({ dataKeys: () => dataKey.key, tenant: 't', name: 'N', version: 1, stored: data }));
      }),
      { numRuns: 300 },
    );
  });

  it('reads no key id from garbage', async () => {
    await expectDecryptFailed(() => envelopeKeyId(Buffer.from('hello')));
    await expectDecryptFailed(() => envelopeKeyId(Buffer.alloc(0)));
  });
});
