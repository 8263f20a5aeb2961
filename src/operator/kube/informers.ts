/**
 * Informers (client-node's ListWatch: list + watch + cache, over ./rest.ts), restarted after watch errors, with a
 * promise that resolves once the first list has filled the cache, and a heartbeat: each cache
 * knows when it was last known to be current.
 *
 * Freshness: a cache is current as of the last moment it heard from the apiserver: a list that
 * completed, a watch that connected (the apiserver then sends everything since the version the
 * cache holds), or any event on the watch, bookmarks included. A quiet watch hears nothing, so
 * every watch asks for bookmarks and ends after `WATCH_TIMEOUT_SECONDS` (the apiserver sends a
 * bookmark 2 s before it ends it, when it has one); the informer then reconnects from the version
 * it holds. A healthy cache is thus confirmed at least every `WATCH_TIMEOUT_SECONDS` plus a second;
 * a cache whose connection froze is not, whatever its sockets say.
 *
 * View revision: each cache also knows the newest resourceVersion it has processed (`processed`):
 * the list it last applied, or the last object it applied from the watch, deletions included.
 * Everything up to it is in the cache (a watch delivers a kind's events in order). Bookmarks do
 * not count: they carry the revision of the last change of the whole kind anywhere in the
 * cluster, which two replicas hear seconds apart, so a replica that merely missed a bookmark
 * would look behind another. The events a cache applies are the same on every current replica
 * within milliseconds, so current replicas report the same view (src/core/revision.ts).
 *
 * Memory: a cache holds what the operator reads and no more. Managed fields and kubectl's
 * last-applied annotation (a second copy of the whole object, sealed value included) are dropped
 * before an object is cached; lists are read in pages, so a large namespace never arrives as
 * one response; and a cache may hold metadata only (PartialObjectMetadata: the apiserver sends
 * no data at all), for Secrets the operator only needs to notice changing. An OrkaSecret is cached
 * with a digest of its sealed value (up to 120,000 characters) in place of the value; a cache may
 * also reduce each object further as it arrives (`transform`: see kube/cache.ts for storage).
 */
import { createHash } from 'node:crypto';
import {
  ListWatch,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ListPromise,
  type ObjectCache,
  type V1Namespace,
  type V1ObjectMeta,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';
import { parseRevision } from '../../core/revision.js';
import { restOf } from './client.js';
import { orkaSecretsPath, secretsPath } from './rest.js';
import type { OrkaSecret, OrkaSecretSpec } from '../../api/resource.js';


/** A cache of watched objects (one informer, or one per namespace) with change callbacks. */
export interface Watched<T extends KubernetesObject> extends ObjectCache<T> {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  /** Resolves once the first list has filled the cache. */
  synced: Promise<void>;
  /** When (epoch ms) the cache was last known to be current; 0 before the first list. */
  confirmedAt(): number;
  /** The newest resourceVersion the cache has applied (a list, or a watch event; bookmarks aside), as a number; -1 before the first list. */
  processed(): number;
  stop(): Promise<void>;
}

/** How long one watch request lasts before the apiserver ends it and the informer reconnects. */
export const WATCH_TIMEOUT_SECONDS = 5;

/**
 * The Watch that client-node's ListWatch drives, over the fast path (./rest.ts) instead of fetch:
 * asking for bookmarks and a short timeout, and telling when the server was heard. Every cache's
 * watch ends every WATCH_TIMEOUT_SECONDS by design and is opened again, and every object the
 * operator writes comes back on one, so this path is as hot as the writes.
 */
class HeartbeatWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly accept: string | undefined,
    private readonly heard: () => void,
    private readonly slim: (obj: unknown) => void,
    /** Told when ListWatch opens a watch: any list it read before is applied by then. */
    private readonly opening: () => void,
    /** Told each object (resourceVersion) ListWatch has applied from the watch. */
    private readonly applied: (resourceVersion: unknown) => void,
  ) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let ended = false;
    this.opening();
    const query = new URLSearchParams({ watch: 'true' });
    for (const [key, value] of Object.entries({ ...queryParams, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS })) {
      if (value !== undefined) query.set(key, String(value));
    }
    const controller = await restOf(this.config).watch(
      `${path}?${query}`,
      this.accept,
      (event) => {
        if (event.type !== 'ERROR') {
          this.heard();
          this.slim(event.object);
        }
        callback(event.type, event.object, event);
        // ListWatch applies an event synchronously (its handler awaits nothing): it is in the cache now.
        if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') this.applied((event.object as { metadata?: V1ObjectMeta } | undefined)?.metadata?.resourceVersion);
      },
      (err) => {
        ended = true;
        done(err);
      },
    );
    // Resolved without ending: the apiserver answered 200 and will now send what the cache lacks.
    if (!ended) this.heard();
    return controller;
  }
}

