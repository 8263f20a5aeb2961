/**
 * The operator's one view of the cluster: one informer per kind and selector, made once by the
 * composition root and read by every part (controller, resolver, key store, certificates,
 * webhooks, usage). Nothing else in the operator watches the API.
 *
 * What is cached is what is owned or referenced, and no more:
 *   orkaSecrets  every OrkaSecret in the watched namespaces (the desired state)
 *   namespaces   every Namespace (tenancy labels and UIDs; small)
 *   storage      the storage Secrets (ciphertext the resolver serves from memory), selected by
 *                labels anyone can set: held with their data only when the operator wrote them
 *                (StorageCache below); anything else with those labels is held as metadata only
 *   sources      every other Secret of the watched namespaces, as metadata only: the operator
 *                learns that a `valueFrom` source changed without holding any Secret's data, and
 *                reads the one Secret it needs when it reconciles
 *   own          the Secrets of the operator's own namespace (key ring, data keys, serving
 *                certificate), watched once for the key store and the certificate manager
 */
import type { KubeConfig, KubernetesObject, V1Namespace, V1Secret } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL, storageName } from '../../api/resource.js';
import { MAX_STORAGE_OBJECT_BYTES, mayBeAdmittedLater, toStorageMetadata, withheld, type StorageContext, type Withheld } from '../../api/storage.js';
import { tenancyOf, type Tenancy } from '../../api/tenancy.js';
import type { Logger } from '../../core/logger.js';
import { restOf } from './client.js';
import { secretsPath } from './rest.js';
import { heldBytes, measure, slim, watchNamespaces, watchOrkaSecrets, watchSecretMetadata, watchSecrets, type CachedOrkaSecret, type ObjectMeta, type Watched } from './informers.js';

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

type Verb = 'add' | 'update' | 'delete';

/**
 * The storage Secrets, as the resolver and the reconciler may trust them. The informer selects
 * them by two labels anyone who can create a Secret can set, so each Secret is judged as it
 * arrives (src/api/storage.ts `withheld`): held with its data only in a tenant namespace, under
 * the storage name of a known OrkaSecret that is its controller, and no larger than
 * MAX_STORAGE_OBJECT_BYTES; any other is held as metadata only, and an oversize one is logged.
 *
 * Watches arrive in any order: a storage Secret can arrive before its OrkaSecret, or before its
 * namespace's tenant label. Such a Secret is read again from the API once its OrkaSecret or
 * namespace arrives (`recheck`), and held with its data from then on (until it changes, when the
 * watch brings it judged anew). The first list waits for the OrkaSecret and Namespace caches, so
 * a start reads none again.
 */
export class StorageCache implements Watched<V1Secret> {
  /** Why each entry held as metadata only is (by the informer's object). */
  private readonly reasons = new WeakMap<object, Withheld>();
  /** Entries withheld for want of their OrkaSecret or namespace, read again since and admitted. */
  private readonly admitted = new Map<string, V1Secret>();
  /** Re-reads in flight, by namespace/name. */
  private readonly rereads = new Map<string, Promise<void>>();
  private readonly listeners: Record<Verb, Array<(s: V1Secret) => void>> = { add: [], update: [], delete: [] };
  private readonly informer: Watched<V1Secret>;

  constructor(
    private readonly kc: KubeConfig,
    private readonly log: Logger,
    private readonly context: (namespace: string) => StorageContext,
    options: { namespaces: readonly string[]; pageSize?: number; after: Promise<unknown> },
  ) {
    this.informer = watchSecrets(kc, log, { ...options, labelSelector: STORAGE_SELECTOR, transform: (s) => this.judge(s) });
    // First (before any reader's callback): a change drops the re-read copy, the watch's is newer.
    for (const verb of ['add', 'update', 'delete'] as const) this.informer.on(verb, (s) => this.admitted.delete(keyOf(s)));
  }

  /** Judges a Secret as it arrives: kept whole, or reduced in place to metadata (and why). */
  private judge(secret: V1Secret): void {
    const { name, namespace } = secret.metadata ?? {};
    // A bookmark carries a resourceVersion only.
    if (name === undefined || namespace === undefined) return;
    const bytes = JSON.stringify(secret).length;
    const why = withheld(secret, bytes, this.context(namespace));
    if (why === undefined) {
      measure(secret, bytes);
      return;
    }
    if (why === 'oversize') {
      this.log.warn({ namespace, name, bytes, limit: MAX_STORAGE_OBJECT_BYTES }, 'a storage Secret is larger than any stored value can be: only its metadata is cached, and its OrkaSecret is stored again');
    }
    toStorageMetadata(secret);
    this.reasons.set(secret, why);
    measure(secret);
  }

  /**
   * Reads again the withheld entries of `namespace` (or its one entry `name`) that would be
   * admitted now that their OrkaSecret or namespace is known. Returns when those reads are done.
   */
  async recheck(namespace: string, name?: string): Promise<void> {
    const entries = name === undefined ? this.informer.list(namespace) : [this.informer.get(name, namespace)];
    const reads: Array<Promise<void>> = [];
    for (const entry of entries) {
      const why = entry === undefined ? undefined : this.reasons.get(entry);
      if (entry === undefined || why === undefined || !mayBeAdmittedLater(why) || this.admitted.has(keyOf(entry))) continue;
      // Its metadata says whether it can pass now (its size is judged on the copy read).
      if (withheld(entry, 0, this.context(namespace)) !== undefined) continue;
      reads.push(this.reread(entry));
    }
    await Promise.all(reads);
  }

