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
} from '../../../src/core/envelope.js';
import { isOrkaError } from '../../../src/core/errors.js';

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
  const sealed = seal({ publicKey: sealing.publicKey, keyId: 'seal-1', tenant: 'acme', name: 'API_KEY', value });
  const open = (b: Buffer, tenant = 'acme', name = 'API_KEY') => unseal({ privateKeys, tenant, name, sealed: b });

  it('opens for the tenant and name it was sealed for, with a PEM key too', async () => {
    expect(await open(sealed)).toEqual(value);
    const pem = sealing.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fromPem = seal({ publicKey: pem, keyId: 'seal-1', tenant: 'acme', name: 'API_KEY', value });
    expect(await open(fromPem)).toEqual(value);
    expect(envelopeKeyId(sealed)).toBe('seal-1');
    expect(sealed.includes(value)).toBe(false);
  });

  it.each([
    ['another tenant', 'globex', 'API_KEY'],
    ['another name', 'acme', 'OTHER'],
    ['a label that only moves the slash', 'acme/API', 'KEY'],
  ])('fails when opened for %s', async (_what, tenant, name) => {
    await expectDecryptFailed(() => open(sealed, tenant, name));
  });

  it('fails with an unknown key id or the wrong private key', async () => {
    await expectDecryptFailed(() => unseal({ privateKeys: () => undefined, tenant: 'acme', name: 'API_KEY', sealed }));
    await expectDecryptFailed(() => unseal({ privateKeys: () => otherSealing.privateKey, tenant: 'acme', name: 'API_KEY', sealed }));
  });

  it('fails on any changed byte of any field, and on any truncation', async () => {
    await expectTamperProof(sealed, (b) => open(b));
  });

  it('says whom it was sealed for, a claim that opening checks', async () => {
    expect(sealedFor(sealed)).toEqual({ tenant: 'acme', name: 'API_KEY' });
    expect(sealedFor(Buffer.from('garbage'))).toBeUndefined();
    // Rewriting the clear label to another name makes the envelope unopenable for both names.
    const relabelled = Buffer.from(sealed.toString('latin1').replace('acme/API_KEY', 'acme/API_KEZ'), 'latin1');
    expect(sealedFor(relabelled)).toEqual({ tenant: 'acme', name: 'API_KEZ' });
    await expectDecryptFailed(() => open(relabelled, 'acme', 'API_KEZ'));
    await expectDecryptFailed(() => open(relabelled));
  });

  it.each([
    ['control characters in the tenant', '\u001b[2J\u001b[31mevil', 'API_KEY'],
    ['a forged event line in the name', 'acme', 'X\nNormal Stored value stored'],
    ['a tenant that is no namespace name', 'Acme_Corp', 'API_KEY'],
    ['an overlong name', 'acme', 'A'.repeat(20_000)],
  ])('makes no claim from a label that is not a valid namespace/NAME pair: %s', async (_what, tenant, name) => {
    const hostile = seal({ publicKey: sealing.publicKey, keyId: 'seal-1', tenant, name, value: Buffer.from('v') });
    expect(sealedFor(hostile)).toBeUndefined();
  });

  it('refuses values over the size limit', async () => {
    const big = Buffer.alloc(MAX_VALUE_BYTES + 1);
    expect(() => seal({ publicKey: sealing.publicKey, keyId: 'seal-1', tenant: 'acme', name: 'A', value: big })).toThrow(/at most 65536/);
  });

  it('round-trips any value, tenant and name', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.string({ minLength: 1, maxLength: 20 }), fc.string({ minLength: 1, maxLength: 20 }), async (bytes, tenant, name) => {
        const v = Buffer.from(bytes);
        const s = seal({ publicKey: sealing.publicKey, keyId: 'seal-1', tenant, name, value: v });
        expect(await unseal({ privateKeys, tenant, name, sealed: s })).toEqual(v);
      }),
      { numRuns: 50 },
    );
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
        if (data.length > 1) data[1] = 1;
        await expectDecryptFailed(() => unseal({ privateKeys: () => sealing.privateKey, tenant: 't', name: 'N', sealed: data }));
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
