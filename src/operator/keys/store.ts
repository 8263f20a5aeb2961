/**
 * Owner of the operator's keys in Kubernetes: the key ring Secret, the tenants' data-key
 * Secrets (both in the operator's namespace), and the published sealing certificate.
 *
 * Every replica watches them and keeps the ring and unwrapped data keys in memory; only the
 * leader creates, rotates and re-wraps.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { aesKey, envelopeKeyId, generateDataKey, unwrapDataKey, wrapDataKey, type AesKey, type KeyLookup, type SymmetricKey } from '../../core/envelope.js';
import { OrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Watched } from '../kube/informers.js';
import { createKeyRing, KEYRING_DATA_KEY, loadKeyRing, parseKeyRing, retireUnusedKeys, rotateKeyRing, type KeyRing } from '../../core/keyring.js';
import { statusCode } from '../kube/client.js';
import { ACTIVE_DATA_KEY_FIELD, DATA_KEY_ID_ANNOTATION, previousDataKeyField, wrappedDataKeys } from '../../api/datakey.js';
import { DATA_KEY_LABEL, CERT_CONFIGMAP, dataKeySecretName, KEYS_SECRET, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_ANNOTATION } from '../../api/resource.js';

const ROLE_LABEL = 'orka.io/role';

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


function b64(secret: V1Secret | undefined, key: string): Buffer | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64');
}

/**
 * The tenant of a data-key Secret the operator made; undefined for any other Secret (the shared
 * cache holds every Secret of the operator's namespace, a copy someone labelled alike included).
 */
function dataKeyTenant(secret: V1Secret): string | undefined {
  const labels = secret.metadata?.labels;
  return labels?.[MANAGED_BY_LABEL] === MANAGED_BY && labels[ROLE_LABEL] === 'data-key' ? labels[DATA_KEY_LABEL] : undefined;
}

/** The keys of the operator. */
export class KeyStore {
  private readonly api: CoreV1Api;
  private readonly secrets: Watched<V1Secret>;
  private loaded: { resourceVersion: string; ring: KeyRing } | undefined;
  private readonly dataKeys = new Map<string, { resourceVersion: string; key: TenantKeys }>();

  /** `secrets`: the shared cache of the operator namespace's Secrets (only ours are read). */
  constructor(
    kc: KubeConfig,
    secrets: Watched<V1Secret>,
    private readonly options: { namespace: string; log: Logger; now?: () => Date; /** Sealing keys stay this long after being replaced; undefined: forever. */ sealingRetentionSeconds?: number },
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.secrets = secrets;
  }

