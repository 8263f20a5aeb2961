import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seal, unseal, unwrapDataKey, wrapDataKey, generateDataKey } from '../../../src/core/envelope.js';
import { createCA } from '../../../src/core/pki.js';
import { createKeyRing, loadKeyRing, parseKeyRing, retireUnusedKeys, rotateKeyRing, rotationDue } from '../../../src/core/keyring.js';
import { sealingKeyIdOf } from '../../../src/core/sealing-cert.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const ring0 = createKeyRing(t0);

describe('key ring', () => {
  it('starts with one active key of each kind, and the certificate names the sealing key', () => {
    const ring = loadKeyRing(ring0);
    expect(ring.data.keks).toHaveLength(1);
    expect(ring.activeKek().key).toHaveLength(32);
    expect(sealingKeyIdOf(ring.activeSealing().certPem)).toBe(ring.activeSealing().id);
  });

  it('round-trips through JSON and refuses malformed rings without echoing them', () => {
    expect(parseKeyRing(JSON.stringify(ring0))).toEqual(ring0);
    expect(() => parseKeyRing('{')).toThrow(/not valid JSON/);
    expect(() => parseKeyRing(JSON.stringify({ ...ring0, keks: [] }))).toThrow(/malformed: keks/);
    expect(() => parseKeyRing(JSON.stringify({ ...ring0, activeKek: 'nope' }))).toThrow(/active key it does not hold/);
  });

  // Rings that hold real key material next to the defect: the message names the field, never a key.
  const kek = ring0.keks[0]!;
  const sealing = ring0.sealing[0]!;
  it.each([
    ['an unknown format', { ...ring0, format: 2 }, /malformed: format/],
    ['a key that is not a string', { ...ring0, keks: [{ ...kek, key: [kek.key] }] }, /malformed: keks\.0\.key/],
    ['a key entry without id', { ...ring0, keks: [{ key: kek.key, createdAt: kek.createdAt }] }, /malformed: keks\.0\.id/],
    ['a sealing key without certificate', { ...ring0, sealing: [{ ...sealing, certPem: undefined }] }, /malformed: sealing\.0\.certPem/],
    ['an active key it does not hold', { ...ring0, activeSealing: kek.key }, /active key it does not hold/],
  ])('refuses %s, naming the field and no key', (_what, ring, message) => {
    let error: unknown;
    try {
      parseKeyRing(JSON.stringify(ring));
    } catch (err) {
      error = err;
    }
    expect(error, 'parseKeyRing accepted a malformed ring').toBeInstanceOf(Error);
    const text = `${(error as Error).message} ${JSON.stringify(error)}`;
    expect(text).toMatch(message);
    expect(text).not.toContain(kek.key);
    expect(text).not.toContain(sealing.privateKeyPem.split('\n')[1]);
  });

  it('rotates to new active keys while old ones still open old data', async () => {
    const old = loadKeyRing(ring0);
    const sealed = seal({ publicKey: createPublicKey(old.activeSealing().certPem), keyId: old.activeSealing().id, tenantId: 't', namespace: 'n', name: 'N', value: Buffer.from('v') });
    const wrapped = wrapDataKey({ kek: old.activeKek(), tenant: 't', dataKey: generateDataKey() });
    const rotated = loadKeyRing(rotateKeyRing(ring0, new Date('2026-04-01T00:00:00Z')));
    expect(rotated.activeKek().id).not.toBe(old.activeKek().id);
    expect(rotated.activeSealing().id).not.toBe(old.activeSealing().id);
    expect((await unseal({ privateKeys: rotated.sealingKey, binding: { tenantId: 't', namespace: 'n', name: 'N' }, sealed })).toString()).toBe('v');
    expect(unwrapDataKey({ keks: rotated.kek, tenant: 't', wrapped })).toHaveLength(32);
  });

  it('is due for rotation once the period has passed', () => {
    const ring = loadKeyRing(ring0);
    expect(rotationDue(ring, new Date('2026-01-31T00:00:00Z'), 90 * 86400)).toBe(false);
    expect(rotationDue(ring, new Date('2026-04-01T00:00:00Z'), 90 * 86400)).toBe(true);
  });

  it('refuses a certificate that is not a sealing certificate', () => {
    const other = createCA({ commonName: 'some other CA', now: t0, validDays: 1 });
    expect(() => sealingKeyIdOf(other.certPem)).toThrow(/not an Orka Secrets sealing certificate/);
  });
});

describe('retireUnusedKeys', () => {
  const day = 86_400_000;
  const ring1 = rotateKeyRing(ring0, new Date(t0.getTime() + 10 * day));
  const ring2 = rotateKeyRing(ring1, new Date(t0.getTime() + 20 * day));

  it('drops key-encryption keys that wrap nothing, keeps the active one and those in use', () => {
    const next = retireUnusedKeys(ring2, new Set([ring1.activeKek]), new Date(t0.getTime() + 21 * day));
    expect(next.keks.map((k) => k.id)).toEqual([ring1.activeKek, ring2.activeKek]);
    expect(retireUnusedKeys(ring2, new Set(), new Date()).keks.map((k) => k.id)).toEqual([ring2.activeKek]);
  });

  it('keeps every sealing key without a retention, and drops those replaced longer ago than it', () => {
    const now = new Date(t0.getTime() + 25 * day);
    expect(retireUnusedKeys(ring2, new Set(), now).sealing).toHaveLength(3);
    // ring0's key was replaced at day 10 (15 days ago), ring1's at day 20 (5 days ago).
    expect(retireUnusedKeys(ring2, new Set(), now, 7 * 86_400).sealing.map((k) => k.id)).toEqual([ring1.activeSealing, ring2.activeSealing]);
    expect(retireUnusedKeys(ring2, new Set(), now, 1).sealing.map((k) => k.id)).toEqual([ring2.activeSealing]);
  });
});
