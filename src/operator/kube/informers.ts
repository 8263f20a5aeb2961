/**
 * Informers (list + watch + cache) on client-node, restarted after watch errors, with a
 * promise that resolves once the first list has filled the cache.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Namespace,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';
import { GROUP, PLURAL, VERSION, type OrkaSecret } from '../resource.js';

/** A cache of watched objects (one informer, or one per namespace) with change callbacks. */
export interface Watched<T extends KubernetesObject> extends ObjectCache<T> {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  /** Resolves once the first list has filled the cache. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

function single<T extends KubernetesObject>(informer: Informer<T> & ObjectCache<T>, what: string, log: Logger): Watched<T> {
  let stopped = false;
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    log.warn({ what, err: { message: (err as Error | undefined)?.message } }, 'watch failed; restarting in 2 s');
    setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, 2000).unref();
  });
  const synced = (async () => {
    for (;;) {
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
  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    on: (verb, cb) => informer.on(verb, cb),
    synced,
    stop: async () => {
      stopped = true;
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

/** Watches OrkaSecrets in every namespace, or in the given ones. */
export function watchOrkaSecrets(kc: KubeConfig, log: Logger, namespaces: readonly string[] = []): Watched<OrkaSecret> {
  const api = kc.makeApiClient(CustomObjectsApi);
  return scoped(namespaces, (namespace) => {
    const base = { group: GROUP, version: VERSION, plural: PLURAL };
    const list = () =>
      (namespace === undefined ? api.listClusterCustomObject(base) : api.listNamespacedCustomObject({ ...base, namespace })) as Promise<KubernetesListObject<OrkaSecret>>;
    const path = namespace === undefined ? `/apis/${GROUP}/${VERSION}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;
    return single(makeInformer(kc, path, list), `orkasecrets${namespace ? ` in ${namespace}` : ''}`, log);
  });
}

/** Watches Namespaces. */
export function watchNamespaces(kc: KubeConfig, log: Logger): Watched<V1Namespace> {
  const api = kc.makeApiClient(CoreV1Api);
  return single(makeInformer(kc, '/api/v1/namespaces', () => api.listNamespace()), 'namespaces', log);
}

/** Watches Secrets in every namespace (empty list) or in the given ones, optionally by label. */
export function watchSecrets(kc: KubeConfig, log: Logger, options: { namespaces?: readonly string[]; labelSelector?: string } = {}): Watched<V1Secret> {
  const api = kc.makeApiClient(CoreV1Api);
  const { labelSelector } = options;
  return scoped(options.namespaces ?? [], (namespace) =>
    single(
      namespace === undefined
        ? makeInformer(kc, '/api/v1/secrets', () => api.listSecretForAllNamespaces({ labelSelector }), labelSelector)
        : makeInformer(kc, `/api/v1/namespaces/${namespace}/secrets`, () => api.listNamespacedSecret({ namespace, labelSelector }), labelSelector),
      `secrets${namespace ? ` in ${namespace}` : ''}`,
      log,
    ),
  );
}
