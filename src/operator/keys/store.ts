/**
 * Owner of the operator's keys in Kubernetes: the key ring Secret, the tenants' data-key
 * Secrets (both in the operator's namespace), and the published sealing certificate.
 *
 * Every replica watches them and keeps the ring and unwrapped data keys in memory; only the
 * leader creates, rotates and re-wraps.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { envelopeKeyId, generateDataKey, unwrapDataKey, wrapDataKey, type SymmetricKey } from '../../core/envelope.js';
import { OrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Watched } from '../kube/informers.js';
import { createKeyRing, KEYRING_DATA_KEY, loadKeyRing, parseKeyRing, retireUnusedKeys, rotateKeyRing, type KeyRing } from '../../core/keyring.js';
import { DATA_KEY_LABEL, CERT_CONFIGMAP, dataKeySecretName, KEYS_SECRET, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_ANNOTATION } from '../../api/resource.js';

const ROLE_LABEL = 'orka.io/role';
const WRAPPED = 'wrapped';

function code(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

function b64(secret: V1Secret | undefined, key: string): Buffer | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64');
}

/** The keys of the operator. */
export class KeyStore {
  private readonly api: CoreV1Api;
  private readonly secrets: Watched<V1Secret>;
  private loaded: { resourceVersion: string; ring: KeyRing } | undefined;
  private readonly dataKeys = new Map<string, { resourceVersion: string; key: SymmetricKey }>();

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
      const tenant = s.metadata?.labels?.[DATA_KEY_LABEL];
      if (s.metadata?.labels?.[ROLE_LABEL] !== 'data-key' || tenant === undefined) return;
      this.dataKeys.delete(tenant);
      fn(tenant);
    });
  }

  /** An annotation of the key ring Secret, as last seen. */
  annotation(name: string): string | undefined {
    return this.get(KEYS_SECRET)?.metadata?.annotations?.[name];
  }

  /** The ring as last seen, or undefined before the leader made one. */
  ring(): KeyRing | undefined {
    const secret = this.get(KEYS_SECRET);
    const json = b64(secret, KEYRING_DATA_KEY);
    if (secret === undefined || json === undefined) return undefined;
    const version = secret.metadata?.resourceVersion ?? '';
    if (this.loaded?.resourceVersion !== version) this.loaded = { resourceVersion: version, ring: loadKeyRing(parseKeyRing(json.toString('utf8'))) };
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
      if (code(err) !== 404) throw err;
      log.info('no key ring yet: generating a key-encryption key and a sealing key pair');
      const data = createKeyRing(this.now());
      try {
        secret = await this.api.createNamespacedSecret({ namespace, body: this.ringSecret(JSON.stringify(data)) });
        log.info({ kekId: data.activeKek, sealingKeyId: data.activeSealing }, 'key ring created');
      } catch (createErr) {
        if (code(createErr) !== 409) throw createErr;
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
      if (code(err) !== 404) throw err;
      await this.api.createNamespacedConfigMap({ namespace, body });
    }
  }

  /** Leader: a new active key of each kind, then every data key re-wrapped under the new KEK. */
  async rotate(): Promise<{ kek: string; sealing: string; rewrapped: number }> {
    const { namespace, log } = this.options;
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
    const current = parseKeyRing((b64(secret, KEYRING_DATA_KEY) ?? Buffer.alloc(0)).toString('utf8'));
    const next = rotateKeyRing(current, this.now());
    await this.api.replaceNamespacedSecret({ name: KEYS_SECRET, namespace, body: this.ringSecret(JSON.stringify(next), secret.metadata?.resourceVersion) });
    const ring = loadKeyRing(next);
    await this.publishCertificate(ring);
    const rewrapped = await this.rewrapAll(ring);
    const retired = await this.retireUnused();
    log.info({ kekId: next.activeKek, sealingKeyId: next.activeSealing, rewrapped, retired }, 'keys rotated');
    return { kek: next.activeKek, sealing: next.activeSealing, rewrapped };
  }

  /**
   * Leader, after re-wrapping: removes from the ring the key-encryption keys no data key is
   * wrapped with any more, and sealing keys past their retention. Counts what went.
   */
  private async retireUnused(): Promise<number> {
    const { namespace } = this.options;
    const list = await this.api.listNamespacedSecret({ namespace, labelSelector: `${ROLE_LABEL}=data-key` });
    const inUse = new Set<string>();
    for (const secret of list.items) {
      const wrapped = b64(secret, WRAPPED);
      if (wrapped !== undefined) inUse.add(envelopeKeyId(wrapped));
    }
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
    const current = parseKeyRing((b64(secret, KEYRING_DATA_KEY) ?? Buffer.alloc(0)).toString('utf8'));
    const next = retireUnusedKeys(current, inUse, this.now(), this.options.sealingRetentionSeconds);
    const retired = current.keks.length - next.keks.length + current.sealing.length - next.sealing.length;
    if (retired > 0) await this.api.replaceNamespacedSecret({ name: KEYS_SECRET, namespace, body: this.ringSecret(JSON.stringify(next), secret.metadata?.resourceVersion) });
    return retired;
  }

  private async rewrapAll(ring: KeyRing): Promise<number> {
    const { namespace } = this.options;
    const list = await this.api.listNamespacedSecret({ namespace, labelSelector: `${ROLE_LABEL}=data-key` });
    let count = 0;
    for (const secret of list.items) {
      const tenant = secret.metadata?.labels?.[DATA_KEY_LABEL];
      const wrapped = b64(secret, WRAPPED);
      if (tenant === undefined || wrapped === undefined || envelopeKeyId(wrapped) === ring.activeKek().id) continue;
      const dataKey = unwrapDataKey({ keks: ring.kek, tenant, wrapped });
      const rewrapped = wrapDataKey({ kek: ring.activeKek(), tenant, dataKey });
      await this.api.replaceNamespacedSecret({
        name: secret.metadata?.name as string,
        namespace,
        body: { ...secret, data: { ...secret.data, [WRAPPED]: rewrapped.toString('base64') } },
      });
      count++;
    }
    return count;
  }

  /**
   * The data key of a tenant namespace, bound to the namespace's UID (`namespaceUid`): a key made
   * for an earlier namespace of the same name is never used. With `create` (leader only) a
   * missing key is made and a stale one replaced; without, either gives undefined.
   */
  async dataKey(tenant: string, options: { create: boolean; namespaceUid: string | undefined }): Promise<SymmetricKey | undefined> {
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
    const key = { id: `dk-${randomBytes(6).toString('hex')}`, key: generateDataKey() };
    const wrapped = wrapDataKey({ kek: ring.activeKek(), tenant, dataKey: key.key });
    try {
      const created = await this.api.createNamespacedSecret({
        namespace: this.options.namespace,
        body: {
          metadata: {
            name,
            namespace: this.options.namespace,
            labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'data-key', [DATA_KEY_LABEL]: tenant },
            annotations: { 'orka.io/data-key-id': key.id, [NAMESPACE_UID_ANNOTATION]: options.namespaceUid },
          },
          type: 'Opaque',
          data: { [WRAPPED]: wrapped.toString('base64') },
        },
      });
      this.options.log.info({ tenant, id: key.id }, 'data key created for tenant');
      return this.unwrap(tenant, created);
    } catch (err) {
      if (code(err) !== 409) throw err;
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
      const tenant = secret.metadata?.labels?.[DATA_KEY_LABEL];
      if (tenant === undefined || secret.metadata?.labels?.[ROLE_LABEL] !== 'data-key' || secret.metadata.labels[MANAGED_BY_LABEL] !== MANAGED_BY) continue;
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
      if (code(err) !== 404 && code(err) !== 409) throw err;
    }
    this.dataKeys.delete(secret.metadata?.labels?.[DATA_KEY_LABEL] ?? '');
  }

  private unwrap(tenant: string, secret: V1Secret): SymmetricKey {
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = this.dataKeys.get(tenant);
    if (cached?.resourceVersion === version) return cached.key;
    const wrapped = b64(secret, WRAPPED);
    const id = secret.metadata?.annotations?.['orka.io/data-key-id'];
    if (wrapped === undefined || id === undefined) throw new OrkaError('DECRYPT_FAILED', `the data key of ${tenant} is malformed`);
    const key = { id, key: unwrapDataKey({ keks: this.requireRing().kek, tenant, wrapped }) };
    this.dataKeys.set(tenant, { resourceVersion: version, key });
    return key;
  }
}