/** Objects per page of a list (a cache of 10,000 objects arrives in 20 responses, not one). */
export const LIST_PAGE_SIZE = 500;

/** What the apiserver sends instead of whole objects when asked for metadata only. */
const METADATA_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

/** An object the cache holds as metadata only (kind PartialObjectMetadata). */
export interface ObjectMeta extends KubernetesObject {
  metadata: V1ObjectMeta;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Size (JSON characters, about bytes) of each object of the caches that measure theirs, as held. */
const sizes = new WeakMap<object, number>();

/** Records and returns the size of `obj` as a cache holds it (JSON characters; given when known). */
export function measure(obj: object, bytes = JSON.stringify(obj).length): number {
  sizes.set(obj, bytes);
  return bytes;
}

/** The bytes a cache holds: the sum of the sizes `measure` recorded for its objects. */
export function heldBytes(objects: Iterable<object>): number {
  let total = 0;
  for (const o of objects) total += sizes.get(o) ?? 0;
  return total;
}

/**
 * An OrkaSecret as the cache holds it: `spec.sealedValue` (up to 120,000 characters) replaced by
 * its SHA-256 digest, enough to tell that it changed; the reconciler reads the value from the API
 * when it unseals it.
 */
export type CachedOrkaSecret = Omit<OrkaSecret, 'spec'> & { spec?: Omit<OrkaSecretSpec, 'sealedValue'> & { sealedValue?: never; sealedValueDigest?: string } };

/** The digest the OrkaSecret cache keeps of a sealed value (hex SHA-256 of its text). */
export function sealedValueDigest(sealedValue: string): string {
  return createHash('sha256').update(sealedValue).digest('hex');
}

/** Swaps an OrkaSecret's sealed value for its digest, in place (CachedOrkaSecret), and measures it. */
function digestSealedValue(obj: unknown): void {
  const spec = (obj as { spec?: { sealedValue?: unknown; sealedValueDigest?: string } } | undefined)?.spec;
  if (spec !== undefined && typeof spec.sealedValue === 'string') {
    spec.sealedValueDigest = sealedValueDigest(spec.sealedValue);
    delete spec.sealedValue;
  }
  if (obj !== null && typeof obj === 'object') measure(obj);
}

/** Drops from an object, in place, what no part of the operator reads. */
export function slim(obj: unknown): void {
  const meta = (obj as { metadata?: V1ObjectMeta } | undefined)?.metadata;
  if (meta === undefined) return;
  delete meta.managedFields;
  if (meta.annotations?.[LAST_APPLIED] !== undefined) delete meta.annotations[LAST_APPLIED];
}

/**
 * Reduces a metadata-only object, in place, to what identifies its version: name, namespace,
 * uid, resourceVersion (labels, annotations, owners and timestamps of Secrets the operator only
 * needs to notice changing are not kept).
 */
export function slimToIdentity(obj: unknown): void {
  const o = obj as { metadata?: V1ObjectMeta; [key: string]: unknown } | undefined;
  const meta = o?.metadata;
  if (o === undefined || meta === undefined) return;
  const { name, namespace, uid, resourceVersion } = meta;
  for (const key of Object.keys(o)) if (key !== 'metadata') delete o[key];
  o.metadata = { name, namespace, uid, resourceVersion };
}

/** What each object arriving for these selectors goes through, in place. */
function slimming(selectors: Selectors): (obj: unknown) => void {
  const base = selectors.metadataOnly ? slimToIdentity : slim;
  const { transform } = selectors;
  return transform === undefined
    ? base
    : (obj) => {
        base(obj);
        transform(obj);
      };
}

/** A list read page by page, each page slimmed as it arrives. */
function paged<T extends KubernetesObject>(page: (cont: string | undefined) => Promise<KubernetesListObject<T>>, slimItem: (obj: unknown) => void = slim): ListPromise<T> {
  return async () => {
    const items: T[] = [];
    let cont: string | undefined;
    for (;;) {
      const result = await page(cont);
      // An empty metadata-only list comes with `items: null`.
      const pageItems = result.items ?? [];
      for (const item of pageItems) slimItem(item);
      items.push(...pageItems);
      // Plain JSON (not client-node's typed models, which call it `_continue`).
      const meta = result.metadata as { continue?: string } | undefined;
      cont = meta?.continue || undefined;
      if (cont === undefined) return { ...result, metadata: { resourceVersion: result.metadata?.resourceVersion }, items };
    }
  };
}

interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
  metadataOnly?: boolean;
  /** Reduces each object further, in place, after `slim`, as it arrives (list and watch alike). */
  transform?: (obj: unknown) => void;
}

