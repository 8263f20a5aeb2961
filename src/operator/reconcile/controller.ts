/**
 * The reconciler: informers feed a work queue of OrkaSecret keys; workers (on the leader only)
 * run gather -> decide (pure, ./decide.ts) -> apply for each key.
 *
 * gather reads the shared cache (src/operator/kube/cache.ts) and does the crypto that classifies
 * the inputs (unseal the incoming value, decrypt the stored one, verify a valueFrom's admission
 * record). It reads from the API what the cache does not hold: a `valueFrom` source Secret whose
 * version changed, and only when admission recorded that whoever set it may read it (the cache
 * holds Secrets' metadata only, never their data), and the spec of an OrkaSecret whose sealed
 * value it must unseal (the cache holds a digest of it). apply is the only place that writes to the API, and it writes each
 * thing at most once per reconcile: the storage Secret (through ./storage.ts, which makes every
 * such write conditional on what the decision saw), the status (only when changed), the Events
 * (failures and changes a person should see; never a routine first store).
 */
import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import { decryptValue, encryptValue, envelopeKeyIdOf, sealedFor, unseal } from '../../core/envelope.js';
import { isOrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { checkObjectName, isSecretDataKey, isSecretObjectName, toSecretName } from '../../core/names.js';
import { decide, type Incoming, type Observed, type Plan, type Stored } from './decide.js';
import { statusCode, type PooledKubeConfig } from '../kube/client.js';
import { orkaSecretsPath, secretsPath, type KubeRest } from '../kube/rest.js';
import type { EventRecorder } from '../kube/events.js';
import type { ClusterCache } from '../kube/cache.js';
import { sealedValueDigest, type CachedOrkaSecret, type ObjectMeta } from '../kube/informers.js';
import type { DataKeyStore } from '../keys/datakeys.js';
import type { KeyRingStore } from '../keys/ring.js';
import type { OperatorMetrics } from '../metrics.js';
import { WorkQueue } from './queue.js';
import { CacheBehind, StorageWriter } from './storage.js';
import { SourceIndex, sourceIdentity, sourceValue } from './sources.js';
import { objectKey, splitKey, STORAGE_FOR_LABEL, type OrkaSecret, type SecretKeyRef } from '../../api/resource.js';
import { bindingOf, checkRecordOf, recordKeys, valueFromRef } from '../admission/record.js';
import { stampRecord, VALUE_FROM_RECORD_ANNOTATION, type RecordCheck } from '../../core/valuefrom-record.js';
import { isStorageSecret, readStorage, storageSecret } from '../../api/storage.js';
import { sealedMismatch, sealingTarget, type SealingTarget } from '../../api/sealing.js';

/** Settings of the controller. */
export interface ControllerOptions {
  workers: number;
  /** The operator's own namespace: never a tenant. */
  operatorNamespace: string;
  /** Every object is queued again this often, to catch anything a watch missed (seconds). */
  resyncPeriod: number;
  log: Logger;
  now?: () => Date;
}

/** A key whose retry backoff has grown past this (about six retries, ~6 s) is not just briefly behind. */
const STILL_BEHIND_MS = 5000;

/**
 * The cached objects a reconcile decided from. apply writes against these, never against a newer
 * copy the cache may have got meanwhile (gather waits on reads and unsealing): a write conditioned
 * on a version the decision never saw could store a value a second time.
 */
interface Seen {
  object: CachedOrkaSecret | undefined;
  storage: V1Secret | undefined;
}

/** Reconciles OrkaSecrets into encrypted storage. */
export class Controller {
  /** Replaced at each start of the workers: a queue that was shut down stays shut. */
  queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  /** Writes and reads go over the fast path (kube/rest.ts): a stored value costs two writes. */
  private readonly api: KubeRest;
  /** The one writer of storage Secrets (./storage.ts). */
  private readonly storage: StorageWriter;
  private workers: Array<Promise<void>> = [];
  /** Per key: the input and storage version of the last reconcile that verified the stored value. */
  private readonly applied = new Map<string, string>();
  /** Which OrkaSecrets read which source Secret (valueFrom). */
  private readonly sources = new SourceIndex();
  private resyncTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Set when this replica lost the lease: a reconcile still running writes nothing more. */
  private fenced = false;

  constructor(
    kc: PooledKubeConfig,
    private readonly cache: ClusterCache,
    /** The ring unseals incoming values; the data keys encrypt and open stored ones. */
    private readonly keys: { ring: Pick<KeyRingStore, 'require'>; dataKeys: Pick<DataKeyStore, 'dataKey' | 'dataKeyHolding' | 'onDataKeyDeleted'> },
    private readonly events: EventRecorder,
    private readonly metrics: OperatorMetrics,
    private readonly options: ControllerOptions,
  ) {
    this.api = kc.rest;
    this.storage = new StorageWriter(this.api, () => this.checkFence());
    this.wire();
    metrics.onCollect(() => {
      metrics.queueDepth.set(this.queue.length);
      metrics.storedByTenant.reset();
      for (const secret of this.cache.storage.list()) {
        if (isStorageSecret(secret) && !this.cache.storage.isWithheld(secret)) metrics.storedByTenant.inc({ tenant: secret.metadata?.namespace ?? '' });
      }
    });
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private wire(): void {
    const enqueue = (o: { metadata?: { name?: string; namespace?: string } }) => {
      if (o.metadata?.name && o.metadata.namespace) this.queue.add(objectKey(o.metadata.namespace, o.metadata.name));
    };
    // A tenant's data key deleted by hand: every stored value of the tenant is unreadable now.
    // Reconcile each again, without the shortcut that skips decrypting: values with a source
    // are stored again under a new data key, the others get the reason DataKeyLost.
    this.keys.dataKeys.onDataKeyDeleted((tenant) => {
      this.metrics.dataKeysLost.inc({ tenant });
      const affected = this.cache.orkaSecrets.list(tenant);
      this.options.log.warn({ tenant, affected: affected.length }, 'the data key of a tenant was deleted; storing its values again from their sources');
      for (const key of [...this.applied.keys()]) if (splitKey(key).namespace === tenant) this.applied.delete(key);
      for (const o of affected) enqueue(o);
    });
    for (const verb of ['add', 'update'] as const) {
      this.cache.orkaSecrets.on(verb, (o) => this.sources.set(o.metadata.namespace, o.metadata.name, o.spec?.valueFrom?.secretKeyRef?.name));
    }
    this.cache.orkaSecrets.on('delete', (o) => this.sources.delete(o.metadata.namespace, o.metadata.name));
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.cache.orkaSecrets.on(verb, enqueue);
      // A namespace gaining or losing the tenant label changes every OrkaSecret in it.
      this.cache.namespaces.on(verb, (ns) => {
        for (const o of this.cache.orkaSecrets.list(ns.metadata?.name)) enqueue(o);
      });
      this.cache.storage.on(verb, (secret) => this.onStorage(secret));
      this.cache.sources.on(verb, (secret) => this.onSource(secret));
    }
  }

  /** A storage Secret changed (or vanished): its OrkaSecret. */
  private onStorage(secret: V1Secret): void {
    const namespace = secret.metadata?.namespace;
    const owner = secret.metadata?.labels?.[STORAGE_FOR_LABEL];
    if (namespace !== undefined && owner !== undefined && isStorageSecret(secret)) this.queue.add(objectKey(namespace, owner));
  }

  /** A source Secret changed (or vanished): the OrkaSecrets that take their value from it. */
  private onSource(secret: ObjectMeta): void {
    const { namespace, name } = secret.metadata;
    if (namespace === undefined || name === undefined) return;
    for (const key of this.sources.readersOf(namespace, name)) this.queue.add(key);
  }

  /** Leader: starts the workers and the periodic resync. */
  startWorkers(): void {
    if (this.running) return;
    this.running = true;
    this.fenced = false;
    this.queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
    this.resyncAll();
    this.resyncTimer = setInterval(() => this.resyncAll(), this.options.resyncPeriod * 1000);
    this.resyncTimer.unref();
    this.workers = Array.from({ length: this.options.workers }, () => this.work());
  }

  private resyncAll(): void {
    for (const o of this.cache.orkaSecrets.list()) this.queue.add(objectKey(o.metadata.namespace, o.metadata.name));
    // Storage whose OrkaSecret was deleted while no operator ran.
    for (const s of this.cache.storage.list()) this.onStorage(s);
  }

  /**
   * Stops taking work and waits for the reconciles in flight. `fence` (the lease was lost, another
   * replica may lead now): a reconcile in flight makes no further write, not even a status patch
   * (which carries no resourceVersion and could overwrite the new leader's).
   */
  async stopWorkers(options: { fence?: boolean } = {}): Promise<void> {
    if (options.fence) this.fenced = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await this.queue.drained();
    await Promise.all(this.workers);
    await this.events.flush();
    // What a term verified says nothing once another replica may have led: the next term checks
    // again (and deletions seen while following would otherwise leave their entries forever).
    this.applied.clear();
    this.running = false;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const log = this.options.log.child({ key });
      const end = this.metrics.reconcileDuration.startTimer();
      try {
        const plan = await this.reconcile(key, log);
        this.metrics.reconciles.inc({ result: plan.outcome });
        this.queue.forget(key);
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        if (err instanceof CacheBehind) {
          // Routine after a failover or a burst: the watch brings the write, and the retry sees
          // it. Not an error (the reconcile-errors alert stays quiet). Still behind after several
          // retries (the backoff has grown past STILL_BEHIND_MS) is not routine: a person should see it.
          this.metrics.reconciles.inc({ result: 'Requeued' });
          if (delay < STILL_BEHIND_MS) log.debug({ retryInMs: delay }, err.message);
          else log.warn({ retryInMs: delay }, `${err.message} (still, after several retries: are the operator's watches delivering?)`);
          continue;
        }
        this.metrics.reconciles.inc({ result: 'Error' });
        const detail = isOrkaError(err) ? { code: err.code, message: err.message } : { message: (err as Error).message, status: statusCode(err) };
        log.warn({ err: detail, retryInMs: delay }, 'reconcile failed; will retry');
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  /** One reconcile of one key: gather, decide, apply. */
  async reconcile(key: string, log: Logger): Promise<Plan> {
    const observed = await this.gather(key);
    const plan = decide(observed);
    const storageVersion = await this.apply(key, plan, observed.seen, log);
    if (plan.outcome === 'Stored' && observed.seen.object !== undefined) await this.restampRecord(observed.seen.object, log);
    // Remember which input gave the stored value, so that the reconcile our own writes trigger
    // (and every resync) needs no unsealing or decrypting when nothing changed.
    const verified = plan.outcome === 'Stored' && (observed.incoming.kind === 'value' || observed.incoming.kind === 'unchanged');
    if (verified && observed.inputIdentity !== undefined && storageVersion !== undefined) this.applied.set(key, `${observed.inputIdentity}|${storageVersion}`);
    else this.applied.delete(key);
    return plan;
  }

  private async gather(key: string): Promise<Observed & { inputIdentity?: string; seen: Seen }> {
    const { namespace, name } = splitKey(key);
    const raw = this.cache.orkaSecrets.get(name, namespace);
    const storage = await this.cache.storageOf(name, namespace);
    // Its data could not be read again yet: deciding on it would store the value a second time.
    if (storage !== undefined && this.cache.storage.isPending(storage)) throw new CacheBehind(`storage Secret of ${name}`);
    const seen = { object: raw, storage };
    const object = raw === undefined || raw.metadata.deletionTimestamp ? undefined : raw;
    const nameCheck = checkObjectName(name);
    const secretName = nameCheck.ok ? ({ ok: true, name: toSecretName(name) } as const) : ({ ok: false, message: `${nameCheck.message} (an OrkaSecret's name is its secret name in lower case with - for _)` } as const);
    const tenancy = this.cache.tenancy(namespace);
    const base = {
      seen,
      namespace,
      object: object === undefined ? undefined : { generation: object.metadata.generation ?? 0, status: object.status },
      secretName,
      tenancy,
      now: this.now(),
    };
    const inputIdentity = object !== undefined && secretName.ok && tenancy.tenant ? this.inputIdentity(object) : undefined;
    const content = readStorage(storage);
    if (inputIdentity !== undefined && content !== undefined && this.applied.get(key) === `${inputIdentity}|${storage?.metadata?.resourceVersion}`) {
      const source = object?.spec?.sealedValueDigest !== undefined ? 'sealedValue' : 'valueFrom';
      return { ...base, inputIdentity, incoming: { kind: 'unchanged', source }, stored: { version: content.version, matchesIncoming: true } };
    }
    const stored = await this.storedValue(storage, namespace, secretName.ok ? secretName.name : undefined);
    if (inputIdentity === undefined || object === undefined || !secretName.ok) return { ...base, incoming: { kind: 'none' }, ...(stored === undefined ? {} : { stored }) };
    // The identity of what was actually read: a source read now may be newer than the cache.
    const { incoming, identity } = await this.incoming(object, secretName.name, inputIdentity);
    return { ...base, inputIdentity: identity, incoming, ...(stored === undefined ? {} : { stored }) };
  }

  /** What identifies the value source without opening it: the sealed bytes, or the source Secret's version. */
  private inputIdentity(object: CachedOrkaSecret): string {
    const spec = object.spec ?? {};
    if (spec.sealedValueDigest !== undefined) return sealedIdentity(spec.sealedValueDigest, sealingTarget(this.cache.namespaces.get(object.metadata.namespace), ''));
    const ref = spec.valueFrom?.secretKeyRef;
    if (ref === undefined) return 'none';
    // A reference without a valid record never takes the shortcut: it is refused, whatever was stored.
    const record = this.valueFromRecord(object, ref);
    if (!record.ok) return `unauthorized:${record.problem}`;
    return sourceIdentity(this.cache.sources.get(ref.name, object.metadata.namespace), ref.key);
  }

  /**
   * Whether admission recorded that whoever set this valueFrom may read its Secret
   * (admission/record.ts): the source is read with the operator's rights only then.
   */
  private valueFromRecord(object: OrkaSecret, ref: SecretKeyRef): RecordCheck {
    const namespace = object.metadata.namespace;
    const uid = this.cache.namespaceUid(namespace);
    if (uid === undefined) return { ok: false, problem: 'mismatch' };
    return checkRecordOf(recordKeys(this.keys.ring.require()), { name: namespace, uid }, object, ref);
  }

  private async storedValue(secret: V1Secret | undefined, namespace: string, secretName: string | undefined): Promise<Stored | undefined> {
    if (secret === undefined || !isStorageSecret(secret)) return undefined;
    const content = readStorage(secret);
    if (content === undefined || secretName === undefined) return { version: content?.version ?? 0, undecryptable: true };
    try {
      // Stored under a data key the tenant no longer has (the active one, or an earlier one a
      // rotation replaced and re-encryption has not yet moved it from): its Secret was deleted
      // (and perhaps a new one made since). Nothing can open it; decide stores it again from its source.
      const keyId = envelopeKeyIdOf(content.envelope);
      const dataKey = keyId === undefined ? undefined : await this.keys.dataKeys.dataKeyHolding(namespace, keyId, this.cache.namespaceUid(namespace));
      if (dataKey === undefined) return { version: content.version, undecryptable: true, dataKeyLost: true };
      const value = decryptValue({ dataKeys: dataKey.lookup, tenant: namespace, name: secretName, version: content.version, stored: content.envelope });
      return { version: content.version, value };
    } catch (err) {
      if (isOrkaError(err, 'DECRYPT_FAILED')) return { version: content.version, undecryptable: true };
      throw err;
    }
  }

  /** The incoming value, and the identity of the input it came from. */
  private async incoming(object: CachedOrkaSecret, secretName: string, identity: string): Promise<{ incoming: Incoming; identity: string }> {
    const spec = object.spec ?? {};
    const namespace = object.metadata.namespace;
    if (spec.sealedValueDigest !== undefined && spec.valueFrom !== undefined) return { incoming: { kind: 'conflict' }, identity };
    if (spec.sealedValueDigest !== undefined) {
      const sealed = Buffer.from(await this.readSealedValue(object, spec.sealedValueDigest), 'base64');
      const claim = sealedFor(sealed);
      if (claim !== undefined && (claim.namespace !== namespace || claim.name !== secretName)) return { incoming: { kind: 'sealed-for-other', tenant: claim.namespace, name: claim.name }, identity };
      const target = await this.sealingTargetNow(namespace, secretName);
      const opened = sealedIdentity(spec.sealedValueDigest, target);
      const mismatch = claim === undefined ? undefined : sealedMismatch(claim, target);
      const { tenantId } = target.binding;
      if (mismatch?.kind === 'other-tenant') return { incoming: { kind: 'sealed-for-other-tenant', sealedFor: mismatch.tenantId, tenantId }, identity: opened };
      if (mismatch?.kind === 'namespace-bound') return { incoming: { kind: 'sealed-namespace-bound', tenantId }, identity: opened };
      try {
        const ring = this.keys.ring.require();
        const value = await unseal({ privateKeys: ring.sealingKey, binding: target.binding, openNamespaceBound: target.openNamespaceBound, sealed });
        return { incoming: { kind: 'value', value, source: 'sealedValue' }, identity: opened };
      } catch (err) {
        if (isOrkaError(err, 'DECRYPT_FAILED')) return { incoming: { kind: 'undecryptable' }, identity: opened };
        throw err;
      }
    }
    const ref = spec.valueFrom?.secretKeyRef;
    if (ref === undefined) return { incoming: { kind: 'none' }, identity };
    // Names from the spec reach conditions and events only once they are proven plain names.
    if (!isSecretObjectName(ref.name) || !isSecretDataKey(ref.key)) return { incoming: { kind: 'source-invalid' }, identity };
    const record = this.valueFromRecord(object, ref);
    if (!record.ok) return { incoming: { kind: 'source-unauthorized', secret: ref.name, object: object.metadata.name, problem: record.problem }, identity };
    const source = await this.readSource(namespace, ref.name);
    return { incoming: sourceValue(source, ref), identity: sourceIdentity(source, ref.key) };
  }

  /**
   * Reads the sealed value of an OrkaSecret from the API (the cache holds its digest only): the
   * one the cached object names, else the cache is behind and the key is retried (the decision is
   * made on the cached object, its generation and status).
   */
  private async readSealedValue(object: CachedOrkaSecret, digest: string): Promise<string> {
    const { name, namespace, uid } = object.metadata;
    const fresh = await this.api.send<OrkaSecret>({ method: 'GET', path: orkaSecretsPath(namespace, name) }).catch((err: unknown) => {
      if (statusCode(err) === 404) return undefined;
      throw err;
    });
    const sealed = fresh?.spec?.sealedValue;
    if (fresh === undefined || fresh.metadata.uid !== uid || typeof sealed !== 'string' || sealedValueDigest(sealed) !== digest) throw new CacheBehind(`OrkaSecret ${name}`);
    return sealed;
  }

  /**
   * What a sealed value must be bound to in `namespace`, from the namespace read now: a namespace
   * deleted and made again for another tenant may not have reached the cache yet, and a value
   * opened against the cached (earlier) namespace's tenant id would be stored in the new one.
   * Read only when a sealed value is about to be opened (a new input), never on a resync.
   */
  private async sealingTargetNow(namespace: string, secretName: string): Promise<SealingTarget> {
    let ns: V1Namespace | undefined;
    try {
      ns = await this.api.send<V1Namespace>({ method: 'GET', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}` });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    const target = sealingTarget(ns, secretName);
    // Gone, unlabelled or made again since the cache saw it: decide on the cache once it has caught up.
    if (target === undefined || ns?.metadata?.uid !== this.cache.namespaceUid(namespace)) throw new CacheBehind(`namespace ${namespace}`);
    return target;
  }

  /**
   * A valueFrom record made with a sealing key that has been replaced is stamped again with the
   * active one, so it still verifies once the old key leaves the ring (ORKA_SEALING_KEY_RETENTION).
   * The write is conditional on the version the reconcile saw and passes admission like any other
   * update (the webhook keeps a record that verifies).
   */
  private async restampRecord(object: OrkaSecret, log: Logger): Promise<void> {
    const ref = valueFromRef(object);
    const uid = this.cache.namespaceUid(object.metadata.namespace);
    if (ref === undefined || uid === undefined) return;
    const keys = recordKeys(this.keys.ring.require());
    const namespace = { name: object.metadata.namespace, uid };
    const record = checkRecordOf(keys, namespace, object, ref);
    if (!record.ok || record.active) return;
    this.checkFence();
    const patch = this.api.send({
      method: 'PATCH',
      path: orkaSecretsPath(object.metadata.namespace, object.metadata.name),
      body: { metadata: { resourceVersion: object.metadata.resourceVersion, annotations: { [VALUE_FROM_RECORD_ANNOTATION]: stampRecord(keys, bindingOf(namespace, object.metadata.name, ref)) } } },
      contentType: 'application/merge-patch+json',
    });
    try {
      await patch;
    } catch (err) {
      // Changed meanwhile: its update queues the key again, and that reconcile stamps it.
      if (statusCode(err) === 409) return;
      throw err;
    }
    log.info('valueFrom admission record stamped again with the active key');
  }

  /** Reads a source Secret now (the cache holds no Secret data); undefined when there is none. */
  private async readSource(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.api.send<V1Secret>({ method: 'GET', path: secretsPath(namespace, name) });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Throws once this replica stepped down: called before every write. */
  private checkFence(): void {
    if (this.fenced) throw new Error('this replica stepped down; the new leader reconciles');
  }

  /** Writes what the plan says; returns the storage Secret's resourceVersion afterwards (if any). */
  private async apply(key: string, plan: Plan, seen: Seen, log: Logger): Promise<string | undefined> {
    const { namespace, name } = splitKey(key);
    const { object, storage: existing } = seen;
    if (plan.storage.op === 'delete') {
      // decide deletes only what it saw stored.
      if (existing !== undefined && (await this.storage.delete(namespace, name, existing))) log.info('OrkaSecret gone: storage deleted');
      return undefined;
    }
    if (object === undefined) return undefined;
    let storageVersion = existing?.metadata?.resourceVersion;
    if (plan.storage.op === 'write') {
      const secretName = toSecretName(name);
      const dataKey = await this.keys.dataKeys.dataKey(namespace, { create: true, namespaceUid: this.cache.namespaceUid(namespace) });
      if (dataKey === undefined) throw new Error('no data key');
      const envelope = encryptValue({ dataKey, tenant: namespace, name: secretName, version: plan.storage.version, value: plan.storage.value });
      const body = storageSecret(object, { version: plan.storage.version, envelope });
      // A stale cache makes the write fail (CacheBehind) and the key is retried: nothing is stored twice.
      const written = await this.storage.write(object, body, existing);
      storageVersion = written.metadata?.resourceVersion;
      log.info({ version: plan.storage.version }, 'value stored');
    }
    if (plan.status !== undefined) {
      this.checkFence();
      await this.api.send({
        method: 'PATCH',
        path: `${orkaSecretsPath(namespace, name)}/status`,
        body: { status: plan.status },
        contentType: 'application/merge-patch+json',
      });
    }
    const now = this.now();
    // Events are written in the background: they inform, and must not slow the reconcile.
    for (const event of plan.events) this.events.recordLater(object, event, now);
    if (plan.events.length > 0) log.info({ outcome: plan.outcome }, plan.events.map((e) => e.reason).join(', '));
    return storageVersion;
  }
}

/** The identity of a sealed input: its bytes' digest (the cache keeps only that) and what they must open for (a relabelled namespace is a new input). */
function sealedIdentity(sealedValueDigest: string, target: SealingTarget | undefined): string {
  const binding = target === undefined ? '-' : `${target.binding.tenantId}|${target.openNamespaceBound ? 1 : 0}`;
  return `sealed:${binding}:${sealedValueDigest}`;
}
