import { describe, expect, it } from 'vitest';
import { isOrkaError } from '../../../src/core/errors.js';
import { parseIdentity, TokenAuthenticator, type ReviewFn } from '../../../src/operator/kube/tokenreview.js';

function jwt(exp: number, tag: string): string {
  return ['e30', Buffer.from(JSON.stringify({ exp, tag })).toString('base64url'), 'sig'].join('.');
}

/** A fake TokenReview: tokens listed in `valid` belong to acme:runner; it counts its calls. */
function fakeReview(valid: Set<string>): ReviewFn & { calls: number } {
  const fn = (async (token: string) => {
    fn.calls++;
    return valid.has(token)
      ? { authenticated: true, username: 'system:serviceaccount:acme:runner', extra: { 'authentication.kubernetes.io/pod-name': ['runner-1'] } }
      : { authenticated: false };
  }) as ReviewFn & { calls: number };
  fn.calls = 0;
  return fn;
}

describe('TokenAuthenticator', () => {
  it('reviews once, then reuses the answer until the token expires or the cap passes', async () => {
    let now = 1_000_000;
    const token = jwt(now / 1000 + 60, 'a');
    const review = fakeReview(new Set([token]));
    const auth = new TokenAuthenticator(review, { maxEntries: 10, maxCacheSeconds: 120, negativeCacheSeconds: 10, now: () => now });
    expect(await auth.authenticate(token)).toEqual({ namespace: 'acme', serviceAccount: 'runner', pod: 'runner-1' });
    await auth.authenticate(token);
    expect(review.calls).toBe(1);
    now += 61_000; // past the token's own exp, before the cap
    await auth.authenticate(token);
    expect(review.calls).toBe(2);
  });

  it('refuses bad tokens with UNAUTHENTICATED and remembers the refusal briefly', async () => {
    let now = 0;
    const review = fakeReview(new Set());
    const auth = new TokenAuthenticator(review, { maxEntries: 10, maxCacheSeconds: 120, negativeCacheSeconds: 10, now: () => now });
    for (let i = 0; i < 3; i++) {
      await expect(auth.authenticate('forged')).rejects.toSatisfy((e: unknown) => isOrkaError(e, 'UNAUTHENTICATED'));
    }
    expect(review.calls).toBe(1);
    now += 11_000;
    await expect(auth.authenticate('forged')).rejects.toThrow('refused');
    expect(review.calls).toBe(2);
    await expect(auth.authenticate('')).rejects.toThrow('token is required');
  });

  it('stays bounded', async () => {
    const tokens = Array.from({ length: 20 }, (_, i) => jwt(9e9, String(i)));
    const auth = new TokenAuthenticator(fakeReview(new Set(tokens)), { maxEntries: 5, maxCacheSeconds: 120, negativeCacheSeconds: 10 });
    for (const t of tokens) await auth.authenticate(t);
    expect(auth.size).toBe(5);
  });

  it('turns an unreachable apiserver into UPSTREAM_UNAVAILABLE', async () => {
    const auth = new TokenAuthenticator(async () => Promise.reject(new Error('ECONNREFUSED')), { maxEntries: 5, maxCacheSeconds: 1, negativeCacheSeconds: 1 });
    await expect(auth.authenticate('x')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('parseIdentity', () => {
  it.each([
    ['system:serviceaccount:acme:runner', { namespace: 'acme', serviceAccount: 'runner' }],
    ['system:serviceaccount:acme', undefined],
    ['admin', undefined],
    ['system:serviceaccount:a:b:c', undefined],
    [undefined, undefined],
  ])('%s', (username, identity) => {
    expect(parseIdentity(username, undefined)).toEqual(identity);
  });
});
