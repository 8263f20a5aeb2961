/**
 * Sealing in the browser with WebCrypto: the same "sealed value" envelope as `seal` in
 * src/core/envelope.ts (layout 2; its doc comment holds the byte layout), so the operator opens
 * what the page seals. A fresh AES-256-GCM key per value, wrapped with RSA-OAEP-SHA256 whose OAEP
 * label is `TENANT/namespace/NAME` (TENANT: the namespace's orka.io/tenant label, which the
 * dashboard server reads for the page); the GCM additional data is every byte before the
 * wrapped-key length.
 *
 * Uses only `crypto.subtle` and `crypto.getRandomValues`, which exist in browsers (in a secure
 * context: https or loopback) and in Node, so a unit test seals here and opens with the core.
 */

import { isTenantId } from '../../core/names.js';

/** The public half of the operator's sealing key, as the dashboard server hands it to the page. */
export interface SealingKey {
  /** Id of the sealing key (from the certificate's subject), written into the envelope. */
  keyId: string;
  /** The certificate's public key, DER SubjectPublicKeyInfo, base64. */
  spki: string;
}

/** The sealing key for one namespace, with that namespace's tenant id: every value sealed for it is bound to that id. */
export interface NamespaceSealingKey extends SealingKey {
  /** The value of the namespace's `orka.io/tenant` label. */
  tenant: string;
}

/** Largest value accepted, in bytes (MAX_VALUE_BYTES of the core). */
export const MAX_VALUE_BYTES = 64 * 1024;

const KIND_SEALED = 0x53;
/** Layout 2: bound to tenant id, namespace and name. */
const LAYOUT_VERSION = 0x02;

function u16(n: number): Uint8Array {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Base64 of bytes, without Buffer (not in browsers). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Seals `value` (UTF-8 text) for the tenant of `key`, one namespace and secret name; returns the
 * envelope in base64, ready for `spec.sealedValue`. Throws when the value is larger than
 * MAX_VALUE_BYTES or the tenant id is not one (the server's checks of names come first).
 */
export async function sealValue(key: NamespaceSealingKey, namespace: string, name: string, value: string): Promise<string> {
  const encoder = new TextEncoder();
  const plaintext = encoder.encode(value);
  if (plaintext.length > MAX_VALUE_BYTES) throw new RangeError(`the value is ${plaintext.length} bytes; at most ${MAX_VALUE_BYTES} are allowed`);
  const keyId = encoder.encode(key.keyId);
  if (keyId.length < 1 || keyId.length > 255) throw new RangeError('the sealing key id must be 1 to 255 bytes');
  // A label value (what a tenant id is) never holds a "/": the label's three parts cannot run together.
  if (!isTenantId(key.tenant)) throw new RangeError('the namespace has no valid tenant id (its orka.io/tenant label) to seal for');
  const label = encoder.encode(`${key.tenant}/${namespace}/${name}`);
  const head = concat([new Uint8Array([KIND_SEALED, LAYOUT_VERSION, keyId.length]), keyId, u16(label.length), label]);

  // Browsers give WebCrypto to secure origins only (HTTPS, or localhost).
  const subtle = globalThis.crypto?.subtle as SubtleCrypto | undefined;
  if (subtle === undefined) throw new Error('this page is not served over HTTPS, and browsers seal only on secure pages: open it through https:// (the Ingress or sign-in proxy in front of it)');
  const publicKey = await subtle.importKey('spki', fromBase64(key.spki), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
  const sessionKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  try {
    const wrapped = new Uint8Array(await subtle.encrypt({ name: 'RSA-OAEP', label }, publicKey, sessionKey));
    const aesKey = await subtle.importKey('raw', sessionKey, { name: 'AES-GCM' }, false, ['encrypt']);
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(12));
    // WebCrypto returns ciphertext || 16-byte tag: the core's layout after the nonce.
    const body = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: head, tagLength: 128 }, aesKey, plaintext));
    return toBase64(concat([head, u16(wrapped.length), wrapped, nonce, body]));
  } finally {
    sessionKey.fill(0);
    plaintext.fill(0);
  }
}
