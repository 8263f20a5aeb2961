/**
 * The reconciler: informers feed a work queue of OrkaSecret keys; workers (on the leader only)
 * run gather -> decide (pure, ./decide.ts) -> apply for each key.
 *
 * gather reads only informer caches and does the crypto that classifies the inputs (unseal the
 * incoming value, decrypt the stored one); apply is the only place that writes to the API, and
 * it writes each thing at most once per reconcile: the storage Secret, the status (only when
 * changed), the Events.
 */
import { createHash } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Namespace, type V1Secret } from '@kubernetes/client-node';
import { decryptValue, encryptValue, envelopeKeyId, MAX_VALUE_BYTES, sealedFor, unseal } from '../../core/envelope.js';
import { isOrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { checkObjectName, isSecretDataKey, isSecretObjectName, toSecretName } from '../../core/names.js';
import { decide, type Incoming, type Observed, type Plan, type Stored } from './decide.js';
import type { EventRecorder } from '../kube/events.js';
import { watchNamespaces, watchOrkaSecrets, watchSecrets, type Watched } from '../kube/informers.js';
import type { KeyStore } from '../keys/store.js';
import type { OperatorMetrics } from '../metrics.js';
import { WorkQueue } from './queue.js';
import { GROUP, objectKey, PLURAL, REFUSED_SOURCE_TYPES, splitKey, STORAGE_FOR_LABEL, storageName, VERSION, type OrkaSecret } from '../../api/resource.js';
import { isStorageSecret, readStorage, storageSecret } from '../../api/storage.js';
import { tenancyOf, type Tenancy } from '../../api/tenancy.js';

/** Settings of the controller. */
export interface ControllerOptions {
  workers: number;
  /** The operator's own namespace: never a tenant. */
  operatorNamespace: string;
  /** Namespaces to watch; empty: all. */
  namespaces: readonly string[];
  /** Every object is queued again this often, to catch anything a watch missed (seconds). */
  resyncPeriod: number;
  log: Logger;
  now?: () => Date;
}

/** The data-key id a stored envelope names, or undefined when it is malformed. */
function keyIdOf(envelope: Buffer): string | undefined {
  try {
    return envelopeKeyId(envelope);
  } catch {
    return undefined;
  }
}

function code(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/**
 * What a value change says: the resourceVersion of the object that changed (a storage Secret, or
 * a deleted OrkaSecret) and whether the name stopped resolving. Comparable with the revisions of
 * the resolver's answers, so a sidecar can tell an answer older than a change it has seen.
 */
export interface ValueChange {
  revision: string | undefined;
  deleted: boolean;
}

/** Reconciles OrkaSecrets into encrypted storage. */
export class Controller {
  /** Replaced at each start of the workers: a queue that was shut down stays shut. */
  queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  readonly orkaSecrets: Watched<OrkaSecret>;
  readonly namespaces: Watched<V1Namespace>;
  readonly secrets: Watched<V1Secret>;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private workers: Array<Promise<void>> = [];
  /** Per key: the input and storage version of the last reconcile that verified the stored value. */
  private readonly applied = new Map<string, string>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    kc: KubeConfig,
    private readonly keys: KeyStore,
    private readonly events: EventRecorder,
    private readonly metrics: OperatorMetrics,
    private readonly options: ControllerOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.orkaSecrets = watchOrkaSecrets(kc, options.log, options.namespaces);
    this.namespaces = watchNamespaces(kc, options.log);
    this.secrets = watchSecrets(kc, options.log, { namespaces: options.namespaces });
    this.wire();
    metrics.onCollect(() => {
      metrics.queueDepth.set(this.queue.length);
      metrics.storedByTenant.reset();
      for (const secret of this.secrets.list()) {
        if (isStorageSecret(secret)) metrics.storedByTenant.inc({ tenant: secret.metadata?.namespace ?? '' });
      }
    });
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private readonly valueListeners: Array<(namespace: string, objectName: string, change: ValueChange) => void> = [];

  /** Calls `fn` when an OrkaSecret or its stored value changes or goes away (for the resolver). */
  onValueChange(fn: (namespace: string, objectName: string, change: ValueChange) => void): void {
    this.valueListeners.push(fn);
  }

  /** The UID of a namespace, as last seen (undefined: it does not exist). */
  namespaceUid(namespace: string): string | undefined {
    return this.namespaces.get(namespace)?.metadata?.uid;
  }

  /** Whether a namespace is a tenant, as last seen, and if not why. */
  tenancy(namespace: string): Tenancy {
    return tenancyOf(namespace, this.namespaces.get(namespace)?.metadata?.labels, this.options.operatorNamespace);
  }

  private notify(namespace: string | undefined, objectName: string | undefined, change: ValueChange): void {
    if (namespace === undefined || objectName === undefined) return;
    for (const fn of this.valueListeners) fn(namespace, objectName, change);
  }

  private wire(): void {
    const enqueue = (o: { metadata?: { name?: string; namespace?: string } }) => {
      if (o.metadata?.name && o.metadata.namespace) this.queue.add(objectKey(o.metadata.namespace, o.metadata.name));
    };
    // A tenant's data key deleted by hand: every stored value of the tenant is unreadable now.
    // Reconcile each again, without the shortcut that skips decrypting: values with a source
    // are stored again under a new data key, the others get the reason DataKeyLost.
    this.keys.onDataKeyDeleted((tenant) => {
      this.metrics.dataKeysLost.inc({ tenant });
      const affected = this.orkaSecrets.list(tenant);
      this.options.log.warn({ tenant, affected: affected.length }, 'the data key of a tenant was deleted; storing its values again from their sources');
      for (const key of [...this.applied.keys()]) if (splitKey(key).namespace === tenant) this.applied.delete(key);
      for (const o of affected) enqueue(o);
    });
    // A deleted object carries the resourceVersion of its deletion.
    this.orkaSecrets.on('delete', (o) => this.notify(o.metadata.namespace, o.metadata.name, { revision: o.metadata.resourceVersion, deleted: true }));
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.orkaSecrets.on(verb, enqueue);
      // A namespace gaining or losing the tenant label changes every OrkaSecret in it.
      this.namespaces.on(verb, (ns) => {
        for (const o of this.orkaSecrets.list(ns.metadata?.name)) enqueue(o);
      });
      this.secrets.on(verb, (secret) => this.onSecret(secret, verb === 'delete'));
    }
  }

  /** A storage Secret changed (or vanished): its OrkaSecret; a source Secret changed: its users. */
  private onSecret(secret: V1Secret, deleted = false): void {
    const namespace = secret.metadata?.namespace;
    const name = secret.metadata?.name;
    if (namespace === undefined || name === undefined) return;
    if (isStorageSecret(secret)) {
      const owner = secret.metadata?.labels?.[STORAGE_FOR_LABEL] as string;
      this.queue.add(objectKey(namespace, owner));
      this.notify(namespace, owner, { revision: secret.metadata?.resourceVersion, deleted });
      return;
    }
    for (const o of this.orkaSecrets.list(namespace)) {
      if (o.spec?.valueFrom?.secretKeyRef?.name === name) this.queue.add(objectKey(namespace, o.metadata.name));
    }
  }

  /** Resolves when every cache has been filled once. */
  async synced(): Promise<void> {
    await Promise.all([this.orkaSecrets.synced, this.namespaces.synced, this.secrets.synced]);
  }

  /** Leader: starts the workers and the periodic resync. */
  startWorkers(): void {
    if (this.running) return;
    this.running = true;
    this.queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
    this.resyncAll();
    this.resyncTimer = setInterval(() => this.resyncAll(), this.options.resyncPeriod * 1000);
    this.resyncTimer.unref();
    this.workers = Array.from({ length: this.options.workers }, () => this.work());
  }

  private resyncAll(): void {
    for (const o of this.orkaSecrets.list()) this.queue.add(objectKey(o.metadata.namespace, o.metadata.name));
    // Storage whose OrkaSecret was deleted while no operator ran.
    for (const s of this.secrets.list()) if (isStorageSecret(s)) this.onSecret(s);
  }

  /** Stops taking work and waits for the reconciles in flight. */
  async stopWorkers(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await this.queue.drained();
    await Promise.all(this.workers);
    await this.events.flush();
    this.running = false;
  }

  /** Stops the informers. */
  async stop(): Promise<void> {
    await this.stopWorkers();
    await Promise.all([this.orkaSecrets.stop(), this.namespaces.stop(), this.secrets.stop()]);
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
        this.metrics.reconciles.inc({ result: 'Error' });
        const delay = this.queue.addRateLimited(key);
        const detail = isOrkaError(err) ? { code: err.code, message: err.message } : { message: (err as Error).message, status: code(err) };
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
    const storageVersion = await this.apply(key, plan, log);
    // Remember which input gave the stored value, so that the reconcile our own writes trigger
    // (and every resync) needs no unsealing or decrypting when nothing changed.
    const verified = plan.outcome === 'Stored' && (observed.incoming.kind === 'value' || observed.incoming.kind === 'unchanged');
    if (verified && observed.inputIdentity !== undefined && storageVersion !== undefined) this.applied.set(key, `${observed.inputIdentity}|${storageVersion}`);
    else this.applied.delete(key);
    return plan;
  }

  private async gather(key: string): Promise<Observed & { inputIdentity?: string }> {
    const { namespace, name } = splitKey(key);
    const raw = this.orkaSecrets.get(name, namespace);
    const object = raw === undefined || raw.metadata.deletionTimestamp ? undefined : raw;
    const nameCheck = checkObjectName(name);
    const secretName = nameCheck.ok ? ({ ok: true, name: toSecretName(name) } as const) : ({ ok: false, message: `${nameCheck.message} (an OrkaSecret's name is its secret name in lower case with - for _)` } as const);
    const tenancy = this.tenancy(namespace);
    const base = {
      namespace,
      object: object === undefined ? undefined : { generation: object.metadata.generation ?? 0, status: object.status },
      secretName,
      tenancy,
      now: this.now(),
    };
    const inputIdentity = object !== undefined && secretName.ok && tenancy.tenant ? this.inputIdentity(object) : undefined;
    const storage = this.secrets.get(storageName(name), namespace);
    const content = readStorage(storage);
    if (inputIdentity !== undefined && content !== undefined && this.applied.get(key) === `${inputIdentity}|${storage?.metadata?.resourceVersion}`) {
      const source = object?.spec?.sealedValue !== undefined ? 'sealedValue' : 'valueFrom';
      return { ...base, inputIdentity, incoming: { kind: 'unchanged', source }, stored: { version: content.version, matchesIncoming: true } };
    }
    const stored = await this.storedValue(namespace, name, secretName.ok ? secretName.name : undefined);
    const incoming: Incoming = inputIdentity !== undefined && object !== undefined && secretName.ok ? this.incoming(object, secretName.name) : { kind: 'none' };
    return { ...base, ...(inputIdentity === undefined ? {} : { inputIdentity }), incoming, ...(stored === undefined ? {} : { stored }) };
  }

  /** What identifies the value source without opening it: the sealed bytes, or the source Secret's version. */
  private inputIdentity(object: OrkaSecret): string | undefined {
    const spec = object.spec ?? {};
    if (spec.sealedValue !== undefined) return `sealed:${createHash('sha256').update(spec.sealedValue).digest('hex')}`;
    const ref = spec.valueFrom?.secretKeyRef;
    if (ref === undefined) return 'none';
    const source = this.secrets.get(ref.name, object.metadata.namespace);
    return source === undefined ? 'missing' : `secret:${source.metadata?.uid}:${source.metadata?.resourceVersion}:${ref.key}`;
  }

  private async storedValue(namespace: string, objectName: string, secretName: string | undefined): Promise<Stored | undefined> {
    const secret = this.secrets.get(storageName(objectName), namespace);
    if (secret === undefined || !isStorageSecret(secret)) return undefined;
    const content = readStorage(secret);
    if (content === undefined || secretName === undefined) return { version: content?.version ?? 0, undecryptable: true };
    try {
      const dataKey = await this.keys.dataKey(namespace, { create: false, namespaceUid: this.namespaceUid(namespace) });
      // Stored under a data key the tenant no longer has (the active one, or an earlier one a
      // rotation replaced and re-encryption has not yet moved it from): its Secret was deleted
      // (and perhaps a new one made since). Nothing can open it; decide stores it again from its source.
      const keyId = keyIdOf(content.envelope);
      if (dataKey === undefined || keyId === undefined || dataKey.lookup(keyId) === undefined) return { version: content.version, undecryptable: true, dataKeyLost: true };
      const value = decryptValue({ dataKeys: dataKey.lookup, tenant: namespace, name: secretName, version: content.version, stored: content.envelope });
      return { version: content.version, value };
    } catch (err) {
      if (isOrkaError(err, 'DECRYPT_FAILED')) return { version: content.version, undecryptable: true };
      throw err;
    }
  }

  private incoming(object: OrkaSecret, secretName: string): Incoming {
    const spec = object.spec ?? {};
    const namespace = object.metadata.namespace;
    if (spec.sealedValue !== undefined && spec.valueFrom !== undefined) return { kind: 'conflict' };
    if (spec.sealedValue !== undefined) {
      const sealed = Buffer.from(spec.sealedValue, 'base64');
      const claim = sealedFor(sealed);
      if (claim !== undefined && (claim.tenant !== namespace || claim.name !== secretName)) return { kind: 'sealed-for-other', ...claim };
      try {
        const ring = this.keys.requireRing();
        return { kind: 'value', value: unseal({ privateKeys: ring.sealingKey, tenant: namespace, name: secretName, sealed }), source: 'sealedValue' };
      } catch (err) {
        if (isOrkaError(err, 'DECRYPT_FAILED')) return { kind: 'undecryptable' };
        throw err;
      }
    }
    const ref = spec.valueFrom?.secretKeyRef;
    if (ref !== undefined) {
      // Names from the spec reach conditions and events only once they are proven plain names.
      if (!isSecretObjectName(ref.name) || !isSecretDataKey(ref.key)) return { kind: 'source-invalid' };
      const source = this.secrets.get(ref.name, namespace);
      if (source === undefined) return { kind: 'source-missing', secret: ref.name, key: ref.key, missing: 'secret' };
      if (source.type !== undefined && REFUSED_SOURCE_TYPES.includes(source.type)) return { kind: 'source-refused', secret: ref.name, type: source.type };
      const data = source.data?.[ref.key];
      if (data === undefined) return { kind: 'source-missing', secret: ref.name, key: ref.key, missing: 'key' };
      const value = Buffer.from(data, 'base64');
      if (value.length > MAX_VALUE_BYTES) return { kind: 'too-large', bytes: value.length, limit: MAX_VALUE_BYTES };
      return { kind: 'value', value, source: 'valueFrom' };
    }
    return { kind: 'none' };
  }

  /** Writes what the plan says; returns the storage Secret's resourceVersion afterwards (if any). */
  private async apply(key: string, plan: Plan, log: Logger): Promise<string | undefined> {
    const { namespace, name } = splitKey(key);
    const object = this.orkaSecrets.get(name, namespace);
    const existing = this.secrets.get(storageName(name), namespace);
    if (plan.storage.op === 'delete') {
      try {
        await this.core.deleteNamespacedSecret({ name: storageName(name), namespace });
        log.info('OrkaSecret gone: storage deleted');
      } catch (err) {
        if (code(err) !== 404) throw err;
      }
      return undefined;
    }
    if (object === undefined) return undefined;
    let storageVersion = existing?.metadata?.resourceVersion;
    if (plan.storage.op === 'write') {
      const secretName = toSecretName(name);
      const dataKey = await this.keys.dataKey(namespace, { create: true, namespaceUid: this.namespaceUid(namespace) });
      if (dataKey === undefined) throw new Error('no data key');
      const envelope = encryptValue({ dataKey, tenant: namespace, name: secretName, version: plan.storage.version, value: plan.storage.value });
      const body = storageSecret(object, { version: plan.storage.version, envelope }, existing?.metadata?.resourceVersion);
      // create when our cache has none, replace (with its resourceVersion) when it has one: a
      // stale cache makes either fail with 409 and the key is retried, so nothing is stored twice.
      const written =
        existing === undefined
          ? await this.core.createNamespacedSecret({ namespace, body })
          : await this.core.replaceNamespacedSecret({ name: storageName(name), namespace, body });
      storageVersion = written.metadata?.resourceVersion;
      log.info({ version: plan.storage.version }, 'value stored');
    }
    if (plan.status !== undefined) {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { status: plan.status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
    const now = this.now();
    // Events are written in the background: they inform, and must not slow the reconcile.
    for (const event of plan.events) this.events.recordLater(object, event, now);
    if (plan.events.length > 0) log.info({ outcome: plan.outcome }, plan.events.map((e) => e.reason).join(', '));
    return storageVersion;
  }
}
