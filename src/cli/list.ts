/**
 * What `list` prints, kubectl's way: a table (`-o wide` adds columns, `--no-headers` drops the
 * header row), `-o name` for one secret name a line (as the other commands take it), and
 * `-o json|yaml` as a Kubernetes `List` of the OrkaSecret objects themselves (what
 * `kubectl get osec -o json` gives, without managedFields), so scripts read the same fields
 * through either tool. Pure: the objects in, the text out.
 */
import { stringify } from 'yaml';
import { toSecretName } from '../core/names.js';
import type { OrkaSecret } from '../api/resource.js';
import { ago, ready, table } from './output.js';

/** The formats of `list -o`. */
export const LIST_FORMATS = ['table', 'wide', 'name', 'yaml', 'json'] as const;

/** How `list` prints. */
export interface ListOptions {
  output: (typeof LIST_FORMATS)[number];
  allNamespaces: boolean;
  headers: boolean;
  now?: number;
}

/** The secret name of an object; an object name that is none is shown, marked, rather than dropped. */
export function secretNameOf(objectName: string): string {
  try {
    return toSecretName(objectName);
  } catch {
    return `(invalid: ${objectName})`;
  }
}

/** The objects as a Kubernetes List (apiVersion v1, kind List), managedFields left out. */
export function asList(items: OrkaSecret[]): { apiVersion: 'v1'; kind: 'List'; metadata: { resourceVersion: string }; items: OrkaSecret[] } {
  const strip = (o: OrkaSecret): OrkaSecret => {
    const metadata = { ...o.metadata } as OrkaSecret['metadata'] & { managedFields?: unknown };
    delete metadata.managedFields;
    return { ...o, metadata };
  };
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: items.map(strip) };
}

/** How a secret's value is given: a sealed value, a Secret's key, or none (the stored one kept). */
function source(o: OrkaSecret): string {
  if (o.spec?.sealedValue !== undefined) return 'sealedValue';
  const ref = o.spec?.valueFrom?.secretKeyRef;
  return ref ? `secret/${ref.name}:${ref.key}` : 'kept';
}

/** The text `list` prints for these objects. */
export function renderList(items: OrkaSecret[], opts: ListOptions): string {
  if (opts.output === 'json') return `${JSON.stringify(asList(items), null, 2)}\n`;
  if (opts.output === 'yaml') return stringify(asList(items));
  if (opts.output === 'name') return items.map((o) => `${secretNameOf(o.metadata.name)}\n`).join('');
  const now = opts.now ?? Date.now();
  const wide = opts.output === 'wide';
  const ns = (o: OrkaSecret) => (opts.allNamespaces ? [o.metadata.namespace ?? ''] : []);
  const header = [...(opts.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'DESCRIPTION', 'CREATED', 'REFERENCE', 'READY', 'LAST USED', ...(wide ? ['VERSION', 'RESOLUTIONS', 'SOURCE'] : [])];
  const rows = items.map((o) => [
    ...ns(o),
    secretNameOf(o.metadata.name),
    o.spec?.description ?? '',
    ago(o.metadata.creationTimestamp, now),
    o.status?.reference ?? '',
    ready(o),
    ago(o.status?.usage?.lastResolvedAt, now),
    ...(wide ? [String(o.status?.version ?? ''), String(o.status?.usage?.resolveCount ?? 0), source(o)] : []),
  ]);
  return table([header, ...rows], opts.headers);
}