  private reread(entry: V1Secret): Promise<void> {
    const key = keyOf(entry);
    const inflight = this.rereads.get(key);
    if (inflight !== undefined) return inflight;
    const { name = '', namespace = '' } = entry.metadata ?? {};
    const read = (async () => {
      try {
        const fresh = await restOf(this.kc).send<V1Secret>({ method: 'GET', path: secretsPath(namespace, name) });
        slim(fresh);
        this.judge(fresh);
        const current = this.informer.get(name, namespace);
        // Still not storage, or changed since (the watch brings that version, judged as it arrives).
        if (this.reasons.has(fresh) || current === undefined || current.metadata?.resourceVersion !== fresh.metadata?.resourceVersion || !this.reasons.has(current)) return;
        this.admitted.set(key, fresh);
        for (const cb of this.listeners.update) cb(fresh);
      } catch (err) {
        // Not found: it was deleted, and the watch says so. Otherwise the next recheck tries again.
        this.log.warn({ namespace, name, err: { message: (err as Error).message } }, 'could not read a storage Secret again');
      } finally {
        this.rereads.delete(key);
      }
    })();
    this.rereads.set(key, read);
    return read;
  }

  /** The entry as readers see it: a withheld one replaced by its admitted copy of the same version. */
  private view(entry: V1Secret | undefined): V1Secret | undefined {
    if (entry === undefined || !this.reasons.has(entry)) return entry;
    const copy = this.admitted.get(keyOf(entry));
    return copy !== undefined && copy.metadata?.resourceVersion === entry.metadata?.resourceVersion ? copy : entry;
  }

  /** Whether the cache holds this entry as metadata only (no data). */
  isWithheld(secret: V1Secret): boolean {
    return this.reasons.has(secret);
  }

  /** Whether this entry is held as metadata only though its OrkaSecret and namespace now admit it (a re-read failed, or is due). */
  isPending(secret: V1Secret): boolean {
    const why = this.reasons.get(secret);
    const namespace = secret.metadata?.namespace;
    return why !== undefined && mayBeAdmittedLater(why) && namespace !== undefined && this.view(secret) === secret && withheld(secret, 0, this.context(namespace)) === undefined;
  }

  get(name: string, namespace?: string): V1Secret | undefined {
    return this.view(this.informer.get(name, namespace));
  }

  list(namespace?: string): V1Secret[] {
    return this.informer.list(namespace).map((s) => this.view(s) as V1Secret);
  }

  on(verb: Verb, cb: (obj: V1Secret) => void): void {
    this.listeners[verb].push(cb);
    this.informer.on(verb, cb);
  }

  get synced(): Promise<void> {
    return this.informer.synced;
  }

  confirmedAt(): number {
    return this.informer.confirmedAt();
  }

  processed(): number {
    return this.informer.processed();
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }
}

function keyOf(s: V1Secret): string {
  return `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
}

/** The shared, read-only view of the cluster. */
export class ClusterCache {
  readonly orkaSecrets: Watched<CachedOrkaSecret>;
  readonly namespaces: Watched<V1Namespace>;
  readonly storage: StorageCache;
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
    const context = (namespace: string): StorageContext => ({ tenancy: this.tenancy(namespace), ownerUid: (name) => this.orkaSecrets.get(name, namespace)?.metadata.uid });
    const after = Promise.all([this.orkaSecrets.synced, this.namespaces.synced]);
    this.storage = new StorageCache(kc, log, context, { namespaces: scope.namespaces, after, ...(pageSize === undefined ? {} : { pageSize }) });
    // A storage Secret that arrived before its OrkaSecret or its namespace's tenant label.
    for (const verb of ['add', 'update'] as const) {
      this.orkaSecrets.on(verb, (o) => void this.storage.recheck(o.metadata.namespace, storageName(o.metadata.name)));
      this.namespaces.on(verb, (ns) => {
        if (ns.metadata?.name !== undefined) void this.storage.recheck(ns.metadata.name);
      });
    }
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

  /**
   * The storage Secret of OrkaSecret `objectName`, once a re-read of it (StorageCache) is done:
   * for the reconciler, which must not take one the cache holds as metadata only for want of an
   * OrkaSecret it knows now for a missing value (if the read failed, StorageCache.isPending says so).
   */
  async storageOf(objectName: string, namespace: string): Promise<V1Secret | undefined> {
    const name = storageName(objectName);
    await this.storage.recheck(namespace, name);
    return this.storage.get(name, namespace);
  }

  /** Bytes each cache that measures its objects holds (JSON characters, about bytes), by cache. */
  heldBytes(): Array<{ cache: string; bytes: number }> {
    return [
      { cache: 'storage', bytes: heldBytes(this.storage.list()) },
      { cache: 'orkasecrets', bytes: heldBytes(this.orkaSecrets.list()) },
    ];
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
