/**
 * Owner of the key ring: the Secret in the operator's namespace that holds the key-encryption
 * keys (they wrap the tenants' data keys) and the sealing key pairs (values are sealed to their
 * public half), and the ConfigMap that publishes the active sealing certificate.
 *
 * Every replica reads the ring from the shared cache; only the leader creates, rotates and
 * retires keys from it (./rotation.ts decides when, since that spans the data keys too).
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { OrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { randomBytes } from 'node:crypto';
import { createKeyRing, KEYRING_DATA_KEY, loadKeyRing, parseKeyRing, retireUnusedKeys, rotateKeyRing, SEALING_KEY_BITS, type KeyRing, type KeyRingData } from '../../core/keyring.js';
import { generateRsaKeyPairAsync } from '../../core/pki.js';
import type { Watched } from '../kube/informers.js';
import { statusCode } from '../kube/client.js';
import { CERT_CONFIGMAP, KEYS_SECRET, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL } from '../../api/resource.js';

/** Settings of the key ring's owner. */
export interface KeyRingOptions {
  /** The operator's namespace. */
  namespace: string;
  log: Logger;
  now?: () => Date;
  /** Sealing keys stay this long after being replaced; undefined: forever. */
  sealingRetentionSeconds?: number;
}

/** The ring data a key ring Secret holds (as parsed, not yet loaded). */
function ringData(secret: V1Secret): KeyRingData {
  return parseKeyRing(Buffer.from(secret.data?.[KEYRING_DATA_KEY] ?? '', 'base64').toString('utf8'));
}

/** The key ring, in the cluster and in memory. */
export class KeyRingStore {
  private readonly api: CoreV1Api;
  private loaded: { resourceVersion: string; ring: KeyRing } | undefined;

