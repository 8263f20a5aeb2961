/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it:
 * acquire when the lease is free or its holder stopped renewing, renew every retry period,
 * step down when renewing fails for longer than the renew deadline, and release the lease on
 * shutdown so a successor need not wait for it to expire.
 *
 * Expiry is judged by when *this* process last saw the lease record change, not by the
 * timestamps in it, so clock skew between replicas does not matter.
 *
 * The renew deadline is kept by a timer of its own, not by the renewal loop: a renewal that
 * hangs (etcd down, a connection that accepts and never answers) must not keep a leader leading.
 * Every attempt is aborted when the deadline passes, and the leader steps down at that moment,
 * which is before any other replica can see the lease expire (renew deadline < lease duration).
 */
import { CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';
import type { PooledKubeConfig } from './client.js';

/** Timing of the election, in seconds. */
export interface LeaderTiming {
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
}

/**
 * Why leadership ended: `deadline` (could not renew in time), `taken` (another replica holds the
 * lease), `shutdown` (stop() released it).
 */
export type StepDownReason = 'deadline' | 'taken' | 'shutdown';

/** Callbacks for leadership changes. */
export interface LeaderCallbacks {
  onStartedLeading: () => void;
  onStoppedLeading: (reason: StepDownReason) => void;
}

function httpCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** Go's MicroTime wants six fraction digits; JavaScript gives three. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Runs the election until stopped. */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;

  constructor(
    private readonly kc: PooledKubeConfig,
    private readonly options: { namespace: string; name: string; identity: string; timing: LeaderTiming; log: Logger; now?: () => number },
    private readonly callbacks: LeaderCallbacks,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  /** Whether this process holds the lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Starts trying to acquire and then renew the lease. */
  start(): void {
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.options.timing.retryPeriod * 1000);
  }

  private renewDeadlineMs(): number {
    return this.options.timing.renewDeadline * 1000;
  }

  private async tick(): Promise<void> {
    // A leader's attempt may take only what is left of its renew deadline; a follower's, the
    // whole deadline (a late answer to it is harmless: the write carries the version it read).
    const budget = this.leading ? this.lastRenew + this.renewDeadlineMs() - this.now() : this.renewDeadlineMs();
    try {
      // Only the requests run under the signal; what follows (callbacks, workers) runs outside it.
      const outcome = await this.kc.withSignal(AbortSignal.timeout(Math.max(1, budget)), () => this.tryAcquireOrRenew());
      if (outcome === 'held') this.renewed();
      else this.setLeading(false, 'taken');
    } catch (err) {
      this.options.log.warn({ err: { message: (err as Error).message, code: httpCode(err) } }, 'lease update failed');
    }
    this.checkDeadline();
    this.schedule();
  }

  /** Steps down when the last renewal is older than the renew deadline. */
  private checkDeadline(): void {
    if (this.leading && this.now() - this.lastRenew >= this.renewDeadlineMs()) {
      this.options.log.error({ sinceRenewMs: this.now() - this.lastRenew }, 'could not renew the lease before the deadline; stepping down');
      this.setLeading(false, 'deadline');
    }
  }

  /** A successful write of the lease: this replica leads until the renew deadline from now. */
  private renewed(): void {
    this.lastRenew = this.now();
    clearTimeout(this.deadlineTimer);
    if (this.stopped) return;
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), this.renewDeadlineMs());
    this.setLeading(true);
  }

  private setLeading(leading: boolean, reason: StepDownReason = 'taken'): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (!leading) clearTimeout(this.deadlineTimer);
    this.options.log.info({ identity: this.options.identity, ...(leading ? {} : { reason }) }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.callbacks.onStartedLeading();
    else this.callbacks.onStoppedLeading(reason);
  }

  private spec(acquireTime: string, transitions: number): V1Lease['spec'] {
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.options.timing.leaseDuration,
      acquireTime: acquireTime as unknown as Date,
      renewTime: microTime(new Date(this.now())) as unknown as Date,
      leaseTransitions: transitions,
    };
  }

  /** One attempt: `held` when this replica wrote the lease (acquired or renewed), `taken` when another holds it. */
  private async tryAcquireOrRenew(): Promise<'held' | 'taken'> {
    const { namespace, name, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (httpCode(err) !== 404) throw err;
      if (this.stopped) return 'taken';
      await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(microTime(new Date(this.now())), 0) } });
      return 'held';
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}`;
    if (this.observed?.record !== record) this.observed = { record, at: this.now() };
    const holder = spec.holderIdentity ?? '';
    const expired = this.now() > this.observed.at + (spec.leaseDurationSeconds ?? this.options.timing.leaseDuration) * 1000;
    if (holder !== identity && holder !== '' && !expired) return 'taken';
    const acquiring = holder !== identity;
    // An attempt in flight when stop() ran may read the lease stop() just freed: never take it back.
    if (acquiring && this.stopped) return 'taken';
    const acquireTime = acquiring ? microTime(new Date(this.now())) : microTime(new Date(spec.acquireTime ?? this.now()));
    // replace carries the resourceVersion we read: if another replica wrote in between, this
    // fails with 409 and we try again next period. That is what makes the election safe.
    await this.api.replaceNamespacedLease({
      name,
      namespace,
      body: { metadata: lease.metadata, spec: this.spec(acquireTime, (spec.leaseTransitions ?? 0) + (acquiring ? 1 : 0)) },
    });
    return 'held';
  }

  /** Stops the election; a leader releases the lease so another replica can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    clearTimeout(this.deadlineTimer);
    if (!this.leading) return;
    this.setLeading(false, 'shutdown');
    // A renewal already in flight may write the lease between this read and this write (409):
    // read again. It is the last one (stopped: no attempt is scheduled after it), so a second
    // try suffices; the third is slack.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.release();
        return;
      } catch (err) {
        if (httpCode(err) === 409 && attempt < 3) continue;
        this.options.log.warn({ err: { message: (err as Error).message, code: httpCode(err) } }, 'could not release the lease');
        return;
      }
    }
  }

  /** Writes the lease free (holder empty), if this replica still holds it. */
  private async release(): Promise<void> {
    const lease = await this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace });
    if (lease.spec?.holderIdentity !== this.options.identity) return;
    await this.api.replaceNamespacedLease({
      name: this.options.name,
      namespace: this.options.namespace,
      body: {
        metadata: lease.metadata,
        spec: { ...this.spec(microTime(new Date(this.now())), lease.spec.leaseTransitions ?? 0), holderIdentity: '', leaseDurationSeconds: 1 },
      },
    });
    this.options.log.info('released the lease');
  }
}
