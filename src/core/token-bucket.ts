/**
 * Token buckets, pure (the clock is passed in): `burst` tokens at once, refilled at `perSecond`.
 * The one implementation behind every rate limit of the product: the resolver's per tenant, the
 * webhooks' SubjectAccessReviews, the Secrets page's sign-ins.
 */

/** A bucket's rate: `burst` tokens at once, refilled at `perSecond`. */
export interface Rate {
  burst: number;
  perSecond: number;
}

/** A bucket's state: `tokens` as of `at` (ms). */
export interface Bucket {
  tokens: number;
  at: number;
}

/** Fractions of a token below this are rounding, not a wait (refills are added in floating point). */
const EPSILON = 1e-9;

/** A full bucket as of `now`. */
export function fullBucket(rate: Rate, now: number): Bucket {
  return { tokens: rate.burst, at: now };
}

/** Brings `bucket` to `now`, in place. */
export function refill(bucket: Bucket, rate: Rate, now: number): Bucket {
  bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) / 1000) * rate.perSecond);
  bucket.at = now;
  return bucket;
}

/** Whether `bucket` would be full at `now` (it is then what a forgotten bucket means), without changing it. */
export function fullAt(bucket: Bucket, rate: Rate, now: number): boolean {
  return bucket.tokens + ((now - bucket.at) / 1000) * rate.perSecond >= rate.burst;
}

/** Seconds until a refilled bucket holds one whole token: 0 when it does now. */
export function secondsShort(bucket: Bucket, rate: Rate): number {
  return bucket.tokens >= 1 - EPSILON ? 0 : (1 - bucket.tokens) / rate.perSecond;
}

/** Takes one token at `now` when there is one (returns 0); else takes nothing and returns the seconds short. */
export function takeToken(bucket: Bucket, rate: Rate, now: number): number {
  const short = secondsShort(refill(bucket, rate, now), rate);
  if (short === 0) bucket.tokens -= 1;
  return short;
}
