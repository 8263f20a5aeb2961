/**
 * The Secrets page's side of an OrkaSecret, pure: what a row and the detail panel show (never a
 * value, nor the sealed envelope), and the checks of what the page sends before any call.
 */
import { X509Certificate } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { OrkaSecret } from '../api/resource.js';
import { sealedFor } from '../core/envelope.js';
import { OrkaError } from '../core/errors.js';
import { assertSecretName, referenceOf, toSecretName } from '../core/names.js';
import { sealingKeyIdOf } from '../core/sealing-cert.js';
import { MAX_DESCRIPTION, type SecretEvent, type SecretRow, type SecretSource } from './api.js';
import { statusOf } from './status.js';
import type { SealingKey } from './web/seal.js';

/** Largest sealed value accepted: a 64 KiB value in base64 plus the envelope's overhead. */
const MAX_SEALED_CHARS = 96 * 1024;

/** The public sealing key in a sealing certificate, in the form the page imports. */
export function sealingKeyOf(certPem: string): SealingKey {
  return {
    keyId: sealingKeyIdOf(certPem),
    spki: new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** One OrkaSecret as a row of the page: names, dates and status only. */
export function toRow(o: OrkaSecret): SecretRow {
  let name: string;
  try {
    name = toSecretName(o.metadata.name);
  } catch {
    name = o.metadata.name;
  }
  return {
    name,
    description: o.spec?.description ?? '',
    // Custom objects arrive as plain JSON (a string); typed clients give a Date.
    created: o.metadata.creationTimestamp instanceof Date ? o.metadata.creationTimestamp.toISOString() : String(o.metadata.creationTimestamp ?? ''),
    ...(o.status?.valueUpdatedAt ? { updated: o.status.valueUpdatedAt } : {}),
    reference: o.status?.reference ?? referenceOf(name),
    status: statusOf(o),
    ...(o.status?.usage?.lastResolvedAt ? { lastUsed: o.status.usage.lastResolvedAt } : {}),
    version: o.status?.version ?? 0,
  };
}

/** Where an OrkaSecret's value comes from, without the value (nor the sealed envelope). */
export function sourceOf(o: OrkaSecret): SecretSource {
  const ref = o.spec?.valueFrom?.secretKeyRef;
  if (ref !== undefined) return { kind: 'valueFrom', secret: ref.name, key: ref.key };
  return o.spec?.sealedValue ? { kind: 'sealed' } : { kind: 'none' };
}

/** Events as the detail panel lists them: newest first, at most `max`. */
export function recentEvents(events: CoreV1Event[], max = 10): SecretEvent[] {
  const when = (e: CoreV1Event): string => {
    const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
    return t instanceof Date ? t.toISOString() : String(t ?? '');
  };
  return events
    .map((e) => ({ type: e.type ?? '', reason: e.reason ?? '', message: e.message ?? '', count: e.count ?? 1, last: when(e) }))
    .sort((a, b) => b.last.localeCompare(a.last))
    .slice(0, max);
}

/** A description as the page sent it, checked (undefined: none sent). */
export function checkDescription(description: unknown): string | undefined {
  if (description === undefined) return undefined;
  if (typeof description !== 'string') throw new OrkaError('INVALID_REQUEST', 'the description must be text', { field: 'description' });
  if (description.length > MAX_DESCRIPTION) {
    throw new OrkaError('INVALID_REQUEST', `the description is ${description.length} characters long; at most ${MAX_DESCRIPTION} are allowed`, { field: 'description' });
  }
  return description;
}

/** Checks a sealed value's form and whom it claims to be for; never echoes it. */
export function checkSealed(sealedValue: unknown, namespace: string, name: string): string {
  if (typeof sealedValue !== 'string' || sealedValue.length === 0 || sealedValue.length > MAX_SEALED_CHARS || !/^[A-Za-z0-9+/]+={0,2}$/.test(sealedValue)) {
    throw new OrkaError('INVALID_REQUEST', 'the value must arrive sealed by the page (base64 envelope of at most 64 KiB of value)', { field: 'value' });
  }
  const target = sealedFor(Buffer.from(sealedValue, 'base64'));
  // The page seals for a tenant (layout 2); whether it is this namespace's tenant, the operator says.
  if (target?.tenantId === undefined || target.namespace !== namespace || target.name !== name) {
    throw new OrkaError('INVALID_REQUEST', `the value was not sealed for ${namespace}/${name}: reload the page and try again`, { field: 'value' });
  }
  return sealedValue;
}

/** A secret name as the page sent it, checked. */
export function assertName(name: unknown): string {
  if (typeof name !== 'string') throw new OrkaError('INVALID_SECRET_NAME', 'the name is missing', { field: 'name' });
  try {
    return assertSecretName(name);
  } catch (err) {
    throw new OrkaError('INVALID_SECRET_NAME', (err as Error).message, { field: 'name' });
  }
}

