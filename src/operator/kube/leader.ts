/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it:
 * acquire when the lease is free or its holder stopped renewing, renew every retry period,
 * step down when renewing fails for longer than the renew deadline, and release the lease on
 * shutdown so a successor need not wait for it to expire.
 *
 * Expiry is judged by when *this* process last saw the lease record change, not by the
 * timestamps in it, so clock skew between replicas does not matter.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../core/logger.js';

/** Timing of the election, in seconds. */
export interface LeaderTiming {
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
}

/** Callbacks for leadership changes. */
export interface LeaderCallbacks {
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
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
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;

  constructor(
    kc: KubeConfig,
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

  private async tick(): Promise<void> {
    try {
      await this.tryAcquireOrRenew();
    } catch (err) {
      this.options.log.warn({ err: { message: (err as Error).message, code: httpCode(err) } }, 'lease update failed');
    }
    if (this.leading && this.now() - this.lastRenew > this.options.timing.renewDeadline * 1000) {
      this.options.log.error('could not renew the lease before the deadline; stepping down');
      this.setLeading(false);
    }
    this.schedule();
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.options.log.info({ identity: this.options.identity }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.callbacks.onStartedLeading();
    else this.callbacks.onStoppedLeading();
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

  private async tryAcquireOrRenew(): Promise<void> {
    const { namespace, name, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (httpCode(err) !== 404) throw err;
      await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(microTime(new Date(this.now())), 0) } });
      this.lastRenew = this.now();
      this.setLeading(true);
      return;
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}`;
    if (this.observed?.record !== record) this.observed = { record, at: this.now() };
    const holder = spec.holderIdentity ?? '';
    const expired = this.now() > this.observed.at + (spec.leaseDurationSeconds ?? this.options.timing.leaseDuration) * 1000;
    if (holder !== identity && holder !== '' && !expired) {
      this.setLeading(false);
      return;
    }
    const acquiring = holder !== identity;
    const acquireTime = acquiring ? microTime(new Date(this.now())) : microTime(new Date(spec.acquireTime ?? this.now()));
    // replace carries the resourceVersion we read: if another replica wrote in between, this
    // fails with 409 and we try again next period. That is what makes the election safe.
    await this.api.replaceNamespacedLease({
      name,
      namespace,
      body: { metadata: lease.metadata, spec: this.spec(acquireTime, (spec.leaseTransitions ?? 0) + (acquiring ? 1 : 0)) },
    });
    this.lastRenew = this.now();
    this.setLeading(true);
  }

  /** Stops the election; a leader releases the lease so another replica can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
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
    } catch (err) {
      this.options.log.warn({ err: { message: (err as Error).message } }, 'could not release the lease');
    }
  }
}
