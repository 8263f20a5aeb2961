/**
 * The operator's key ring, pure: key-encryption keys (wrap tenant data keys) and RSA sealing
 * keys (with their self-signed certificates, for the CLI), each with an id. The newest of each
 * kind is active; older ones stay so that everything made with them still opens.
 *
 * Persisted as one JSON document in the Secret `orka-secrets-keys` of the operator's namespace.
 * Losing that Secret loses every stored value: back it up (see the README).
 */
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { RandomSource } from './envelope.js';
import { OrkaError } from './errors.js';
import { createSealingCert, generateRsaKeyPair, type RsaKeyPairPem } from './pki.js';
import { SEALING_CN_PREFIX } from './sealing-cert.js';


/** Secret data key under which the ring is stored. */
export const KEYRING_DATA_KEY = 'keyring.json';

const ringSchema = z.object({
  format: z.literal(1),
  activeKek: z.string().min(1),
  activeSealing: z.string().min(1),
  keks: z.array(z.object({ id: z.string().min(1), key: z.string(), createdAt: z.string() })).min(1),
  sealing: z.array(z.object({ id: z.string().min(1), privateKeyPem: z.string(), certPem: z.string(), createdAt: z.string() })).min(1),
});

/** The serialized ring. */
export type KeyRingData = z.infer<typeof ringSchema>;

/** A loaded ring with lookups. */
export interface KeyRing {
  readonly data: KeyRingData;
  /** The active key-encryption key. */
  activeKek(): { id: string; key: Buffer };
  /** Any key-encryption key by id. */
  kek(id: string): Buffer | undefined;
  /** The active sealing key's id and certificate. */
  activeSealing(): { id: string; certPem: string };
  /** Any sealing private key by id. */
  sealingKey(id: string): KeyObject | undefined;
  /** When the active keys were made. */
  activeSince(): Date;
}

function keyId(prefix: string, now: Date, random: RandomSource): string {
  return `${prefix}-${now.toISOString().slice(0, 10).replaceAll('-', '')}-${random(4).toString('hex')}`;
}

/** The size of sealing keys (RSA-OAEP). */
export const SEALING_KEY_BITS = 3072;

function newKeys(now: Date, random: RandomSource, pair: RsaKeyPairPem = generateRsaKeyPair(SEALING_KEY_BITS)): { kek: KeyRingData['keks'][number]; sealing: KeyRingData['sealing'][number] } {
  const sealingId = keyId('seal', now, random);
  const certPem = createSealingCert({ ...pair, commonName: `${SEALING_CN_PREFIX}${sealingId}`, now, validDays: 3650 }, random);
  return {
    kek: { id: keyId('kek', now, random), key: random(32).toString('base64'), createdAt: now.toISOString() },
    sealing: { id: sealingId, privateKeyPem: pair.privateKeyPem, certPem, createdAt: now.toISOString() },
  };
}

/** A fresh ring with one key of each kind (`sealingPair`: the sealing key pair, made by the caller; default: made here). */
export function createKeyRing(now: Date, random: RandomSource = randomBytes, sealingPair?: RsaKeyPairPem): KeyRingData {
  const { kek, sealing } = newKeys(now, random, sealingPair);
  return { format: 1, activeKek: kek.id, activeSealing: sealing.id, keks: [kek], sealing: [sealing] };
}

/** The ring with a new active key of each kind; the old keys stay for opening old data (`sealingPair` as for createKeyRing). */
export function rotateKeyRing(ring: KeyRingData, now: Date, random: RandomSource = randomBytes, sealingPair?: RsaKeyPairPem): KeyRingData {
  const { kek, sealing } = newKeys(now, random, sealingPair);
  return { format: 1, activeKek: kek.id, activeSealing: sealing.id, keks: [...ring.keks, kek], sealing: [...ring.sealing, sealing] };
}

/** Parses the stored JSON; throws INVALID_CONFIG (without echoing anything) when it is not a ring. */
export function parseKeyRing(json: string): KeyRingData {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new OrkaError('INVALID_CONFIG', `the key ring is not valid JSON`);
  }
  const result = ringSchema.safeParse(raw);
  if (!result.success) throw new OrkaError('INVALID_CONFIG', `the key ring is malformed: ${result.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  const ring = result.data;
  if (!ring.keks.some((k) => k.id === ring.activeKek) || !ring.sealing.some((k) => k.id === ring.activeSealing)) {
    throw new OrkaError('INVALID_CONFIG', 'the key ring names an active key it does not hold');
  }
  return ring;
}

/** Wraps ring data with lookups (private keys parsed once). */
export function loadKeyRing(data: KeyRingData): KeyRing {
  const keks = new Map(data.keks.map((k) => [k.id, Buffer.from(k.key, 'base64')]));
  const sealing = new Map(data.sealing.map((k) => [k.id, createPrivateKey(k.privateKeyPem)]));
  const active = data.sealing.find((k) => k.id === data.activeSealing) as KeyRingData['sealing'][number];
  return {
    data,
    activeKek: () => ({ id: data.activeKek, key: keks.get(data.activeKek) as Buffer }),
    kek: (id) => keks.get(id),
    activeSealing: () => ({ id: active.id, certPem: active.certPem }),
    sealingKey: (id) => sealing.get(id),
    activeSince: () => new Date(active.createdAt),
  };
}

/** Whether the active keys are older than the rotation period. */
export function rotationDue(ring: KeyRing, now: Date, periodSeconds: number): boolean {
  return now.getTime() - ring.activeSince().getTime() >= periodSeconds * 1000;
}

/**
 * The ring without the keys nothing needs any more: key-encryption keys that wrap no data key
 * (`inUse`: the ids that still do) and, when `sealingRetentionSeconds` is set, sealing keys
 * replaced longer ago than that (a sealing key is replaced when the next one is made). The active
 * keys always stay. Without a retention, sealing keys stay forever, so manifests sealed long ago
 * (in Git) keep opening.
 */
export function retireUnusedKeys(ring: KeyRingData, inUse: ReadonlySet<string>, now: Date, sealingRetentionSeconds?: number): KeyRingData {
  const keks = ring.keks.filter((k) => k.id === ring.activeKek || inUse.has(k.id));
  const sealing = ring.sealing.filter((k, i) => {
    if (k.id === ring.activeSealing || sealingRetentionSeconds === undefined) return true;
    const replacedAt = ring.sealing[i + 1]?.createdAt;
    return replacedAt === undefined || now.getTime() - new Date(replacedAt).getTime() < sealingRetentionSeconds * 1000;
  });
  return { ...ring, keks, sealing };
}