  /** `secrets`: the shared cache of the operator namespace's Secrets (only the ring is read). */
  constructor(
    kc: KubeConfig,
    private readonly secrets: Watched<V1Secret>,
    private readonly options: KeyRingOptions,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  /** The key ring Secret as last seen, if it is the one the operator made. */
  private secret(): V1Secret | undefined {
    const secret = this.secrets.get(KEYS_SECRET, this.options.namespace);
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

  /** An annotation of the key ring Secret, as last seen. */
  annotation(name: string): string | undefined {
    return this.secret()?.metadata?.annotations?.[name];
  }

  /** The key ring Secret's uid and resourceVersion as last seen (to record Events on it). */
  secretRef(): { uid: string; resourceVersion: string } | undefined {
    const meta = this.secret()?.metadata;
    return meta?.uid === undefined ? undefined : { uid: meta.uid, resourceVersion: meta.resourceVersion ?? '' };
  }

  /** The ring as last seen, or undefined before the leader made one. */
  current(): KeyRing | undefined {
    const secret = this.secret();
    if (secret?.data?.[KEYRING_DATA_KEY] === undefined) return undefined;
    const version = secret.metadata?.resourceVersion ?? '';
    // Asked on every resolve (freshness): decoded only when the Secret changed.
    if (this.loaded?.resourceVersion !== version) this.loaded = { resourceVersion: version, ring: loadKeyRing(ringData(secret)) };
    return this.loaded.ring;
  }

  /** The ring, or UPSTREAM_UNAVAILABLE (retryable) while there is none yet. */
  require(): KeyRing {
    const ring = this.current();
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
      await this.refuseOverDataKeys();
      log.info('no key ring yet: generating a key-encryption key and a sealing key pair');
      const data = createKeyRing(this.now(), randomBytes, await generateRsaKeyPairAsync(SEALING_KEY_BITS));
      try {
        secret = await this.api.createNamespacedSecret({ namespace, body: this.ringSecret(data) });
        log.info({ kekId: data.activeKek, sealingKeyId: data.activeSealing }, 'key ring created');
      } catch (createErr) {
        if (statusCode(createErr) !== 409) throw createErr;
        secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace });
      }
    }
    const ring = loadKeyRing(ringData(secret));
    await this.publishCertificate(ring);
    return ring;
  }

  /**
   * A ring is made only where none ever was: data-key Secrets wrapped by a ring mean the ring
   * was deleted, and a new one would leave every stored value unopenable and keep a restore out
   * (`keys restore` goes only where there is no ring). Asked of the API, not the cache.
   */
  private async refuseOverDataKeys(): Promise<void> {
    const { namespace } = this.options;
    const found = await this.api.listNamespacedSecret({ namespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${ROLE_LABEL}=data-key` });
    if (found.items.length === 0) return;
    throw new OrkaError(
      'UPSTREAM_UNAVAILABLE',
      `no key ring, but data keys wrapped by one exist (${found.items.length} in ${namespace}): not making a new ring, which could open none of them; restore the keys with orka-secrets keys restore; only without a backup, delete the data-key Secrets (label orka.io/role=data-key), and with them every stored value (docs/backup-restore.md)`,
    );
  }

  /** Leader: the ring as stored now (read from the API, not the cache). */
  async read(): Promise<KeyRing> {
    return loadKeyRing(ringData(await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace: this.options.namespace })));
  }

  /**
   * Leader: a new active key of each kind written to the ring, the certificate published; the new
   * ring. Only if `due` says so of the ring Secret as the API has it now (its ring and annotations):
   * the cache can still show what another leader already rotated (the request annotation it
   * removed, or the ring it replaced), and a rotation done twice replaces every data key twice.
   * Undefined when it is no longer due.
   */
  async rotate(due: (ring: KeyRing, annotations: Readonly<Record<string, string>>) => boolean): Promise<KeyRing | undefined> {
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace: this.options.namespace });
    const stored = ringData(secret);
    if (!due(loadKeyRing(stored), secret.metadata?.annotations ?? {})) return undefined;
    // The write below is conditional on the version read here: a change meanwhile fails it (409).
    const pair = await generateRsaKeyPairAsync(SEALING_KEY_BITS);
    const next = rotateKeyRing(stored, this.now(), randomBytes, pair);
    await this.write(next, secret.metadata?.resourceVersion);
    const ring = loadKeyRing(next);
    await this.publishCertificate(ring);
    return ring;
  }

  /**
   * Leader: removes from the ring the key-encryption keys not in `keksInUse` (no data key is
   * wrapped with them any more), and sealing keys past their retention. Counts what went.
   */
  async retire(keksInUse: ReadonlySet<string>): Promise<number> {
    const secret = await this.api.readNamespacedSecret({ name: KEYS_SECRET, namespace: this.options.namespace });
    const current = ringData(secret);
    const next = retireUnusedKeys(current, keksInUse, this.now(), this.options.sealingRetentionSeconds);
    const retired = current.keks.length - next.keks.length + current.sealing.length - next.sealing.length;
    if (retired > 0) await this.write(next, secret.metadata?.resourceVersion);
    return retired;
  }

  /** Replaces the ring Secret, conditional on the version read (a change meanwhile fails with 409). */
  private async write(data: KeyRingData, resourceVersion: string | undefined): Promise<void> {
    await this.api.replaceNamespacedSecret({ name: KEYS_SECRET, namespace: this.options.namespace, body: this.ringSecret(data, resourceVersion) });
  }

  private ringSecret(data: KeyRingData, resourceVersion?: string): V1Secret {
    return {
      metadata: {
        name: KEYS_SECRET,
        namespace: this.options.namespace,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'keyring' },
        annotations: { 'orka.io/warning': 'Losing this Secret loses every stored value. Back it up; see the README.' },
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
      },
      type: 'Opaque',
      data: { [KEYRING_DATA_KEY]: Buffer.from(JSON.stringify(data)).toString('base64') },
    };
  }

  /** Writes the active sealing certificate where any authenticated user may read it. */
  private async publishCertificate(ring: KeyRing): Promise<void> {
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
}
