/**
 * Owner of the tenants' data keys: one Secret per tenant in the operator's namespace
 * (src/api/datakey.ts), each key wrapped by a key-encryption key of the ring (./ring.ts).
 *
 * Every replica reads them from the shared cache and keeps them unwrapped in memory, as
 * KeyObjects; only the leader creates, binds, replaces and deletes them.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { aesKey, envelopeKeyId, generateDataKey, unwrapDataKey, wrapDataKey, type AesKey, type KeyLookup, type SymmetricKey } from '../../core/envelope.js';
import { OrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { KeyRing } from '../../core/keyring.js';
import type { Watched } from '../kube/informers.js';
import { statusCode } from '../kube/client.js';
import type { KeyRingStore } from './ring.js';
import { ACTIVE_DATA_KEY_FIELD, DATA_KEY_ID_ANNOTATION, previousDataKeyField, wrappedDataKeys } from '../../api/datakey.js';
import { DATA_KEY_LABEL, dataKeySecretName, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_ANNOTATION, ROLE_LABEL } from '../../api/resource.js';

/**
 * A tenant's data keys: the active one (`id`, `key`: new values are encrypted with it) and,
 * through `lookup`, every one that still opens stored values (earlier keys a rotation replaced,
 * kept until their values are re-encrypted).
 */
export interface TenantKeys extends SymmetricKey {
  lookup: KeyLookup<AesKey>;
}

/** Which data keys a tenant has, by id (from the cache; no key material). */
export interface DataKeyState {
  tenant: string;
  active: string;
  previous: readonly string[];
}

const DATA_KEY_SELECTOR = `${ROLE_LABEL}=data-key`;

/**
 * The tenant of a data-key Secret the operator made; undefined for any other Secret (the shared
 * cache holds every Secret of the operator's namespace, a copy someone labelled alike included).
 */
function dataKeyTenant(secret: V1Secret): string | undefined {
  const labels = secret.metadata?.labels;
  return labels?.[MANAGED_BY_LABEL] === MANAGED_BY && labels[ROLE_LABEL] === 'data-key' ? labels[DATA_KEY_LABEL] : undefined;
}

/** A fresh data-key id (data keys are random; the id only names one). */
function newDataKeyId(): string {
  return `dk-${randomBytes(6).toString('hex')}`;
}

/** The tenants' data keys, in the cluster and in memory. */
export class DataKeyStore {
  private readonly api: CoreV1Api;
  private readonly unwrapped = new Map<string, { resourceVersion: string; key: TenantKeys }>();

  /** `secrets`: the shared cache of the operator namespace's Secrets (only data keys are read). */
  constructor(
    kc: KubeConfig,
    private readonly secrets: Watched<V1Secret>,
    private readonly ring: Pick<KeyRingStore, 'require'>,
    private readonly options: { namespace: string; log: Logger },
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  /** Calls `fn` with the tenant whose data-key Secret was deleted. */
  onDataKeyDeleted(fn: (tenant: string) => void): void {
    this.secrets.on('delete', (s) => {
      const tenant = dataKeyTenant(s);
      if (tenant === undefined) return;
      this.unwrapped.delete(tenant);
      fn(tenant);
    });
  }

  /** The data keys each tenant has, by id, as last seen. */
  dataKeyStates(): DataKeyState[] {
    const states: DataKeyState[] = [];
    for (const secret of this.secrets.list(this.options.namespace)) {
      const tenant = dataKeyTenant(secret);
      if (tenant === undefined) continue;
      const held = wrappedDataKeys(secret);
      const active = held.find((k) => k.active);
      if (active === undefined) continue;
      states.push({ tenant, active: active.id, previous: held.filter((k) => !k.active).map((k) => k.id) });
    }
    return states;
  }

  /**
   * The data key of a tenant namespace, bound to the namespace's UID (`namespaceUid`): a key made
   * for an earlier namespace of the same name is never used. With `create` (leader only) a
   * missing key is made and a stale one replaced; without, either gives undefined.
   */
  async dataKey(tenant: string, options: { create: boolean; namespaceUid: string | undefined }): Promise<TenantKeys | undefined> {
    const name = dataKeySecretName(tenant);
    const found = this.secrets.get(name, this.options.namespace);
    const secret = found?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? found : undefined;
    if (secret !== undefined) {
      const boundTo = secret.metadata?.annotations?.[NAMESPACE_UID_ANNOTATION];
      // A key from before keys were bound (no annotation) serves its namespace as it is; the
      // leader binds it to the namespace it finds (reconcile).
      if (boundTo === undefined || boundTo === options.namespaceUid) return this.unwrap(tenant, secret);
      if (!options.create) return undefined;
      // The namespace cache may be behind (this is the key of the namespace as it is now): the
      // key is replaced only on the API's word.
      if ((await this.namespaceUidNow(tenant)) === boundTo) return this.unwrap(tenant, secret);
      this.options.log.warn({ tenant }, 'the data key was made for an earlier namespace of this name: replacing it (its values cannot be read here)');
      await this.deleteSecret(secret);
    }
    if (!options.create || options.namespaceUid === undefined) return undefined;
    const key = { id: newDataKeyId(), key: generateDataKey() };
    const wrapped = wrapDataKey({ kek: this.ring.require().activeKek(), tenant, dataKey: key.key });
    try {
      const created = await this.api.createNamespacedSecret({
        namespace: this.options.namespace,
        body: {
          metadata: {
            name,
            namespace: this.options.namespace,
            labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'data-key', [DATA_KEY_LABEL]: tenant },
            annotations: { [DATA_KEY_ID_ANNOTATION]: key.id, [NAMESPACE_UID_ANNOTATION]: options.namespaceUid },
          },
          type: 'Opaque',
          data: { [ACTIVE_DATA_KEY_FIELD]: wrapped.toString('base64') },
        },
      });
      this.options.log.info({ tenant, id: key.id }, 'data key created for tenant');
      return this.unwrap(tenant, created);
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      // Made by a previous leader since our cache was filled: use that one if it is this namespace's.
      const existing = await this.api.readNamespacedSecret({ name, namespace: this.options.namespace });
      if (existing.metadata?.annotations?.[NAMESPACE_UID_ANNOTATION] !== options.namespaceUid) throw new OrkaError('UPSTREAM_UNAVAILABLE', `the data key of ${tenant} is being replaced; retrying`);
      return this.unwrap(tenant, existing);
    }
  }

