/**
 * Fairness across tenants on one replica: how change streams are shared (StreamLimiter) and how
 * often a tenant may resolve (ResolveRateLimiter). Pure: no I/O, the clock passed in.
 *
 * Streams are shared max-min fair. While the replica holds fewer than its cap, any pod may open one
 * (up to its per-identity cap). When it is full, a tenant holding fewer than its fair share (the
 * cap divided by the tenants holding streams, the asking one counted) takes a slot from the tenant
 * holding the most: one of that tenant's streams is closed (a second stream of one pod first, else
 * its oldest), and its sidecar reconnects (to another replica, or back off on the 429 it gets
 * here). A tenant at or above its share is refused. So one tenant with many pods can use every
 * free slot, and still cannot keep another tenant's sidecar from its stream.
 */
import { fullAt, fullBucket, takeToken, type Bucket, type Rate } from '../../core/token-bucket.js';

/** How a stream's slot ends: `release` when it closes; `evict` is what the limiter calls to close it. */
interface Slot {
  tenant: string;
  identity: string;
  evict: () => void;
  released: boolean;
}

/** Counts open change streams per identity, per tenant and in total, and shares them fairly. */
export class StreamLimiter {
  private total = 0;
  private readonly perIdentity = new Map<string, number>();
  /** Per tenant, its open streams, oldest first. */
  private readonly perTenant = new Map<string, Set<Slot>>();

  constructor(private readonly limits: { total: number; perIdentity: number }) {}

  /**
   * A release function when a stream may open for `identity` of `tenant`, or why not. `evict`
   * closes that stream, should a tenant below its fair share need its slot later (its slot is
   * released already when evict is called).
   */
  acquire(tenant: string, identity: string, evict: () => void): { release: () => void } | { refusal: string } {
    const mine = this.perIdentity.get(identity) ?? 0;
    if (mine >= this.limits.perIdentity) return { refusal: `this pod already holds ${mine} change streams, the most one identity may open` };
    if (this.total >= this.limits.total) {
      const held = this.perTenant.get(tenant)?.size ?? 0;
      const share = this.share(tenant);
      const victim = held < share ? this.largest() : undefined;
      // The victim holds at least two more than the asker, so no slot goes back and forth.
      if (victim === undefined || victim.size < held + 2) {
        return { refusal: `the operator holds as many change streams as it may (${this.limits.total}), and this tenant holds ${held}, its fair share being ${share}; retry later` };
      }
      const slot = this.evictable(victim);
      this.free(slot);
      slot.evict();
    }
    const slot: Slot = { tenant, identity, evict, released: false };
    this.total++;
    this.perIdentity.set(identity, mine + 1);
    const streams = this.perTenant.get(tenant) ?? new Set<Slot>();
    streams.add(slot);
    this.perTenant.set(tenant, streams);
    return { release: () => this.free(slot) };
  }

  /** A tenant's fair share: the cap over the tenants holding streams, `tenant` counted; at least 1. */
  private share(tenant: string): number {
    const tenants = this.perTenant.size + (this.perTenant.has(tenant) ? 0 : 1);
    return Math.max(1, Math.floor(this.limits.total / tenants));
  }

  /** The streams of the tenant holding the most. */
  private largest(): Set<Slot> | undefined {
    let most: Set<Slot> | undefined;
    for (const streams of this.perTenant.values()) if (most === undefined || streams.size > most.size) most = streams;
    return most;
  }

  /** Which of a tenant's streams to close: a second stream of one pod first (the pod keeps one), else the oldest. */
  private evictable(streams: Set<Slot>): Slot {
    for (const slot of streams) if ((this.perIdentity.get(slot.identity) ?? 0) > 1) return slot;
    return streams.values().next().value as Slot;
  }

  private free(slot: Slot): void {
    if (slot.released) return;
    slot.released = true;
    this.total--;
    const left = (this.perIdentity.get(slot.identity) ?? 1) - 1;
    if (left === 0) this.perIdentity.delete(slot.identity);
    else this.perIdentity.set(slot.identity, left);
    const streams = this.perTenant.get(slot.tenant);
    streams?.delete(slot);
    if (streams?.size === 0) this.perTenant.delete(slot.tenant);
  }

  /** Streams open now. */
  get open(): number {
    return this.total;
  }

  /** Streams a tenant holds now. */
  heldBy(tenant: string): number {
    return this.perTenant.get(tenant)?.size ?? 0;
  }
}

/** Most tenants whose resolve buckets are kept (a bucket left out is a full one: nothing is lost but a burst). */
export const MAX_RATE_BUCKETS = 10_000;

/**
 * A token bucket per tenant for resolves: `rate` per second, up to `burst` at once. One Map lookup
 * and a few arithmetic operations per resolve (the hot path). Buckets are kept for at most
 * MAX_RATE_BUCKETS tenants: past it, full buckets go first (they are what a missing one means),
 * then the oldest.
 */
export class ResolveRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: Rate;

  constructor(private readonly options: { rate: number; burst: number; maxKeys?: number; now?: () => number }) {
    this.rate = { burst: options.burst, perSecond: options.rate };
  }

  private now(): number {
    return this.options.now?.() ?? performance.now();
  }

  /** Takes one resolve for `tenant`: 0 when it may go ahead, else the ms until it may. */
  take(tenant: string): number {
    const now = this.now();
    let bucket = this.buckets.get(tenant);
    if (bucket === undefined) {
      this.makeRoom(now);
      bucket = fullBucket(this.rate, now);
      this.buckets.set(tenant, bucket);
    }
    return Math.ceil(takeToken(bucket, this.rate, now) * 1000);
  }

  private makeRoom(now: number): void {
    const max = this.options.maxKeys ?? MAX_RATE_BUCKETS;
    if (this.buckets.size < max) return;
    for (const [tenant, bucket] of this.buckets) if (fullAt(bucket, this.rate, now)) this.buckets.delete(tenant);
    while (this.buckets.size >= max) this.buckets.delete(this.buckets.keys().next().value as string);
  }

  /** Tenants with a bucket now. */
  get size(): number {
    return this.buckets.size;
  }
}
