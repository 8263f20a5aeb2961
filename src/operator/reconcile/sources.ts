/**
 * `valueFrom` sources, pure: which OrkaSecrets take their value from which Secret
 * (`spec.valueFrom.secretKeyRef.name`), kept as OrkaSecrets come, change and go, so a Secret's
 * change finds its readers by lookup instead of a scan of every OrkaSecret in its namespace
 * (Secrets change often: tokens, CI, Helm releases); and what a source Secret, once read, gives.
 */
import type { V1Secret } from '@kubernetes/client-node';
import { MAX_VALUE_BYTES } from '../../core/envelope.js';
import { objectKey, REFUSED_SOURCE_TYPES } from '../../api/resource.js';
import type { Incoming } from './decide.js';

/** What identifies a source Secret's value without reading it: its uid and version, and the key. */
export function sourceIdentity(source: { metadata?: { uid?: string; resourceVersion?: string } } | undefined, key: string): string {
  return source === undefined ? 'missing' : `secret:${source.metadata?.uid}:${source.metadata?.resourceVersion}:${key}`;
}

/** What a source Secret, as read, gives for `ref` (it is refused, missing, too large, or the value). */
export function sourceValue(source: V1Secret | undefined, ref: { name: string; key: string }): Incoming {
  if (source === undefined) return { kind: 'source-missing', secret: ref.name, key: ref.key, missing: 'secret' };
  if (source.type !== undefined && REFUSED_SOURCE_TYPES.includes(source.type)) return { kind: 'source-refused', secret: ref.name, type: source.type };
  const data = source.data?.[ref.key];
  if (data === undefined) return { kind: 'source-missing', secret: ref.name, key: ref.key, missing: 'key' };
  const value = Buffer.from(data, 'base64');
  if (value.length > MAX_VALUE_BYTES) return { kind: 'too-large', bytes: value.length, limit: MAX_VALUE_BYTES };
  return { kind: 'value', value, source: 'valueFrom' };
}

/** The readers of each source Secret, by namespace and name. Pure. */
export class SourceIndex {
  /** OrkaSecret key -> the source key it reads. */
  private readonly sourceOf = new Map<string, string>();
  /** Source key -> the OrkaSecret keys reading it. */
  private readonly readers = new Map<string, Set<string>>();

  /** An OrkaSecret was added or changed: `source` is the Secret it now reads, if any. */
  set(namespace: string, name: string, source: string | undefined): void {
    const key = objectKey(namespace, name);
    const next = source === undefined ? undefined : objectKey(namespace, source);
    const previous = this.sourceOf.get(key);
    if (previous === next) return;
    if (previous !== undefined) this.unlink(previous, key);
    if (next === undefined) {
      this.sourceOf.delete(key);
      return;
    }
    this.sourceOf.set(key, next);
    let set = this.readers.get(next);
    if (set === undefined) this.readers.set(next, (set = new Set()));
    set.add(key);
  }

  /** An OrkaSecret was deleted. */
  delete(namespace: string, name: string): void {
    this.set(namespace, name, undefined);
  }

  /** The keys of the OrkaSecrets reading Secret `name` of `namespace`. */
  readersOf(namespace: string, name: string): readonly string[] {
    return [...(this.readers.get(objectKey(namespace, name)) ?? [])];
  }

  private unlink(source: string, key: string): void {
    const set = this.readers.get(source);
    set?.delete(key);
    if (set?.size === 0) this.readers.delete(source);
  }
}
