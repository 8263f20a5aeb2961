/**
 * Which OrkaSecrets take their value from which Secret (`spec.valueFrom.secretKeyRef.name`), kept
 * as OrkaSecrets come, change and go, so a Secret's change finds its readers by lookup instead of
 * a scan of every OrkaSecret in its namespace (Secrets change often: tokens, CI, Helm releases).
 */
import { objectKey } from '../../api/resource.js';

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
