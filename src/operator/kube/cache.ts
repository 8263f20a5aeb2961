/**
 * The operator's one view of the cluster: one informer per kind and selector, made once by the
 * composition root and read by every part (controller, resolver, key store, certificates,
 * webhooks, usage). Nothing else in the operator watches the API.
 *
 * What is cached is what is owned or referenced, and no more:
 *   orkaSecrets  every OrkaSecret in the watched namespaces (the desired state)
 *   namespaces   every Namespace (tenancy labels and UIDs; small)
 *   storage      the storage Secrets, by label (ciphertext the resolver serves from memory)
 *   sources      every other Secret of the watched namespaces, as metadata only: the operator
 *                learns that a `valueFrom` source changed without holding any Secret's data, and
 *                reads the one Secret it needs when it reconciles
 *   own          the Secrets of the operator's own namespace (key ring, data keys, serving
 *                certificate), watched once for the key store and the certificate manager
 */
import type { KubeConfig, KubernetesObject, V1Namespace, V1Secret } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL, type OrkaSecret } from '../../api/resource.js';
import { tenancyOf, type Tenancy } from '../../api/tenancy.js';
import type { Logger } from '../../core/logger.js';
import { watchNamespaces, watchOrkaSecrets, watchSecretMetadata, watchSecrets, type ObjectMeta, type Watched } from './informers.js';

/** What the cache covers. */
export interface CacheScope {
  /** The operator's own namespace: never a tenant; its Secrets are the keys. */
  operatorNamespace: string;
  /** Namespaces whose OrkaSecrets and Secrets are watched; empty: all. */
  namespaces: readonly string[];
  /** Objects per page of each list (tests make it small to see paging). */
  pageSize?: number;
}

/** The label selector of storage Secrets (a source Secret never matches it). */
export const STORAGE_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${STORAGE_FOR_LABEL}`;

/** The shared, read-only view of the cluster. */
export class ClusterCache {
  readonly orkaSecrets: Watched<OrkaSecret>;
  readonly namespaces: Watched<V1Namespace>;
  readonly storage: Watched<V1Secret>;
  readonly sources: Watched<ObjectMeta>;
  readonly own: Watched<V1Secret>;

  constructor(
    kc: KubeConfig,
    private readonly scope: CacheScope,
    log: Logger,
  ) {
    const { pageSize } = scope;
    this.orkaSecrets = watchOrkaSecrets(kc, log, scope.namespaces, pageSize);
    this.namespaces = watchNamespaces(kc, log, pageSize);
    this.storage = watchSecrets(kc, log, { namespaces: scope.namespaces, labelSelector: STORAGE_SELECTOR, pageSize });
    // The operator's namespace is watched by `own` (it is never a tenant: nothing there is a
    // source); a Secret labelled as storage is not a source either.
    const others = scope.namespaces.filter((ns) => ns !== scope.operatorNamespace);
    this.sources = watchSecretMetadata(kc, log, {
      // (Scoped to the operator's namespace alone, the field selector below leaves it empty.)
      namespaces: scope.namespaces.length > 0 && others.length === 0 ? [scope.operatorNamespace] : others,
      labelSelector: `!${STORAGE_FOR_LABEL}`,
      fieldSelector: `metadata.namespace!=${scope.operatorNamespace}`,
      pageSize,
    });
    this.own = watchSecrets(kc, log, { namespaces: [scope.operatorNamespace], pageSize });
  }

  /** Resolves once every cache has been filled once. */
  get synced(): Promise<void> {
    return Promise.all(this.all().map(([, w]) => w.synced)).then(() => undefined);
  }

  /** When each cache was last known to be current (epoch ms), by name. */
  freshness(): Array<{ name: string; confirmedAt: number }> {
    return this.all().map(([name, w]) => ({ name, confirmedAt: w.confirmedAt() }));
  }

  /**
   * This replica's view revision: the newest resourceVersion the caches a resolve reads
   * (OrkaSecrets and storage Secrets) have processed (kube/informers.ts, core/revision.ts). Every
   * change up to it that concerns a resolve is in what this replica answers, provided each of
   * those caches is current (the freshness bound, health.ts, refuses resolves otherwise).
   */
  viewRevision(): number {
    return Math.max(this.orkaSecrets.processed(), this.storage.processed());
  }

  /** Whether a namespace is a tenant, as last seen, and if not why. */
  tenancy(namespace: string): Tenancy {
    return tenancyOf(namespace, this.namespaces.get(namespace)?.metadata?.labels, this.scope.operatorNamespace);
  }

  /** The UID of a namespace, as last seen (undefined: it does not exist). */
  namespaceUid(namespace: string): string | undefined {
    return this.namespaces.get(namespace)?.metadata?.uid;
  }

  /** Stops every informer. */
  async stop(): Promise<void> {
    await Promise.all(this.all().map(([, w]) => w.stop()));
  }

  private all(): Array<[string, Watched<KubernetesObject>]> {
    return [
      ['orkasecrets', this.orkaSecrets],
      ['namespaces', this.namespaces],
      ['storage secrets', this.storage],
      ['source secrets', this.sources],
      ['own secrets', this.own],
    ];
  }
}
