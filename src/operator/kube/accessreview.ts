/**
 * Asks the apiserver whether a given user may do something (SubjectAccessReview). The admission
 * webhook uses it so that an OrkaSecret's `valueFrom` can only name a Secret its author may read:
 * the operator reads sources with its own rights, and must never lend them (confused deputy).
 * Every question goes through guardAccessReview (cache and rate limit) in main.ts.
 */
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import { fullBucket, takeToken } from '../../core/token-bucket.js';

/** The requesting user, as an AdmissionReview's `request.userInfo` carries it. */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** One question: may `user` do `verb` on `resource` `name` in `namespace`? */
export interface AccessQuestion {
  user: UserInfo;
  namespace: string;
  verb: string;
  resource: string;
  name: string;
}

/** Answers an access question; the real one asks the apiserver. */
export type AccessReviewFn = (q: AccessQuestion) => Promise<boolean>;

/** A SubjectAccessReview call. */
export function accessReviewFn(kc: KubeConfig): AccessReviewFn {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return async (q) => {
    const review = await api.createSubjectAccessReview({
      body: {
        spec: {
          user: q.user.username,
          ...(q.user.uid === undefined ? {} : { uid: q.user.uid }),
          groups: q.user.groups ?? [],
          extra: q.user.extra ?? {},
          resourceAttributes: { namespace: q.namespace, verb: q.verb, group: '', resource: q.resource, name: q.name },
        },
      },
    });
    return review.status?.allowed === true && review.status.denied !== true;
  };
}

/** Thrown instead of asking when the apiserver has been asked too often (see guardAccessReview). */
export class AccessReviewLimited extends Error {
  constructor() {
    super('too many access checks right now');
  }
}

/** What a guarded access review did with a question (for metrics: low-cardinality words only). */
export type AccessReviewOutcome = 'allowed' | 'denied' | 'error' | 'cached' | 'limited';

/** Bounds of guardAccessReview. */
export interface AccessReviewGuard {
  /** How long an answer is reused (ms); 0: never. */
  ttlMs: number;
  /** Answers kept at most (least recently used go first). */
  maxEntries: number;
  /** SubjectAccessReviews per second, on average, across every caller. */
  perSecond: number;
  /** SubjectAccessReviews allowed at once after a quiet time. */
  burst: number;
  /** Milliseconds, monotonic (tests pass a fake clock). */
  now?: () => number;
  observe?: (outcome: AccessReviewOutcome) => void;
}

/** The cache key of a question: everything a SubjectAccessReview is asked about. */
function questionKey(q: AccessQuestion): string {
  const extra = Object.entries(q.user.extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([q.user.username, q.user.uid, [...(q.user.groups ?? [])].sort(), extra, q.namespace, q.verb, q.resource, q.name]);
}

/**
 * `ask` behind a short-lived answer cache and a global token bucket: whoever can make the
 * webhooks run cannot make the operator ask the apiserver more than `perSecond` (plus `burst`)
 * times a second, and a burst of the same question (a GitOps sync, a retry) costs one review.
 * Over the limit it throws AccessReviewLimited, which the webhook answers as a refusal to retry.
 * Only answers are cached, never a failure to ask.
 */
export function guardAccessReview(ask: AccessReviewFn, guard: AccessReviewGuard): AccessReviewFn {
  const now = guard.now ?? (() => performance.now());
  const answers = new LRUCache<string, { allowed: boolean; until: number }>({ max: guard.maxEntries });
  const rate = { burst: guard.burst, perSecond: guard.perSecond };
  const bucket = fullBucket(rate, now());
  return async (q) => {
    const key = questionKey(q);
    const t = now();
    const hit = answers.get(key);
    if (hit !== undefined && hit.until > t) {
      guard.observe?.('cached');
      return hit.allowed;
    }
    if (takeToken(bucket, rate, t) > 0) {
      guard.observe?.('limited');
      throw new AccessReviewLimited();
    }
    let allowed: boolean;
    try {
      allowed = await ask(q);
    } catch (err) {
      guard.observe?.('error');
      throw err;
    }
    guard.observe?.(allowed ? 'allowed' : 'denied');
    if (guard.ttlMs > 0) answers.set(key, { allowed, until: now() + guard.ttlMs });
    return allowed;
  };
}