/** An informer that says when it was last current, what it has processed, and when its first list completed. */
type HeartbeatInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T> & { confirmedAt(): number; processed(): number; listedOnce: Promise<void> };

function informer<T extends KubernetesObject>(kc: KubeConfig, path: string, list: ListPromise<T>, selectors: Selectors = {}): HeartbeatInformer<T> {
  let confirmed = 0;
  let processed = -1;
  // The revision of the last list read: applied by ListWatch once it opens the next watch.
  let listed = -1;
  let firstList: () => void = () => undefined;
  // client-node's start() resolves even when its list failed (it reports the error to the 'error'
  // callbacks and returns): only a list that completed fills the cache.
  const listedOnce = new Promise<void>((resolve) => (firstList = resolve));
  const advance = (revision: number) => {
    if (revision > processed) processed = revision;
  };
  const watch = new HeartbeatWatch(
    kc,
    selectors.metadataOnly ? METADATA_WATCH : undefined,
    () => (confirmed = Date.now()),
    slimming(selectors),
    () => advance(listed),
    (resourceVersion) => advance(parseRevision(resourceVersion)),
  );
  const listThenMark: ListPromise<T> = async () => {
    const startedAt = Date.now();
    const result = await list();
    confirmed = Math.max(confirmed, startedAt);
    listed = parseRevision(result.metadata?.resourceVersion);
    firstList();
    return result;
  };
  // client-node backs reconnects off up to 30 s after each watch that ended without an event;
  // ours end every few seconds by design, so the wait is capped at one second.
  const lw = new ListWatch<T>(path, watch, listThenMark, false, selectors.labelSelector, selectors.fieldSelector, { delayFn: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 1000))) });
  return Object.assign(lw, { confirmedAt: () => confirmed, processed: () => processed, listedOnce });
}

