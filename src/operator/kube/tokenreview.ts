/**
 * Authenticates callers by their service-account token through a TokenReview with a fixed
 * audience. Results are cached by a hash of the token (never the token itself) until the token
 * expires, at most `maxCacheSeconds`, in a bounded LRU; refusals are cached briefly so a flood of
 * bad tokens does not become a flood of TokenReviews.
 */
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { OrkaError } from '../../core/errors.js';

/** Who a token belongs to. */
export interface Identity {
  namespace: string;
  serviceAccount: string;
  /** From a projected token of a pod (authentication.kubernetes.io/pod-name). */
  pod?: string;
}

/** Reviews tokens, or a stand-in in unit tests. */
export type ReviewFn = (token: string) => Promise<{ authenticated: boolean; username?: string; extra?: Record<string, string[]> }>;

const SA_PREFIX = 'system:serviceaccount:';

/** The expiry (`exp`, seconds) written in a JWT, unverified: only used to bound the cache. */
function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** A TokenReview call for one audience. */
export function tokenReviewFn(kc: KubeConfig, audience: string): ReviewFn {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async (token) => {
    const review = await api.createTokenReview({ body: { spec: { token, audiences: [audience] } } });
    const status = review.status ?? {};
    return { authenticated: status.authenticated === true && (status.audiences ?? [audience]).includes(audience), username: status.user?.username, extra: status.user?.extra };
  };
}

/** Authenticates tokens with caching. */
export class TokenAuthenticator {
  private readonly cache = new Map<string, { identity: Identity | undefined; until: number }>();

  constructor(
    private readonly review: ReviewFn,
    private readonly options: { maxEntries: number; maxCacheSeconds: number; negativeCacheSeconds: number; now?: () => number },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** The identity of a valid token; throws UNAUTHENTICATED otherwise (UPSTREAM_UNAVAILABLE if the apiserver cannot be asked). */
  async authenticate(token: string): Promise<Identity> {
    if (token.length === 0 || token.length > 16 * 1024) throw new OrkaError('UNAUTHENTICATED', 'a service-account token is required');
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.until > this.now()) {
      this.cache.delete(key);
      this.cache.set(key, hit); // most recently used last
      if (hit.identity === undefined) throw new OrkaError('UNAUTHENTICATED', 'the token was refused');
      return hit.identity;
    }
    let result;
    try {
      result = await this.review(token);
    } catch (err) {
      throw new OrkaError('UPSTREAM_UNAVAILABLE', 'could not review the token with the Kubernetes API', {}, { cause: err });
    }
    const identity = result.authenticated ? parseIdentity(result.username, result.extra) : undefined;
    const now = this.now();
    const exp = jwtExpiry(token);
    const until = identity === undefined
      ? now + this.options.negativeCacheSeconds * 1000
      : Math.min(now + this.options.maxCacheSeconds * 1000, exp === undefined ? Infinity : exp * 1000);
    this.cache.set(key, { identity, until });
    while (this.cache.size > this.options.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    if (identity === undefined) throw new OrkaError('UNAUTHENTICATED', 'the token was refused');
    return identity;
  }

  /** How many reviews are cached. */
  get size(): number {
    return this.cache.size;
  }
}

/** Reads namespace, service account and pod from a TokenReview user. */
export function parseIdentity(username: string | undefined, extra: Record<string, string[]> | undefined): Identity | undefined {
  if (username === undefined || !username.startsWith(SA_PREFIX)) return undefined;
  const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
  if (!namespace || !serviceAccount || rest.length > 0) return undefined;
  const pod = extra?.['authentication.kubernetes.io/pod-name']?.[0];
  return { namespace, serviceAccount, ...(pod === undefined ? {} : { pod }) };
}
