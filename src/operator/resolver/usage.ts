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

  record(namespace: string, names: readonly string[]): void {
    const now = this.options.now?.() ?? new Date();
    for (const name of names) {
      const key = objectKey(namespace, toObjectName(name));
      const entry = this.pending.get(key);
      if (entry) {
        entry.count++;
        entry.last = now;
      } else this.pending.set(key, { count: 1, last: now });
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Writes every pending count; keeps counts whose write failed for the next round. */
  async flush(): Promise<void> {
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