  /**
   * The tenant's data keys if one of them is `keyId` (the key a stored value names); undefined
   * when the tenant has no such key. The cache may be behind (a key made or rotated by another
   * leader a moment ago): a key it lacks is looked for in the API before a value is called lost.
   */
  async dataKeyHolding(tenant: string, keyId: string, namespaceUid: string | undefined): Promise<TenantKeys | undefined> {
    const cached = await this.dataKey(tenant, { create: false, namespaceUid });
    if (cached?.lookup(keyId) !== undefined) return cached;
    let secret: V1Secret;
    try {
      secret = await this.api.readNamespacedSecret({ name: dataKeySecretName(tenant), namespace: this.options.namespace });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
    if (dataKeyTenant(secret) !== tenant) return undefined;
    const boundTo = secret.metadata?.annotations?.[NAMESPACE_UID_ANNOTATION];
    if (boundTo !== undefined && boundTo !== namespaceUid && boundTo !== (await this.namespaceUidNow(tenant))) return undefined;
    const keys = this.unwrap(tenant, secret);
    return keys.lookup(keyId) === undefined ? undefined : keys;
  }

  /**
   * Leader: removes the data key of every namespace that is gone (or was recreated since its key
   * was made), and binds keys from before keys were bound to the namespace they serve now.
   * `uidOf` gives a namespace's UID, undefined when it does not exist.
   */
  async reconcile(uidOf: (namespace: string) => string | undefined): Promise<void> {
    for (const secret of this.secrets.list(this.options.namespace)) {
      const tenant = dataKeyTenant(secret);
      if (tenant === undefined) continue;
      const boundTo = secret.metadata?.annotations?.[NAMESPACE_UID_ANNOTATION];
      let uid = uidOf(tenant);
      // Gone or recreated, as the cache sees it: the cache may only be behind (a new leader's
      // watch), and a deleted key loses every value of the tenant, so the API decides.
      if (uid === undefined || (boundTo !== undefined && boundTo !== uid)) uid = await this.namespaceUidNow(tenant);
      if (uid !== undefined && boundTo === undefined) {
        await this.api.patchNamespacedSecret(
          { name: secret.metadata?.name as string, namespace: this.options.namespace, body: { metadata: { annotations: { [NAMESPACE_UID_ANNOTATION]: uid } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } else if (uid === undefined || boundTo !== uid) {
        this.options.log.info({ tenant }, 'namespace gone or recreated: its data key is deleted');
        await this.deleteSecret(secret);
      }
    }
  }

  /** Leader: the ids of the key-encryption keys the data keys are wrapped with now (read from the API). */
  async keksInUse(): Promise<Set<string>> {
    const list = await this.api.listNamespacedSecret({ namespace: this.options.namespace, labelSelector: DATA_KEY_SELECTOR });
    const inUse = new Set<string>();
    for (const secret of list.items) for (const k of wrappedDataKeys(secret)) inUse.add(envelopeKeyId(k.wrapped));
    return inUse;
  }

  /**
   * Leader: each tenant (of those `only` accepts) gets a new active data key, wrapped by `ring`'s
   * active KEK; its earlier ones are kept, re-wrapped under that KEK. Counts the tenants.
   */
  async replaceAll(ring: KeyRing, only: (secret: V1Secret) => boolean = () => true): Promise<number> {
    const { namespace } = this.options;
    const list = await this.api.listNamespacedSecret({ namespace, labelSelector: DATA_KEY_SELECTOR });
    let count = 0;
    for (const listed of list.items) {
      let secret = listed;
      if (!only(secret)) continue;
      // With the resourceVersion read: a data key changed meanwhile (bound to its namespace, an
      // earlier key removed) fails with 409, and is read again and replaced then.
      for (let attempt = 1; ; attempt++) {
        try {
          if (await this.replace(ring, secret)) count++;
          break;
        } catch (err) {
          if (statusCode(err) !== 409 || attempt >= 5) throw err;
          try {
            secret = await this.api.readNamespacedSecret({ name: listed.metadata?.name as string, namespace });
          } catch (readErr) {
            if (statusCode(readErr) === 404) break;
            throw readErr;
          }
          if (!only(secret)) break;
        }
      }
    }
    return count;
  }

  private async replace(ring: KeyRing, secret: V1Secret): Promise<boolean> {
    const tenant = secret.metadata?.labels?.[DATA_KEY_LABEL];
    const held = wrappedDataKeys(secret);
    if (tenant === undefined || held.length === 0) return false;
    const kek = ring.activeKek();
    const data: Record<string, string> = {};
    for (const k of held) {
      const key = unwrapDataKey({ keks: ring.kek, tenant, wrapped: k.wrapped });
      data[previousDataKeyField(k.id)] = wrapDataKey({ kek, tenant, dataKey: key }).toString('base64');
    }
    const id = newDataKeyId();
    data[ACTIVE_DATA_KEY_FIELD] = wrapDataKey({ kek, tenant, dataKey: generateDataKey() }).toString('base64');
    const annotations = { ...secret.metadata?.annotations, [DATA_KEY_ID_ANNOTATION]: id };
    await this.api.replaceNamespacedSecret({ name: secret.metadata?.name as string, namespace: this.options.namespace, body: { ...secret, metadata: { ...secret.metadata, annotations }, data } });
    this.options.log.info({ tenant, id, previous: held.map((k) => k.id) }, 'new data key for tenant; its values are re-encrypted to it in the background');
    return true;
  }

  /**
   * Leader: removes the earlier data key `id` of `tenant` (no stored value names it any more).
   * Written with the resourceVersion read, so a rotation meanwhile fails this with 409 (tried
   * again at the next pass). False when there was nothing to remove.
   */
  async removePrevious(tenant: string, id: string): Promise<boolean> {
    const { namespace } = this.options;
    const field = previousDataKeyField(id);
    let secret: V1Secret;
    try {
      secret = await this.api.readNamespacedSecret({ name: dataKeySecretName(tenant), namespace });
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
    if (secret.data?.[field] === undefined) return false;
    const data = { ...secret.data };
    delete data[field];
    await this.api.replaceNamespacedSecret({ name: dataKeySecretName(tenant), namespace, body: { ...secret, data } });
    this.options.log.info({ tenant, id }, 'earlier data key removed: no stored value uses it any more');
    return true;
  }

  /** A namespace's UID as the API has it now; undefined when it does not exist. */
  async namespaceUidNow(name: string): Promise<string | undefined> {
    try {
      return (await this.api.readNamespace({ name })).metadata?.uid;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async deleteSecret(secret: V1Secret): Promise<void> {
    try {
      // The precondition keeps a key made meanwhile (another uid) from being deleted by mistake.
      await this.api.deleteNamespacedSecret({ name: secret.metadata?.name as string, namespace: this.options.namespace, body: { preconditions: { uid: secret.metadata?.uid } } });
    } catch (err) {
      if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
    }
    this.unwrapped.delete(secret.metadata?.labels?.[DATA_KEY_LABEL] ?? '');
  }

  private unwrap(tenant: string, secret: V1Secret): TenantKeys {
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = this.unwrapped.get(tenant);
    if (cached?.resourceVersion === version) return cached.key;
    const held = wrappedDataKeys(secret);
    const active = held.find((k) => k.active);
    if (active === undefined) throw new OrkaError('DECRYPT_FAILED', `the data key of ${tenant} is malformed`);
    const keks = this.ring.require().kek;
    // Kept as KeyObjects, made once per data key: a raw key would be imported again for every
    // value opened, the largest part of a resolve's cost. The raw bytes are not kept.
    const byId = new Map<string, AesKey>();
    for (const k of held) {
      const raw = unwrapDataKey({ keks, tenant, wrapped: k.wrapped });
      byId.set(k.id, aesKey(raw));
      raw.fill(0);
    }
    const key: TenantKeys = { id: active.id, key: byId.get(active.id) as AesKey, lookup: (id) => byId.get(id) };
    this.unwrapped.set(tenant, { resourceVersion: version, key });
    return key;
  }
}
