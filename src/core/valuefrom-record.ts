/**
 * The admission record of a `valueFrom` reference, pure: an HMAC that the operator's admission
 * webhook puts on an OrkaSecret (annotation VALUE_FROM_RECORD_ANNOTATION) once a
 * SubjectAccessReview said the requester may read the source Secret. The reconciler reads a source
 * with its own rights only when the record verifies, so a moment the webhook could not answer (or
 * an object older than the check) never makes the operator lend its rights.
 *
 * The MAC covers the namespace's UID and name, the OrkaSecret's name and the source's Secret name
 * and key (domain-separated, as a JSON array): copied to another OrkaSecret, reference, namespace or
 * a namesake namespace made later, it verifies nothing. It does not cover the object's UID (the
 * apiserver assigns it after mutating admission), so deleting and creating the same name with the
 * same reference keeps a record someone authorized made for exactly that.
 *
 * Keys: derived (HKDF-SHA256, an info string of their own) from each sealing private key of the
 * key ring, named by the sealing key's id. Sealing keys stay in the ring as long as manifests
 * sealed with them must open (forever unless ORKA_SEALING_KEY_RETENTION is set); the reconciler
 * stamps a record made with a replaced key again with the active one (core/keyring.ts).
 *
 * Layout of the annotation's value: `v1.<sealing key id>.<base64url of the 32-byte HMAC-SHA256>`.
 */
import { createHmac, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';

/** The annotation that carries the record. */
export const VALUE_FROM_RECORD_ANNOTATION = 'orka.io/value-from-authorized';

const VERSION = 'v1';
const HKDF_INFO = 'orka-secrets valueFrom admission record v1';
const DOMAIN = 'orka.io/value-from/v1';

/** What a record binds: where the OrkaSecret is, its name, and the Secret and key it reads. */
export interface RecordBinding {
  namespaceUid: string;
  namespace: string;
  name: string;
  secret: string;
  key: string;
}

/** The record keys: the active one (new records) and every one that still verifies, by id. */
export interface RecordKeys {
  activeId: string;
  key(id: string): Buffer | undefined;
}

/** A record key derived from a sealing private key (never the sealing key itself). */
export function deriveRecordKey(sealingKey: KeyObject): Buffer {
  const ikm = sealingKey.export({ type: 'pkcs8', format: 'der' });
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), HKDF_INFO, 32));
}

function mac(key: Buffer, b: RecordBinding): Buffer {
  return createHmac('sha256', key).update(JSON.stringify([DOMAIN, b.namespaceUid, b.namespace, b.name, b.secret, b.key])).digest();
}

/** The annotation value recording that `b` was authorized, made with the active key. */
export function stampRecord(keys: RecordKeys, b: RecordBinding): string {
  const key = keys.key(keys.activeId);
  if (key === undefined) throw new Error('the active record key is missing');
  return `${VERSION}.${keys.activeId}.${mac(key, b).toString('base64url')}`;
}

/** What a record says of a binding: verified (and whether with the active key), or why not. */
export type RecordCheck = { ok: true; active: boolean } | { ok: false; problem: 'missing' | 'malformed' | 'unknown-key' | 'mismatch' };

/** Checks `annotation` (the value found on the object, if any) against `b`. */
export function verifyRecord(keys: RecordKeys, b: RecordBinding, annotation: string | undefined): RecordCheck {
  if (annotation === undefined || annotation === '') return { ok: false, problem: 'missing' };
  const parts = annotation.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION || !/^[A-Za-z0-9_-]{43}$/.test(parts[2] as string)) return { ok: false, problem: 'malformed' };
  const id = parts[1] as string;
  const key = keys.key(id);
  if (key === undefined) return { ok: false, problem: 'unknown-key' };
  const given = Buffer.from(parts[2] as string, 'base64url');
  if (given.length !== 32 || !timingSafeEqual(given, mac(key, b))) return { ok: false, problem: 'mismatch' };
  return { ok: true, active: id === keys.activeId };
}