  /** A Secret of the operator's namespace, if it is one the operator made. */
  private get(name: string): V1Secret | undefined {
    const secret = this.secrets.get(name, this.options.namespace);
    return secret?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? secret : undefined;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** Calls `fn` whenever the key ring Secret is added or changes. */
  onChange(fn: () => void): void {
    for (const verb of ['add', 'update'] as const) {
      this.secrets.on(verb, (s) => {
        if (s.metadata?.name === KEYS_SECRET) fn();
      });
    }
  }

  /** Calls `fn` with the tenant whose data-key Secret was deleted. */
  onDataKeyDeleted(fn: (tenant: string) => void): void {
    this.secrets.on('delete', (s) => {
      const tenant = dataKeyTenant(s);
      if (tenant === undefined) return;
      this.dataKeys.delete(tenant);
      fn(tenant);
    });
  }

  /** An annotation of the key ring Secret, as last seen. */
  annotation(name: string): string | undefined {
    return this.get(KEYS_SECRET)?.metadata?.annotations?.[name];
  }

  /** The key ring Secret's uid and resourceVersion as last seen (to record Events on it). */
  keysSecretRef(): { uid: string; resourceVersion: string } | undefined {
    const meta = this.get(KEYS_SECRET)?.metadata;
    return meta?.uid === undefined ? undefined : { uid: meta.uid, resourceVersion: meta.resourceVersion ?? '' };
  }

  /** The ring as last seen, or undefined before the leader made one. */
  ring(): KeyRing | undefined {
    const secret = this.get(KEYS_SECRET);
    if (secret === undefined) return undefined;
    const version = secret.metadata?.resourceVersion ?? '';
    // Asked on every resolve (freshness): decoded only when the Secret changed.
    if (this.loaded?.resourceVersion === version) return this.loaded.ring;
    const json = b64(secret, KEYRING_DATA_KEY);
    if (json === undefined) return undefined;
    this.loaded = { resourceVersion: version, ring: loadKeyRing(parseKeyRing(json.toString('utf8'))) };
    return this.loaded.ring;
  }

  /** The ring, or UPSTREAM_UNAVAILABLE (retryable) while there is none yet. */
  requireRing(): KeyRing {
    const ring = this.ring();
    if (ring === undefined) throw new OrkaError('UPSTREAM_UNAVAILABLE', 'the key ring is not loaded yet');
    return ring;
  }

  /** Leader: makes the key ring if there is none, and publishes the sealing certificate. */
  async ensure(): Promise<KeyRing> {
    const { namespace, log } = this.options;
    let secret: V1Secret;
    try {
      secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      log.info('no key ring yet: generating a key-encryption key and a sealing key pair');
      const data = createKeyRing(this.now());
      try {
        secret = await this.api.createNamespacedSecret({ namespace, body: this.ringSecret(JSON.stringify(data)) });
        log.info({ kekId: data.activeKek, sealingKeyId: data.activeSealing }, 'key ring created');
      } catch (createErr) {
        if (statusCode(createErr) !== 409) throw createErr;
        secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
      }
    }
    const ring = loadKeyRing(parseKeyRing((b64(secret, KEYRING_DATA_KEY) ?? Buffer.alloc(0)).toString('utf8')));
    await this.publishCertificate(ring);
    return ring;
  }

  private ringSecret(json: string, resourceVersion?: string): V1Secret {
    return {
      metadata: {
        name: KEYS_SECRET,
        namespace: this.options.namespace,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'keyring' },
        annotations: { 'orka.io/warning': 'Losing this Secret loses every stored value. Back it up; see the README.' },
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
      },
      type: 'Opaque',
      data: { [KEYRING_DATA_KEY]: Buffer.from(json).toString('base64') },
    };
  }