function single<T extends KubernetesObject>(informer: HeartbeatInformer<T>, what: string, log: Logger, after: Promise<unknown> = Promise.resolve()): Watched<T> {
  let stopped = false;
  let onStop: () => void = () => undefined;
  const stoppedOnce = new Promise<void>((resolve) => (onStop = resolve));
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    log.warn({ what, err: { message: (err as Error | undefined)?.message } }, 'watch failed; restarting in 2 s');
    setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, 2000).unref();
  });
  void (async () => {
    await after;
    for (;;) {
      if (stopped) return;
      try {
        await informer.start();
        return;
      } catch (err) {
        if (stopped) return;
        log.warn({ what, err: { message: (err as Error).message } }, 'initial list failed; retrying in 2 s');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
  // Synced once a list has filled the cache (a failed one is retried by the 'error' handler), or
  // stopped: whoever waits at shutdown must not wait forever.
  const synced = Promise.race([informer.listedOnce, stoppedOnce]);
  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    on: (verb, cb) => informer.on(verb, cb),
    synced,
    confirmedAt: () => informer.confirmedAt(),
    processed: () => informer.processed(),
    stop: async () => {
      stopped = true;
      onStop();
      await informer.stop();
    },
  };
}

/** One cache over several namespaces, each watched on its own. */
function across<T extends KubernetesObject>(parts: Map<string, Watched<T>>): Watched<T> {
  return {
    get: (name, namespace) => (namespace === undefined ? undefined : parts.get(namespace)?.get(name, namespace)),
    list: (namespace) => (namespace === undefined ? [...parts.values()].flatMap((p) => p.list()) : (parts.get(namespace)?.list(namespace) ?? [])),
    on: (verb, cb) => parts.forEach((p) => p.on(verb, cb)),
    synced: Promise.all([...parts.values()].map((p) => p.synced)).then(() => undefined),
    confirmedAt: () => Math.min(...[...parts.values()].map((p) => p.confirmedAt())),
    // Every part's watch delivers the same revisions' order; the newest any part applied (asked
    // on every resolve: a loop, no array).
    processed: () => {
      let newest = -1;
      for (const p of parts.values()) newest = Math.max(newest, p.processed());
      return newest;
    },
    stop: async () => {
      await Promise.all([...parts.values()].map((p) => p.stop()));
    },
  };
}

/** Watches in every namespace (empty list) or in each of the given namespaces. */
function scoped<T extends KubernetesObject>(namespaces: readonly string[], make: (namespace?: string) => Watched<T>): Watched<T> {
  if (namespaces.length === 0) return make();
  return across(new Map(namespaces.map((ns) => [ns, make(ns)])));
}

/** One page of a list: GET `path` with the selectors, the page size and the continue token. */
function listPage<T extends KubernetesObject>(kc: KubeConfig, path: string, query: { labelSelector?: string; fieldSelector?: string; limit: number }, accept?: string) {
  return (cont: string | undefined) => {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.labelSelector) params.set('labelSelector', query.labelSelector);
    if (query.fieldSelector) params.set('fieldSelector', query.fieldSelector);
    if (cont !== undefined) params.set('continue', cont);
    // A page holds up to `limit` objects of up to 1 MiB each (plus their metadata).
    return restOf(kc).send<KubernetesListObject<T>>({ method: 'GET', path: `${path}?${params}`, maxBytes: query.limit * 1.5 * 1024 * 1024, ...(accept === undefined ? {} : { accept }) });
  };
}

/** Watches OrkaSecrets in every namespace, or in the given ones. */
export function watchOrkaSecrets(kc: KubeConfig, log: Logger, namespaces: readonly string[] = [], pageSize = LIST_PAGE_SIZE): Watched<CachedOrkaSecret> {
  return scoped(namespaces, (namespace) => {
    const path = orkaSecretsPath(namespace);
    const selectors: Selectors = { transform: digestSealedValue };
    return single(informer(kc, path, paged<CachedOrkaSecret>(listPage(kc, path, { limit: pageSize }), slimming(selectors)), selectors), `orkasecrets${namespace ? ` in ${namespace}` : ''}`, log);
  });
}

/** Watches Namespaces. */
export function watchNamespaces(kc: KubeConfig, log: Logger, pageSize = LIST_PAGE_SIZE): Watched<V1Namespace> {
  const path = '/api/v1/namespaces';
  return single(informer(kc, path, paged<V1Namespace>(listPage(kc, path, { limit: pageSize }))), 'namespaces', log);
}

/** Options of a Secrets cache. */
export interface SecretWatchOptions {
  /** Watched namespaces; empty or absent: all. */
  namespaces?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** Objects per page of the list (default LIST_PAGE_SIZE). */
  pageSize?: number;
  /** Reduces each Secret further, in place, as it arrives (after managed fields and the like are dropped). */
  transform?: (secret: V1Secret) => void;
  /** The first list waits for this (a transform that reads other caches waits for them to fill). */
  after?: Promise<unknown>;
}

/** Watches Secrets, with their data, in every namespace (empty list) or in the given ones. */
export function watchSecrets(kc: KubeConfig, log: Logger, options: SecretWatchOptions = {}): Watched<V1Secret> {
  return secretInformers<V1Secret>(kc, log, options, false);
}

/** Watches Secrets as metadata only (no data, no type): enough to notice that one changed. */
export function watchSecretMetadata(kc: KubeConfig, log: Logger, options: SecretWatchOptions = {}): Watched<ObjectMeta> {
  return secretInformers<ObjectMeta>(kc, log, options, true);
}

function secretInformers<T extends KubernetesObject>(kc: KubeConfig, log: Logger, options: SecretWatchOptions, metadata: boolean): Watched<T> {
  const { labelSelector, fieldSelector, transform } = options;
  const what = `secrets${metadata ? ' (metadata)' : ''}${labelSelector ? ` ${labelSelector}` : ''}`;
  return scoped(options.namespaces ?? [], (namespace) => {
    const path = secretsPath(namespace);
    const selectors: Selectors = { labelSelector, fieldSelector, metadataOnly: metadata, ...(transform === undefined ? {} : { transform: (obj) => transform(obj as V1Secret) }) };
    const list = paged<T>(listPage(kc, path, { labelSelector, fieldSelector, limit: options.pageSize ?? LIST_PAGE_SIZE }, metadata ? METADATA_LIST : undefined), slimming(selectors));
    return single(informer<T>(kc, path, list, selectors), `${what}${namespace ? ` in ${namespace}` : ''}`, log, options.after);
  });
}
