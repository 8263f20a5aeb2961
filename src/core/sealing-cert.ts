/**
 * The sealing certificate's key id, read without the key ring's code: the CLI's `seal` and
 * `fetch-cert` need only this, and loading the key ring (its schema and certificate maker) would
 * cost them most of their start-up.
 */
import { X509Certificate } from 'node:crypto';
import { OrkaError } from './errors.js';

/** The sealing certificate's common name carries the key id, so a certificate alone is enough to seal offline. */
export const SEALING_CN_PREFIX = 'orka-secrets sealing key ';

/** The sealing key id named by a sealing certificate. */
export function sealingKeyIdOf(certPem: string): string {
  const cn = /CN=([^\n,]+)/.exec(new X509Certificate(certPem).subject)?.[1] ?? '';
  if (!cn.startsWith(SEALING_CN_PREFIX)) throw new OrkaError('INVALID_REQUEST', 'this is not an Orka Secrets sealing certificate');
  return cn.slice(SEALING_CN_PREFIX.length);
}