  /** Writes the active sealing certificate where any authenticated user may read it. */
  async publishCertificate(ring: KeyRing): Promise<void> {
    const { namespace } = this.options;
    const active = ring.activeSealing();
    const body = {
      metadata: { name: CERT_CONFIGMAP, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
      data: { 'cert.pem': active.certPem, keyId: active.id },
    };
    try {
      const current = await this.api.readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace });
      if (current.data?.keyId === active.id && current.data['cert.pem'] === active.certPem) return;
      await this.api.replaceNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      await this.api.createNamespacedConfigMap({ namespace, body });
    }
  }

  /**
   * Leader: a new active key of each kind, then a new active data key for every tenant, with the
   * tenant's earlier data keys re-wrapped under the new KEK (they keep opening the values stored
   * with them until the re-encryption (./reencrypt.ts) has moved those to the new key). Nothing is
   * wrapped with the old KEK after this, so it leaves the ring at once: a leaked KEK opens
   * nothing stored in the cluster afterwards, and a leaked data key only what is not yet
   * re-encrypted.
   */
  async rotate(): Promise<{ kek: string; sealing: string; rewrapped: number }> {
    const { namespace, log } = this.options;
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
    const current = parseKeyRing((b64(secret, KEYRING_DATA_KEY) ?? Buffer.alloc(0)).toString('utf8'));
    const next = rotateKeyRing(current, this.now());
    await this.api.replaceNamespacedSecret({ name: KEYS_SECRET, namespace, body: this.ringSecret(JSON.stringify(next), secret.metadata?.resourceVersion) });
    const ring = loadKeyRing(next);
    await this.publishCertificate(ring);
    const rewrapped = await this.replaceDataKeys(ring);
    const retired = await this.retireUnused();
    log.info({ kekId: next.activeKek, sealingKeyId: next.activeSealing, rewrapped, retired }, 'keys rotated');
    return { kek: next.activeKek, sealing: next.activeSealing, rewrapped };
  }

  /** The key-encryption key ids the data-key Secrets `list` are wrapped with. */
  private static keksInUse(list: readonly V1Secret[]): Set<string> {
    const inUse = new Set<string>();
    for (const secret of list) for (const k of wrappedDataKeys(secret)) inUse.add(envelopeKeyId(k.wrapped));
    return inUse;
  }

  /**
   * Leader, after re-wrapping: removes from the ring the key-encryption keys no data key is
   * wrapped with any more, and sealing keys past their retention. Counts what went.
   */
  async retireUnused(): Promise<number> {
    const { namespace } = this.options;
    const list = await this.api.listNamespacedSecret({ namespace, labelSelector: `${ROLE_LABEL}=data-key` });
    const inUse = KeyStore.keksInUse(list.items);
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
    const current = parseKeyRing((b64(secret, KEYRING_DATA_KEY) ?? Buffer.alloc(0)).toString('utf8'));
    const next = retireUnusedKeys(current, inUse, this.now(), this.options.sealingRetentionSeconds);
    const retired = current.keks.length - next.keks.length + current.sealing.length - next.sealing.length;
    if (retired > 0) await this.api.replaceNamespacedSecret({ name: KEYS_SECRET, namespace, body: this.ringSecret(JSON.stringify(next), secret.metadata?.resourceVersion) });
    return retired;
  }

  /** Leader: each tenant gets a new active data key; its earlier ones are kept, re-wrapped under the active KEK. */
  private async replaceDataKeys(ring: KeyRing, only: (secret: V1Secret) => boolean = () => true): Promise<number> {
    const { namespace } = this.options;
    const list = await this.api.listNamespacedSecret({ namespace, labelSelector: `${ROLE_LABEL}=data-key` });
    let count = 0;
    for (const listed of list.items) {
      let secret = listed;
      if (!only(secret)) continue;
      // With the resourceVersion read: a data key changed meanwhile (bound to its namespace, an
      // earlier key removed) fails with 409, and is read again and replaced then.
      for (let attempt = 1; ; attempt++) {
        try {
          if (await this.replaceDataKey(ring, secret)) count++;
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

  /**
   * Leader: finishes a rotation that stopped half-way (the process ended between writing the ring
   * and replacing every data key): the data keys still wrapped with an older KEK get their new
   * data key now, then the KEKs nothing uses leave the ring. After a whole rotation, or none,
   * there is nothing to do.
   */
  async finishRotation(): Promise<number> {
    const { namespace, log } = this.options;
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
    const ring = loadKeyRing(parseKeyRing((b64(secret, KEYRING_DATA_KEY) ?? Buffer.alloc(0)).toString('utf8')));
    const active = ring.activeKek().id;
    const behind = (s: V1Secret) => {
      try {
        return wrappedDataKeys(s).some((k) => envelopeKeyId(k.wrapped) !== active);
      } catch {
        return false;
      }
    };
    const replaced = await this.replaceDataKeys(ring, behind);
    if (replaced === 0) return 0;
    const retired = await this.retireUnused();
    log.warn({ kekId: active, replaced, retired }, 'finished a rotation that had stopped half-way: new data keys for the tenants it had not reached');
    return replaced;
  }

  private async replaceDataKey(ring: KeyRing, secret: V1Secret): Promise<boolean> {
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
   * Leader: removes the earlier data key `id` of `tenant` (no stored value names it any more),
   * then any key-encryption key that only it used. Written with the resourceVersion read, so a
   * rotation meanwhile fails this with 409 (tried again at the next pass).
   */
  async removePreviousDataKey(tenant: string, id: string): Promise<boolean> {
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
    await this.retireUnused();
    return true;
  }

  /**
   * The data key of a tenant namespace, bound to the namespace's UID (`namespaceUid`): a key made
   * for an earlier namespace of the same name is never used. With `create` (leader only) a
   * missing key is made and a stale one replaced; without, either gives undefined.
   */
  async dataKey(tenant: string, options: { create: boolean; namespaceUid: string | undefined }): Promise<TenantKeys | undefined> {
    const name = dataKeySecretName(tenant);
    const secret = this.get(name);
    if (secret !== undefined) {
      const boundTo = secret.metadata?.annotations?.[NAMESPACE_UID_ANNOTATION];
      // A key from before keys were bound (no annotation) serves its namespace as it is; the
      // leader binds it to the namespace it finds (bindLegacyDataKeys).
      if (boundTo === undefined || boundTo === options.namespaceUid) return this.unwrap(tenant, secret);
      if (!options.create) return undefined;
      this.options.log.warn({ tenant }, 'the data key was made for an earlier namespace of this name: replacing it (its values cannot be read here)');
      await this.deleteDataKeySecret(secret);
    }
    if (!options.create || options.namespaceUid === undefined) return undefined;
    const ring = this.requireRing();
    const key = { id: newDataKeyId(), key: generateDataKey() };
    const wrapped = wrapDataKey({ kek: ring.activeKek(), tenant, dataKey: key.key });
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
   * Leader: removes the data key of every namespace that is gone (or was recreated since its key
   * was made), and binds keys from before keys were bound to the namespace they serve now.
   * `uidOf` gives a namespace's UID, undefined when it does not exist.
   */
  async reconcileDataKeys(uidOf: (namespace: string) => string | undefined): Promise<void> {
    for (const secret of this.secrets.list(this.options.namespace)) {
      const tenant = dataKeyTenant(secret);
      if (tenant === undefined) continue;
      const uid = uidOf(tenant);
      const boundTo = secret.metadata?.annotations?.[NAMESPACE_UID_ANNOTATION];
      if (uid !== undefined && boundTo === undefined) {
        await this.api.patchNamespacedSecret(
          { name: secret.metadata?.name as string, namespace: this.options.namespace, body: { metadata: { annotations: { [NAMESPACE_UID_ANNOTATION]: uid } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } else if (uid === undefined || boundTo !== uid) {
        this.options.log.info({ tenant }, 'namespace gone or recreated: its data key is deleted');
        await this.deleteDataKeySecret(secret);
      }
    }
  }

  private async deleteDataKeySecret(secret: V1Secret): Promise<void> {
    try {
      // The precondition keeps a key made meanwhile (another uid) from being deleted by mistake.
      await this.api.deleteNamespacedSecret({ name: secret.metadata?.name as string, namespace: this.options.namespace, body: { preconditions: { uid: secret.metadata?.uid } } });
    } catch (err) {
      if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
    }
    this.dataKeys.delete(secret.metadata?.labels?.[DATA_KEY_LABEL] ?? '');
  }

  private unwrap(tenant: string, secret: V1Secret): TenantKeys {
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = this.dataKeys.get(tenant);
    if (cached?.resourceVersion === version) return cached.key;
    const held = wrappedDataKeys(secret);
    const active = held.find((k) => k.active);
    if (active === undefined) throw new OrkaError('DECRYPT_FAILED', `the data key of ${tenant} is malformed`);
    const keks = this.requireRing().kek;
    // Kept as KeyObjects, made once per data key: a raw key would be imported again for every
    // value opened, the largest part of a resolve's cost. The raw bytes are not kept.
    const byId = new Map<string, AesKey>();
    for (const k of held) {
      const raw = unwrapDataKey({ keks, tenant, wrapped: k.wrapped });
      byId.set(k.id, aesKey(raw));
      raw.fill(0);
    }
    const key: TenantKeys = { id: active.id, key: byId.get(active.id) as AesKey, lookup: (id) => byId.get(id) };
    this.dataKeys.set(tenant, { resourceVersion: version, key });
    return key;
  }
}

/** A fresh data-key id (data keys are random; the id only names one). */
function newDataKeyId(): string {
  return `dk-${randomBytes(6).toString('hex')}`;
}
