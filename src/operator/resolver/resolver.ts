/**
 * The resolver: answers a tenant's requests for secret values from the shared cache (the
 * storage Secrets, decrypted with the tenant's data key) and tells subscribed sidecars, per
 * tenant, which names changed so they forget them at once. Every replica serves it; it reads
 * the cache and the keys, and knows nothing of reconciling.
 */
import type { V1Secret } from '@kubernetes/client-node';
import { openStoredValue, readStoredValue, type AesKey, type KeyLookup, type StoredValue } from '../../core/envelope.js';
import { isOrkaError, OrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { checkObjectName, toObjectName, toSecretName } from '../../core/names.js';
import type { Health } from '../health.js';
import type { DataKeyStore, TenantKeys } from '../keys/datakeys.js';
import type { ClusterCache } from '../kube/cache.js';
import { OpenedValueMemo, type MemoOptions } from './memo.js';
import { READY, STORAGE_FOR_LABEL, storageName, type OrkaSecret } from '../../api/resource.js';
import { parseRevision } from '../../core/revision.js';
import { isStorageSecret, readStorage } from '../../api/storage.js';
import type { Tenancy } from '../../api/tenancy.js';

/**
 * The answer to a resolve request. `revisions` holds, for each asked name whose storage Secret this
 * replica holds, that Secret's resourceVersion: the state the answer reflects. A sidecar compares
 * it with the revisions of the change events it saw, whichever replica sent them. `view`: this
 * replica's view revision when it read its caches (ClusterCache.viewRevision): the answer holds
 * every change up to it, so a sidecar that has heard of nothing newer takes it as it is, a
 * missing name included (src/core/revision.ts).
 */
export interface Resolution {
  values: Record<string, string>;
  missing: string[];
  revisions: Record<string, string>;
  view: string;
}

/**
 * A change event for sidecars: a name changed or went away at `revision` (a resourceVersion);
 * `view`: this replica's view revision as it tells it (that change included).
 */
export interface NameChange {
  name: string;
  revision: string | undefined;
  deleted: boolean;
  view: string;
}

/**
 * Longest a resolve waits for this replica's storage cache to bring the stored version an
 * OrkaSecret's status already reports (its status and its storage Secret come on two watches,
 * which may arrive in either order): past it the resolve is UPSTREAM_UNAVAILABLE, never missing.
 */
export const STORAGE_CATCH_UP_MS = 2000;

/** Most names one request may ask for. */
export const MAX_NAMES_PER_REQUEST = 256;

/** A change-stream subscriber: told each changed name, and told to end when the view goes stale. */
export interface Subscriber {
  changed(change: NameChange): void;
  close(): void;
}

/** A storage Secret's stored value, or why it cannot be opened (its envelope is malformed). */
type Readout = { value: StoredValue } | { error: unknown };

/** A storage Secret as read for one name and revision; no readout: it holds no storage content (version 0). */
interface ReadStorage {
  name: string;
  revision: string | undefined;
  readout: Readout | undefined;
  version: number;
}

/** The version an OrkaSecret's status says is stored and ready to serve; 0 when it is not Ready. */
function readyVersion(object: OrkaSecret): number {
  const status = object.status;
  if (status?.version === undefined || status.conditions === undefined) return 0;
  // A loop, not `some` with a closure: this runs for every name of every resolve.
  for (const c of status.conditions) if (c.type === READY) return c.status === 'True' ? status.version : 0;
  return 0;
}

/** Resolves names for tenants and publishes their changes. */
export class Resolver {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  /** Resolves waiting for the storage cache to catch up (STORAGE_CATCH_UP_MS), told of every storage Secret applied, by namespace. */
  private readonly catchingUp = new Map<string, Set<() => void>>();
  /**
   * Each cached storage Secret, read once (base64, version, envelope header, additional data):
   * every resolve of a name opened the same bytes again. Keyed by the cache's object, which an
   * update replaces and a deletion drops, and checked against its resourceVersion. Ciphertext only.
   */
  private readonly read = new WeakMap<V1Secret, ReadStorage>();
  /** Values opened lately, by stored value (above) and data key: the only plaintext the resolver keeps. */
  readonly memo: OpenedValueMemo<StoredValue, AesKey>;

  constructor(
    private readonly cache: ClusterCache,
    private readonly keys: Pick<DataKeyStore, 'dataKey'>,
    private readonly log: Logger,
    /** This replica's freshness: a stale view must not answer (it may miss a deletion). */
    private readonly health: () => Pick<Health, 'current' | 'viewAgeMs'> = () => ({ current: true, viewAgeMs: 0 }),
    /** Bounds of the memo of opened values (./memo.ts); off unless given. */
    memoBounds: MemoOptions = { ttlMs: 0, maxBytes: 0 },
  ) {
    this.memo = new OpenedValueMemo(memoBounds);
    // A change carries the resourceVersion of what changed (a storage Secret, or the deletion of
    // an OrkaSecret): comparable with the revisions of answers, whichever replica gave them.
    for (const verb of ['add', 'update', 'delete'] as const) {
      cache.storage.on(verb, (s) => {
        if (verb !== 'delete') this.wake(s.metadata?.namespace);
        if (!isStorageSecret(s)) return;
        this.notify(s.metadata?.namespace, s.metadata?.labels?.[STORAGE_FOR_LABEL], { revision: s.metadata?.resourceVersion, deleted: verb === 'delete' });
      });
    }
    cache.orkaSecrets.on('delete', (o) => this.notify(o.metadata.namespace, o.metadata.name, { revision: o.metadata.resourceVersion, deleted: true }));
  }

  private notify(namespace: string | undefined, objectName: string | undefined, change: Omit<NameChange, 'name' | 'view'>): void {
    const listeners = namespace === undefined ? undefined : this.subscribers.get(namespace);
    if (listeners === undefined || objectName === undefined || !checkObjectName(objectName).ok) return;
    // The view with this change in it (the informer counts the change once its handlers return).
    const view = String(Math.max(this.cache.viewRevision(), parseRevision(change.revision)));
    const event = { name: toSecretName(objectName), ...change, view };
    for (const s of listeners) s.changed(event);
  }

  /** This replica's view revision, as the resolver API sends it (core/revision.ts). */
  view(): string {
    return String(this.cache.viewRevision());
  }

  /** UPSTREAM_UNAVAILABLE unless this replica's view is current; else the view's age in ms. */
  assertCurrent(): number {
    const h = this.health();
    if (!h.current) {
      const age = h.viewAgeMs === Infinity ? 'never' : `${Math.round(h.viewAgeMs / 1000)} s ago`;
      throw new OrkaError('UPSTREAM_UNAVAILABLE', `this operator replica cannot see the cluster (its view was last current ${age}); try another replica`);
    }
    return h.viewAgeMs;
  }

  /** Ends every change stream (the view went stale: sidecars must start their own stale limit). */
  closeStreams(): void {
    for (const set of this.subscribers.values()) for (const s of [...set]) s.close();
  }

  /** Whether a namespace is a tenant now, and if not why. */
  tenancy(namespace: string): Tenancy {
    return this.cache.tenancy(namespace);
  }

  /** The values of `names` that exist in `namespace`, and the names that do not; `ageMs`: how old the view that answered is. */
  async resolve(namespace: string, names: readonly string[]): Promise<Resolution & { ageMs: number }> {
    // Each name checked (INVALID_SECRET_NAME) and mapped to its object name once; asked twice, answered once.
    const asked = new Map<string, string>();
    for (const name of names) if (!asked.has(name)) asked.set(name, toObjectName(name));
    const ageMs = this.assertCurrent();
    const answer: Resolution = { values: {}, missing: [], revisions: {}, view: '' };
    const dataKey = await this.keys.dataKey(namespace, { create: false, namespaceUid: this.cache.namespaceUid(namespace) });
    // Taken before the first read: the answer holds every change up to it (it may hold newer ones).
    answer.view = this.view();
    let lagging: Map<string, string> | undefined;
    for (const [name, objectName] of asked) {
      if (!this.answerName(answer, namespace, name, objectName, dataKey)) (lagging ??= new Map()).set(name, objectName);
    }
    // Ready means resolvable: a name whose stored version this cache has not brought yet waits for it.
    if (lagging !== undefined) await this.catchUp(answer, namespace, lagging, dataKey);
    return { ...answer, ageMs };
  }

  /**
   * Answers one name into `answer` from the cache; false (nothing written) when its OrkaSecret is
   * Ready at a version the storage cache has not brought yet.
   */
  private answerName(answer: Resolution, namespace: string, name: string, objectName: string, dataKey: TenantKeys | undefined): boolean {
    const object = this.cache.orkaSecrets.get(objectName, namespace);
    const storage = this.cache.storage.get(storageName(objectName), namespace);
    const read = storage === undefined ? undefined : this.readOnce(storage, namespace, name);
    if (object !== undefined && !object.metadata.deletionTimestamp && (read?.version ?? 0) < readyVersion(object)) return false;
    const revision = storage?.metadata?.resourceVersion;
    if (revision !== undefined) answer.revisions[name] = revision;
    const readout = read?.readout;
    if (object === undefined || object.metadata.deletionTimestamp || readout === undefined || dataKey === undefined) {
      answer.missing.push(name);
      return true;
    }
    try {
      if ('error' in readout) throw readout.error;
      answer.values[name] = this.open(readout.value, dataKey.lookup);
    } catch (err) {
      if (!isOrkaError(err, 'DECRYPT_FAILED')) throw err;
      this.log.warn({ tenant: namespace, secret: name }, 'stored value cannot be decrypted; answered as missing');
      answer.missing.push(name);
    }
    return true;
  }

  /**
   * Waits, up to STORAGE_CATCH_UP_MS and woken by each storage Secret the cache applies in
   * `namespace` (no polling), until every lagging name can be answered; UPSTREAM_UNAVAILABLE if one
   * still cannot (the sidecar asks again, on another connection).
   */
  private async catchUp(answer: Resolution, namespace: string, lagging: Map<string, string>, dataKey: TenantKeys | undefined): Promise<void> {
    const until = Date.now() + STORAGE_CATCH_UP_MS;
    for (;;) {
      for (const [name, objectName] of lagging) if (this.answerName(answer, namespace, name, objectName, dataKey)) lagging.delete(name);
      const left = until - Date.now();
      if (lagging.size === 0) return;
      if (left <= 0) {
        this.log.warn({ tenant: namespace, secrets: [...lagging.keys()] }, 'the storage cache has not brought the stored version these secrets report as Ready');
        throw new OrkaError('UPSTREAM_UNAVAILABLE', `this operator replica has not yet received the stored version of ${[...lagging.keys()].join(', ')}; try again`);
      }
      await new Promise<void>((resolve) => {
        let set = this.catchingUp.get(namespace);
        if (set === undefined) this.catchingUp.set(namespace, (set = new Set()));
        const waiters = set;
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          if (waiters.size === 0 && this.catchingUp.get(namespace) === waiters) this.catchingUp.delete(namespace);
          resolve();
        };
        const timer = setTimeout(done, left);
        waiters.add(done);
      });
    }
  }

  /** A storage Secret of `namespace` was applied: every resolve waiting there looks again. */
  private wake(namespace: string | undefined): void {
    const waiters = namespace === undefined ? undefined : this.catchingUp.get(namespace);
    if (waiters !== undefined) for (const done of [...waiters]) done();
  }

  /**
   * The plaintext of a stored value: from the memo when this very stored value (this revision)
   * was opened with this very data key lately, else opened now. Only the decrypt is skipped:
   * the data key was looked up for this resolve as before, and a value that fails to open is
   * never memoised.
   */
  private open(value: StoredValue, dataKeys: KeyLookup<AesKey>): string {
    const key = dataKeys(value.keyId);
    const known = key === undefined ? undefined : this.memo.get(value, key);
    if (known !== undefined) return known;
    const plaintext = openStoredValue(value, dataKeys);
    const text = plaintext.toString('utf8');
    if (key !== undefined) this.memo.set(value, key, text, plaintext.length);
    return text;
  }

  /** A storage Secret read for `name` (once: see `read`): its stored value, undefined when it holds no storage content, and its version. */
  private readOnce(storage: V1Secret, namespace: string, name: string): ReadStorage {
    const revision = storage.metadata?.resourceVersion;
    const known = this.read.get(storage);
    if (known !== undefined && known.name === name && known.revision === revision) return known;
    const content = readStorage(storage);
    let readout: Readout | undefined;
    if (content !== undefined) {
      try {
        readout = { value: readStoredValue({ tenant: namespace, name, version: content.version, stored: content.envelope }) };
      } catch (err) {
        readout = { error: err };
      }
    }
    const read = { name, revision, readout, version: content?.version ?? 0 };
    this.read.set(storage, read);
    return read;
  }

  /** Tells `subscriber` each secret name of `namespace` that changes or goes away; returns the unsubscribe. */
  subscribe(namespace: string, subscriber: Subscriber): () => void {
    this.assertCurrent();
    let set = this.subscribers.get(namespace);
    if (set === undefined) this.subscribers.set(namespace, (set = new Set()));
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (set.size === 0) this.subscribers.delete(namespace);
    };
  }
}
