/**
 * Sign-in rate limits of the dashboard, pure (a clock is passed in): token buckets per client
 * address and one for the whole process. A sign-in costs the cluster a review of the token (in a
 * cluster) and is the only door a guesser has, so both are bounded: one client cannot starve the
 * others' sign-ins past its own bucket, and all clients together cannot make the dashboard ask the
 * apiserver more than the global bucket allows.
 */

import { fullAt, fullBucket, refill, secondsShort, type Bucket, type Rate } from '../core/token-bucket.js';

/** A bucket's shape: `burst` attempts at once, refilled at `perMinute`. */
export interface BucketSpec {
  burst: number;
  perMinute: number;
}

/** Per client address: 10 at once, 10 a minute after that. */
export const PER_CLIENT: BucketSpec = { burst: 10, perMinute: 10 };
/** The whole process: 60 at once, 60 a minute after that. */
export const GLOBAL: BucketSpec = { burst: 60, perMinute: 60 };
/** Client addresses remembered at most (full buckets are forgotten first): the map cannot grow without bound. */
export const MAX_CLIENTS = 10_000;

/** A spec as the shared token bucket takes it. */
const rateOf = (spec: BucketSpec): Rate => ({ burst: spec.burst, perSecond: spec.perMinute / 60 });

/** Whole seconds until a refilled bucket holds one attempt (0 when it does now), for Retry-After. */
function waitSeconds(b: Bucket, rate: Rate): number {
  const short = secondsShort(b, rate);
  return short === 0 ? 0 : Math.max(1, Math.ceil(short - 1e-9));
}

/** The sign-in limiter: per client address and global. */
export class SignInLimiter {
  private readonly clients = new Map<string, Bucket>();
  private global: Bucket;
  private readonly perClient: Rate;
  private readonly all: Rate;
  private readonly now: () => number;

  constructor(options: { perClient?: BucketSpec; global?: BucketSpec; now?: () => number } = {}) {
    this.perClient = rateOf(options.perClient ?? PER_CLIENT);
    this.all = rateOf(options.global ?? GLOBAL);
    this.now = options.now ?? Date.now;
    this.global = fullBucket(this.all, this.now());
  }

  /**
   * Spends one attempt of `client` (and of the whole process); returns 0 when allowed, else the
   * seconds to wait (Retry-After). A refused attempt spends nothing, so waiting is enough.
   */
  take(client: string): number {
    const now = this.now();
    const mine = refill(this.clients.get(client) ?? fullBucket(this.perClient, now), this.perClient, now);
    refill(this.global, this.all, now);
    const wait = Math.max(waitSeconds(mine, this.perClient), waitSeconds(this.global, this.all));
    if (wait === 0) {
      mine.tokens -= 1;
      this.global.tokens -= 1;
    }
    this.clients.delete(client); // re-inserted last: the map's order is least recently seen first
    this.remember(client, mine, now);
    return wait;
  }

  private remember(client: string, bucket: Bucket, now: number): void {
    if (this.clients.size >= MAX_CLIENTS) {
      for (const [k, b] of this.clients) if (fullAt(b, this.perClient, now)) this.clients.delete(k);
      // Still full: forget the least recently seen (they are the longest refilled).
      for (const k of this.clients.keys()) {
        if (this.clients.size < MAX_CLIENTS) break;
        this.clients.delete(k);
      }
    }
    this.clients.set(client, bucket);
  }

  /** How many client addresses are remembered (for tests of the bound). */
  get size(): number {
    return this.clients.size;
  }
}
