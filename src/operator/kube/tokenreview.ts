/**
 * Authenticates callers by their service-account token through a TokenReview with a fixed
 * audience. Only a token bound to a pod is accepted (the kubelet's projected token: the review
 * names the pod), and only when the review confirms our audience. Results are cached by a hash of
 * the token (never the token itself) until the token expires, at most `maxCacheSeconds`, in a
 * bounded LRU; refusals are cached briefly so a flood of bad tokens does not become a flood of
 * TokenReviews. Long-lived callers (change streams) re-check with `maxAgeMs`, so a revoked token
 * (ServiceAccount or pod deleted, token expired) is noticed within the cache TTL.
 */
import { hash } from 'node:crypto';
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import { OrkaError } from '../../core/errors.js';

/** Who a token belongs to. */
export interface Identity {
  namespace: string;
  serviceAccount: string;
  /** The pod the token is bound to (authentication.kubernetes.io/pod-name). */
  pod: string;
}

/** What a TokenReview says, or a stand-in in unit tests. */
export interface ReviewResult {
  authenticated: boolean;
  username?: string;
  extra?: Record<string, string[]>;
  /** The audiences the apiserver confirmed the token is for (absent: none confirmed). */
  audiences?: string[];
}

/** Reviews tokens, or a stand-in in unit tests. */
export type ReviewFn = (token: string) => Promise<ReviewResult>;

const SA_PREFIX = 'system:serviceaccount:';
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';

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
    return { authenticated: status.authenticated === true, username: status.user?.username, extra: status.user?.extra, ...(status.audiences === undefined ? {} : { audiences: status.audiences }) };
  };
}

/** The identity of a review, or why it is refused (words fit for a 401 answer). */
export function verdictOf(result: ReviewResult, audience: string): { identity: Identity } | { refusal: string } {
  if (!result.authenticated) return { refusal: 'the token was refused: it is invalid, expired, or its ServiceAccount or pod no longer exists' };
  // An absent list is no confirmation: a review that ignored the audience would otherwise pass.
  if (!(result.audiences ?? []).includes(audience)) return { refusal: `the token is not for the audience ${audience}` };
  const sa = parseServiceAccount(result.username);
  if (sa === undefined) return { refusal: 'only service-account tokens are accepted' };
  const pod = result.extra?.[POD_NAME]?.[0];
  if (!pod || !result.extra?.[POD_UID]?.[0]) {
    return { refusal: 'the token is not bound to a pod: only the projected token of a pod is accepted (a token minted by hand, for example with kubectl create token, is refused)' };
  }
  return { identity: { ...sa, pod } };
}

/** A cached review: who the token is, or why it was refused; `until` is when it stops being reused. */
interface Reviewed {
  identity?: Identity;
  refusal?: string;
  reviewedAt: number;
  until: number;
}

/** Authenticates tokens with caching. */
export class TokenAuthenticator {
  /** Reviews by token hash, least recently used evicted first (expiry is checked on read: `until` is per entry). */
  private readonly cache: LRUCache<string, Reviewed>;

  constructor(
    private readonly review: ReviewFn,
    private readonly options: { audience: string; maxEntries: number; maxCacheSeconds: number; negativeCacheSeconds: number; now?: () => number },
  ) {
    this.cache = new LRUCache({ max: options.maxEntries });
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Longest a review is reused, in milliseconds. */
  get cacheTtlMs(): number {
    return this.options.maxCacheSeconds * 1000;
  }

  /**
   * The identity of a valid token; throws UNAUTHENTICATED (with the reason) otherwise,
   * UPSTREAM_UNAVAILABLE if the apiserver cannot be asked. With `maxAgeMs`, a cached review
   * older than that is not reused.
   */
  async authenticate(token: string, options: { maxAgeMs?: number } = {}): Promise<Identity> {
    if (token.length === 0 || token.length > 16 * 1024) throw new OrkaError('UNAUTHENTICATED', 'a service-account token is required');
    // One-shot: about half the CPU of createHash().update().digest(), on every request.
    const key = hash('sha256', token, 'base64url');
    const hit = this.cache.get(key);
    const now = this.now();
    if (hit !== undefined && hit.until > now && (options.maxAgeMs === undefined || now - hit.reviewedAt <= options.maxAgeMs)) {
      if (hit.identity === undefined) throw new OrkaError('UNAUTHENTICATED', hit.refusal ?? 'the token was refused');
      return hit.identity;
    }
    let result;
    try {
      result = await this.review(token);
    } catch (err) {
      throw new OrkaError('UPSTREAM_UNAVAILABLE', 'could not review the token with the Kubernetes API', {}, { cause: err });
    }
    const verdict = verdictOf(result, this.options.audience);
    const reviewedAt = this.now();
    const exp = jwtExpiry(token);
    if ('refusal' in verdict) {
      this.cache.set(key, { refusal: verdict.refusal, reviewedAt, until: reviewedAt + this.options.negativeCacheSeconds * 1000 });
      throw new OrkaError('UNAUTHENTICATED', verdict.refusal);
    }
    this.cache.set(key, { identity: verdict.identity, reviewedAt, until: Math.min(reviewedAt + this.cacheTtlMs, exp === undefined ? Infinity : exp * 1000) });
    return verdict.identity;
  }

  /** How many reviews are cached. */
  get size(): number {
    return this.cache.size;
  }
}

/** Reads namespace and service account from a TokenReview username. */
export function parseServiceAccount(username: string | undefined): { namespace: string; serviceAccount: string } | undefined {
  if (username === undefined || !username.startsWith(SA_PREFIX)) return undefined;
  const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
  if (!namespace || !serviceAccount || rest.length > 0) return undefined;
  return { namespace, serviceAccount };
}
