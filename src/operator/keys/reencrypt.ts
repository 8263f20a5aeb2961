/**
 * Re-encryption after a rotation: every stored value still under an earlier data key of its
 * tenant is encrypted again under the tenant's active data key, in the background, at a bounded
 * rate; an earlier data key no stored value names any more is then removed (and with it any
 * key-encryption key only it used).
 *
 * No progress is recorded anywhere: the state is what the cluster holds. Each storage Secret's
 * envelope names its data key, and each data-key Secret lists the tenant's earlier keys, so the
 * work left is derived from the caches at every pass (`planReencryption`, pure). A new leader
 * (after a restart or a failover) simply continues where the last one stopped.
 *
 * A re-encrypted value keeps its version (data.version and the envelope's binding are
 * unchanged: the value did not change), and the write carries the resourceVersion it read, so a
 * concurrent update of the value wins and this value is tried again at the next pass. The write
 * changes the storage Secret's resourceVersion, so subscribed sidecars hear that the name
 * changed and fetch it once more: they get the same value (see docs/key-rotation.md).
 */
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { decryptValue, encryptValue, envelopeKeyIdOf } from '../../core/envelope.js';
import { isOrkaError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { toSecretName } from '../../core/names.js';
import { MANAGED_BY, MANAGED_BY_LABEL, STORAGE_FOR_LABEL } from '../../api/resource.js';
import { isStorageSecret, readStorage } from '../../api/storage.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, statusCode } from '../kube/client.js';
import type { DataKeyState, DataKeyStore } from './datakeys.js';
import type { KeyRotation } from './rotation.js';

/** A stored value, as the planning needs it: where, and which data key its envelope names. */
export interface StoredRef {
  namespace: string;
  /** The storage Secret's name. */
  name: string;
  /** The data-key id its envelope names; undefined when the envelope is malformed. */
  keyId: string | undefined;
}

/** What is left to do, from one look at the caches. */
export interface ReencryptionPlan<R extends StoredRef = StoredRef> {
  /** Values under an earlier data key of their tenant, to encrypt again under the active one. */
  pending: Array<{ ref: R; from: string }>;
  /** Earlier data keys no value names any more, known long enough (`settleMs`) to remove. */
  removable: Array<{ tenant: string; id: string }>;
  /** Earlier data keys no value names any more, but seen too recently to remove yet. */
  settling: number;
  /** `pending`, counted by tenant (every tenant with an earlier key appears, 0 included). */
  pendingByTenant: Map<string, number>;
}

/**
 * Plans re-encryption (pure). `firstSeen` tells since when an earlier key is known; a key goes
 * only `settleMs` after that, so a write that used it just before the rotation was seen (a
 * reconcile in flight, bounded by the request timeout) has landed and shows up as pending.
 * `skip`: values to leave alone (ones the earlier key cannot open: they open under no key, so
 * they must not keep that key alive).
 */
export function planReencryption<R extends StoredRef>(input: {
  keys: readonly DataKeyState[];
  stored: Iterable<R>;
  now: number;
  settleMs: number;
  firstSeen: (tenant: string, id: string) => number;
  skip?: (ref: R) => boolean;
}): ReencryptionPlan<R> {
  const tenants = new Map(input.keys.filter((k) => k.previous.length > 0).map((k) => [k.tenant, k]));
  const pending: Array<{ ref: R; from: string }> = [];
  const used = new Set<string>();
  const pendingByTenant = new Map<string, number>([...tenants.keys()].map((t) => [t, 0]));
  for (const ref of input.stored) {
    const state = tenants.get(ref.namespace);
    if (state === undefined || ref.keyId === undefined || !state.previous.includes(ref.keyId)) continue;
    if (input.skip?.(ref)) continue;
    pending.push({ ref, from: ref.keyId });
    used.add(`${ref.namespace}/${ref.keyId}`);
    pendingByTenant.set(ref.namespace, (pendingByTenant.get(ref.namespace) ?? 0) + 1);
  }
  const removable: Array<{ tenant: string; id: string }> = [];
  let settling = 0;
  for (const state of tenants.values()) {
    for (const id of state.previous) {
      if (used.has(`${state.tenant}/${id}`)) continue;
      if (input.now - input.firstSeen(state.tenant, id) >= input.settleMs) removable.push({ tenant: state.tenant, id });
      else settling++;
    }
  }
  // A stable order (tenant, then name), so progress logs read sensibly and a pass is repeatable.
  pending.sort((a, b) => a.ref.namespace.localeCompare(b.ref.namespace) || a.ref.name.localeCompare(b.ref.name));
  return { pending, removable, settling, pendingByTenant };
}



/** A storage Secret as a StoredRef (undefined when it is not one or is malformed). */
export function storedRef(secret: V1Secret): (StoredRef & { secret: V1Secret }) | undefined {
  const content = readStorage(secret);
  const namespace = secret.metadata?.namespace;
  const name = secret.metadata?.name;
  if (content === undefined || namespace === undefined || name === undefined) return undefined;
  return { namespace, name, keyId: envelopeKeyIdOf(content.envelope), secret };
}

/** Settings of the re-encryption. */
export interface ReencryptorOptions {
  /** Most values re-encrypted per second. */
  ratePerSecond: number;
  log: Logger;
  /** Storage Secrets as last seen. */
  storage: { list(): Iterable<V1Secret>; get(name: string, namespace: string): V1Secret | undefined };
  /** A namespace's UID as last seen (undefined: gone); data keys are bound to it. */
  namespaceUid: (namespace: string) => string | undefined;
  /** Told when a re-encryption has finished (no value under an earlier key, every earlier key removed). */
  onComplete?: (summary: { reencrypted: number }) => void;
  /** Counts each value re-encrypted. */
  onReencrypted?: () => void;
  /** How long an earlier key stays after it is first seen unused; default: the API request timeout and a margin. */
  settleMs?: number;
  /** How often to look for work when there is none. */
  idleMs?: number;
  now?: () => number;
}

type Outcome = 'moved' | 'skipped' | 'conflict' | 'unreadable';

/** Leader: re-encrypts values to their tenant's active data key and removes unused earlier keys. */
export class Reencryptor {
  private running: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  /** Since when (epoch ms) each earlier key `tenant/id` is known to this process. */
  private readonly firstSeen = new Map<string, number>();
  /** Values an earlier key cannot open, by `namespace/name@resourceVersion`: never retried as they are. */
  private readonly unreadable = new Set<string>();
  /** Earlier keys already reported as held back by values this replica does not watch. */
  private readonly heldBack = new Set<string>();

  constructor(
    /** Writes storage Secrets and lists them (the check before a key is removed). */
    private readonly api: Pick<CoreV1Api, 'replaceNamespacedSecret' | 'listNamespacedSecret'>,
    private readonly keys: Pick<DataKeyStore, 'dataKeyStates' | 'dataKey'>,
    /** Removes an earlier data key once nothing uses it (and a key-encryption key only it used). */
    private readonly rotation: Pick<KeyRotation, 'removePreviousDataKey'>,
    private readonly options: ReencryptorOptions,
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** What is left, from the caches now (every replica can tell; the metrics use it). */
  plan(): ReencryptionPlan<StoredRef & { secret: V1Secret }> {
    const now = this.now();
    const keys = this.keys.dataKeyStates();
    const known = new Set<string>();
    for (const k of keys) for (const id of k.previous) known.add(`${k.tenant}/${id}`);
    for (const key of this.firstSeen.keys()) if (!known.has(key)) this.firstSeen.delete(key);
    // Outside a re-encryption (nearly always) no tenant has an earlier key: no need to look at
    // every stored value (this runs at each metrics scrape too).
    const stored = known.size === 0 ? [] : [...this.options.storage.list()].filter(isStorageSecret).flatMap((s) => storedRef(s) ?? []);
    return planReencryption({
      keys,
      stored,
      now,
      settleMs: this.options.settleMs ?? DEFAULT_REQUEST_TIMEOUT_MS + 5000,
      firstSeen: (tenant, id) => {
        const key = `${tenant}/${id}`;
        const seen = this.firstSeen.get(key) ?? now;
        this.firstSeen.set(key, seen);
        return seen;
      },
      skip: (ref) => this.unreadable.has(`${ref.namespace}/${ref.name}@${ref.secret.metadata?.resourceVersion}`),
    });
  }

  /** Leader: starts working through what is left, and keeps looking for new work. */
  start(): void {
    if (this.running !== undefined) return;
    this.stopping = false;
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Wakes the loop now (the keys changed). */
  kick(): void {
    this.wake?.();
  }

  /** Stops after the value in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    const { log } = this.options;
    const interval = 1000 / this.options.ratePerSecond;
    let busy = false;
    let moved = 0;
    while (!this.stopping) {
      const plan = this.plan();
      const work = plan.pending.length + plan.removable.length + plan.settling;
      if (work > 0 && !busy) {
        busy = true;
        moved = 0;
        log.info({ pending: plan.pending.length, tenants: plan.pendingByTenant.size, ratePerSecond: this.options.ratePerSecond }, 're-encrypting stored values to the new data keys');
      }
      for (const { tenant, id } of plan.removable) {
        if (this.stopping) break;
        await this.removeIfUnused(tenant, id).catch((err: unknown) => log.warn({ tenant, id, err: { message: (err as Error).message } }, 'could not remove an earlier data key; will try again'));
      }
      let progressAt = this.now();
      let attempted = 0;
      for (const [i, item] of plan.pending.entries()) {
        if (this.stopping) break;
        const started = this.now();
        const outcome = await this.reencrypt(item.ref.namespace, item.ref.name, item.from).catch((err: unknown) => {
          log.warn({ tenant: item.ref.namespace, storage: item.ref.name, err: { message: (err as Error).message, status: statusCode(err) } }, 'could not re-encrypt a value; will try again');
          return 'conflict' as Outcome;
        });
        if (outcome === 'moved') {
          moved++;
          this.options.onReencrypted?.();
        }
        if (this.now() - progressAt >= 10_000) {
          progressAt = this.now();
          log.info({ done: i + 1, of: plan.pending.length, reencrypted: moved }, 're-encryption progress');
        }
        // The bound: at most ratePerSecond writes per second, however fast the apiserver answers.
        if (outcome === 'skipped') continue;
        attempted++;
        await this.pause(Math.max(0, interval - (this.now() - started)));
      }
      if (busy && work === 0) {
        busy = false;
        log.info({ reencrypted: moved }, 're-encryption complete: every stored value is under its tenant\'s active data key and the earlier data keys are removed');
        this.options.onComplete?.({ reencrypted: moved });
      }
      // Nothing to write (or nothing that could be written now, as a value whose tenant's key is
      // not loadable): look again later rather than spin.
      if (attempted === 0 && !this.stopping) await this.pause(this.options.idleMs ?? 5000);
    }
  }

  /** Re-encrypts one value if it is still under the earlier key `from` (as the cache has it now). */
  private async reencrypt(namespace: string, name: string, from: string): Promise<Outcome> {
    const secret = this.options.storage.get(name, namespace);
    const content = readStorage(secret);
    const owner = secret?.metadata?.labels?.[STORAGE_FOR_LABEL];
    if (secret === undefined || content === undefined || owner === undefined || envelopeKeyIdOf(content.envelope) !== from) return 'skipped';
    const keys = await this.keys.dataKey(namespace, { create: false, namespaceUid: this.options.namespaceUid(namespace) });
    const old = keys?.lookup(from);
    if (keys === undefined || old === undefined || keys.id === from) return 'skipped';
    let value: Buffer;
    try {
      value = decryptValue({ dataKeys: (id) => (id === from ? old : undefined), tenant: namespace, name: toSecretName(owner), version: content.version, stored: content.envelope });
    } catch (err) {
      if (!isOrkaError(err, 'DECRYPT_FAILED') && !isOrkaError(err, 'INVALID_REQUEST')) throw err;
      this.unreadable.add(`${namespace}/${name}@${secret.metadata?.resourceVersion}`);
      this.options.log.warn({ tenant: namespace, storage: name }, 'a stored value does not open under its data key; left as it is (it is reported by its OrkaSecret)');
      return 'unreadable';
    }
    try {
      // Same version: the value did not change, only the key it is encrypted with.
      const envelope = encryptValue({ dataKey: keys, tenant: namespace, name: toSecretName(owner), version: content.version, value });
      await this.api.replaceNamespacedSecret({ name, namespace, body: { ...secret, data: { ...secret.data, value: envelope.toString('base64') } } });
      return 'moved';
    } catch (err) {
      // 409: the value changed meanwhile (that write used the active key) or our cache is behind;
      // 404: it is gone. Either way the next pass sees what is there now.
      if (statusCode(err) === 409 || statusCode(err) === 404) return 'conflict';
      throw err;
    } finally {
      value.fill(0);
    }
  }

  /**
   * Removes an earlier data key once the apiserver itself (not only our cache) shows no stored
   * value of the tenant naming it: losing a key loses every value under it.
   */
  private async removeIfUnused(tenant: string, id: string): Promise<void> {
    const list = await this.api.listNamespacedSecret({ namespace: tenant, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${STORAGE_FOR_LABEL}` });
    const users = list.items.filter((s) => {
      const ref = storedRef(s);
      return ref !== undefined && ref.keyId === id && !this.unreadable.has(`${ref.namespace}/${ref.name}@${s.metadata?.resourceVersion}`);
    });
    if (users.length > 0) {
      // Our cache showed none: these are in a namespace this replica does not watch, or our
      // cache is behind. Said once; they are picked up when the cache shows them.
      if (!this.heldBack.has(`${tenant}/${id}`)) this.options.log.warn({ tenant, id, values: users.length }, 'an earlier data key still has values under it that this replica does not see; it stays until they are re-encrypted');
      this.heldBack.add(`${tenant}/${id}`);
      return;
    }
    await this.rotation.removePreviousDataKey(tenant, id);
  }
}
