/**
 * Usage tracking: counts resolutions per secret in memory and writes `status.usage`
 * (lastResolvedAt, resolveCount) in batches, at most once per interval per secret, so that
 * resolving never waits on the apiserver. Each replica adds its own counts to what the status
 * already says; two replicas flushing the same secret at the same instant can lose a few counts,
 * which is the price of never blocking a resolution.
 */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';
import { toObjectName } from '../../core/names.js';
import type { Watched } from '../kube/informers.js';
import { GROUP, objectKey, PLURAL, splitKey, VERSION, type OrkaSecret } from '../../api/resource.js';
import type { UsageRecorder } from './http.js';

/** Batches usage counts into status writes. */
export class UsageTracker implements UsageRecorder {
  private pending = new Map<string, { count: number; last: Date }>();
  /** Counts since the last flush, per namespace and secret name. */
  private readonly recorded = new Map<string, Map<string, { count: number; last: Date }>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    /** The shared cache of OrkaSecrets (their status.usage, to add to). */
    private readonly orkaSecrets: Watched<OrkaSecret>,
    private readonly options: { intervalSeconds: number; log: Logger; now?: () => Date },
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  /** Counts one resolution of each of `names` (secret names) in `namespace`; called on every resolve, so it only counts. */
  record(namespace: string, names: readonly string[]): void {
    const now = this.options.now?.() ?? new Date();
    let counts = this.recorded.get(namespace);
    if (counts === undefined) this.recorded.set(namespace, (counts = new Map()));
    for (const name of names) {
      const entry = counts.get(name);
      if (entry) {
        entry.count++;
        entry.last = now;
      } else counts.set(name, { count: 1, last: now });
    }
  }

  /** Moves what `record` counted into `pending`, by object key (the names mapped here, not per resolve). */
  private collect(): void {
    for (const [namespace, counts] of this.recorded) {
      for (const [name, { count, last }] of counts) {
        const key = objectKey(namespace, toObjectName(name));
        const entry = this.pending.get(key);
        this.pending.set(key, { count: count + (entry?.count ?? 0), last: entry !== undefined && entry.last > last ? entry.last : last });
      }
    }
    this.recorded.clear();
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Writes every pending count; keeps counts whose write failed for the next round. */
  async flush(): Promise<void> {
    this.collect();
    const batch = this.pending;
    this.pending = new Map();
    for (const [key, { count, last }] of batch) {
      const { namespace, name } = splitKey(key);
      const current = this.orkaSecrets.get(name, namespace);
      if (current === undefined) continue;
      const resolveCount = (current.status?.usage?.resolveCount ?? 0) + count;
      try {
        await this.api.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status: { usage: { lastResolvedAt: last.toISOString(), resolveCount } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } catch (err) {
        this.options.log.warn({ key, err: { message: (err as Error).message } }, 'could not write usage; will retry');
        const again = this.pending.get(key);
        this.pending.set(key, { count: count + (again?.count ?? 0), last: again?.last ?? last });
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
