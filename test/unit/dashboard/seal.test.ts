/**
 * The page's sealing (WebCrypto, src/dashboard/web/seal.ts) against the core's opening
 * (node:crypto, src/core/envelope.ts): the same bytes, so the operator opens what the page seals.
 * Node's globalThis.crypto.subtle is the same WebCrypto API the browser has.
 */
import { createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { envelopeKeyId, sealedFor, unseal } from '../../../src/core/envelope.js';
import { isOrkaError } from '../../../src/core/errors.js';
import { createSealingCert, generateRsaKeyPair } from '../../../src/core/pki.js';
import { sealingKeyOf } from '../../../src/dashboard/rows.js';
import { MAX_VALUE_BYTES, sealValue } from '../../../src/dashboard/web/seal.js';

const KEY_ID = 'seal-20261127-abcd';
const pair = generateRsaKeyPair(2048);
const certPem = createSealingCert({ ...pair, commonName: `orka-secrets sealing key ${KEY_ID}`, now: new Date(), validDays: 30 });
const privateKey = createPrivateKey(pair.privateKeyPem);
const privateKeys = (id: string) => (id === KEY_ID ? privateKey : undefined);
/** The key as the dashboard server hands it to the page for namespace acme, whose tenant id is tenant-x. */
const key = { ...sealingKeyOf(certPem), tenant: 'tenant-x' };

async function open(sealed: string, namespace: string, name: string, tenantId = 'tenant-x'): Promise<string> {
  return (await unseal({ privateKeys, binding: { tenantId, namespace, name }, sealed: Buffer.from(sealed, 'base64') })).toString('utf8');
}

describe('sealing in the page, opening with the core', () => {
  it('takes the key id and public key from the sealing certificate', () => {
    expect(key.keyId).toBe(KEY_ID);
    expect(Buffer.from(key.spki, 'base64').length).toBeGreaterThan(250);
  });

  it.each([
    ['one line', 'sk_live_51H8xYz'],
    ['multi-line (a private key)', '-----BEGIN KEY-----\nMIIB\nAbC=\n-----END KEY-----\n'],
    ['unicode', 'pässwörd ✓ 秘密'],
    ['one character', 'x'],
    ['the largest value', 'v'.repeat(MAX_VALUE_BYTES)],
  ])('round-trips %s', async (_label, value) => {
    const sealed = await sealValue(key, 'acme', 'STRIPE_API_KEY', value);
    expect(await open(sealed, 'acme', 'STRIPE_API_KEY')).toBe(value);
  });

  it('writes the core header: kind, layout version 2, key id and the label tenant/namespace/NAME', async () => {
    const bytes = Buffer.from(await sealValue(key, 'acme', 'API_KEY', 'v'), 'base64');
    expect([bytes[0], bytes[1]]).toEqual([0x53, 0x02]);
    expect(envelopeKeyId(bytes)).toBe(KEY_ID);
    expect(sealedFor(bytes)).toEqual({ tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' });
  });

  it.each([
    ['another namespace', 'globex', 'API_KEY', 'tenant-x'],
    ['another name', 'acme', 'OTHER_KEY', 'tenant-x'],
    ['another tenant in a namespace of the same name', 'acme', 'API_KEY', 'tenant-y'],
  ])('cannot be opened for %s', async (_label, namespace, name, tenantId) => {
    const sealed = await sealValue(key, 'acme', 'API_KEY', 'v');
    await expect(open(sealed, namespace, name, tenantId)).rejects.toThrow(expect.objectContaining({ code: 'DECRYPT_FAILED' }));
  });

  it.each([
    ['no tenant id', ''],
    ['a tenant id with a slash', 'a/b'],
  ])('refuses to seal for %s', async (_label, tenant) => {
    await expect(sealValue({ ...key, tenant }, 'acme', 'API_KEY', 'v')).rejects.toThrow(/tenant id/);
  });

  it('fails to open once any byte of the ciphertext or the authenticated head is changed', async () => {
    const bytes = Buffer.from(await sealValue(key, 'acme', 'API_KEY', 'value'), 'base64');
    for (const at of [3, bytes.length - 20, bytes.length - 1]) {
      const tampered = Buffer.from(bytes);
      tampered[at] = (tampered[at] as number) ^ 1;
      let caught: unknown;
      try {
        await unseal({ privateKeys, binding: { tenantId: 'tenant-x', namespace: 'acme', name: 'API_KEY' }, sealed: tampered });
      } catch (err) {
        caught = err;
      }
      expect(isOrkaError(caught, 'DECRYPT_FAILED')).toBe(true);
    }
  });

  it('uses a fresh session key and nonce every time', async () => {
    const a = await sealValue(key, 'acme', 'API_KEY', 'same');
    const b = await sealValue(key, 'acme', 'API_KEY', 'same');
    expect(a).not.toBe(b);
  });

  it('says the page needs HTTPS where the browser gives no WebCrypto (an insecure origin)', async () => {
    const crypto = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    // What a browser's globalThis.crypto is on a plain-HTTP page: getRandomValues only, no subtle.
    Object.defineProperty(globalThis, 'crypto', { configurable: true, value: { getRandomValues: globalThis.crypto.getRandomValues.bind(globalThis.crypto) } });
    try {
      await expect(sealValue(key, 'acme', 'API_KEY', 'v')).rejects.toThrow(/not served over HTTPS, and browsers seal only on secure pages/);
    } finally {
      Object.defineProperty(globalThis, 'crypto', crypto as PropertyDescriptor);
    }
  });

  it('refuses a value over 64 KiB before sealing', async () => {
    await expect(sealValue(key, 'acme', 'API_KEY', 'v'.repeat(MAX_VALUE_BYTES + 1))).rejects.toThrow(/at most 65536/);
  });
});
