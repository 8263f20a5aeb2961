import { describe, expect, it } from 'vitest';
import { isOrkaError } from '../../../../src/core/errors.js';
import { parseServiceAccount, TokenAuthenticator, verdictOf, type ReviewFn } from '../../../../src/operator/kube/tokenreview.js';

function jwt(exp: number, tag: string): string {
  return ['e30', Buffer.from(JSON.stringify({ exp, tag })).toString('base64url'), 'sig'].join('.');
}

/** A fake TokenReview: tokens listed in `valid` belong to acme:runner; it counts its calls. */
function fakeReview(valid: Set<string>): ReviewFn & { calls: number } {
  const fn = (async (token: string) => {
    fn.calls++;
    return valid.has(token)
      ? { authenticated: true, username: 'system:serviceaccount:acme:runner', audiences: ['orka-secrets'], extra: { 'authentication.kubernetes.io/pod-name': ['runner-1'], 'authentication.kubernetes.io/pod-uid': ['u-1'] } }
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
    const auth = new TokenAuthenticator(review, { audience: 'orka-secrets', maxEntries: 10, maxCacheSeconds: 120, negativeCacheSeconds: 10, now: () => now });
    expect(await auth.authenticate(token)).toEqual({ namespace: 'acme', serviceAccount: 'runner', pod: 'runner-1' });
    await auth.authenticate(token);
    expect(review.calls).toBe(1);
    now += 61_000; // past the token's own exp, before the cap
    await auth.authenticate(token);
    expect(review.calls).toBe(2);
  });

  it('reviews again when a long-lived caller asks for a review younger than maxAgeMs', async () => {
    let now = 1_000_000;
    const token = jwt(9e9, 'stream');
    const valid = new Set([token]);
    const review = fakeReview(valid);
    const auth = new TokenAuthenticator(review, { audience: 'orka-secrets', maxEntries: 10, maxCacheSeconds: 120, negativeCacheSeconds: 10, now: () => now });
    await auth.authenticate(token);
    now += 20_000;
    await auth.authenticate(token, { maxAgeMs: 30_000 });
    expect(review.calls).toBe(1);
    valid.delete(token); // revoked
    now += 20_000;
    await expect(auth.authenticate(token, { maxAgeMs: 30_000 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(review.calls).toBe(2);
  });

  it('refuses bad tokens with UNAUTHENTICATED and remembers the refusal briefly', async () => {
    let now = 0;
    const review = fakeReview(new Set());
    const auth = new TokenAuthenticator(review, { audience: 'orka-secrets', maxEntries: 10, maxCacheSeconds: 120, negativeCacheSeconds: 10, now: () => now });
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
    const auth = new TokenAuthenticator(fakeReview(new Set(tokens)), { audience: 'orka-secrets', maxEntries: 5, maxCacheSeconds: 120, negativeCacheSeconds: 10 });
    for (const t of tokens) await auth.authenticate(t);
    expect(auth.size).toBe(5);
  });

  it('evicts the least recently used review, not the one a caller just used', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((tag) => jwt(9e9, tag)) as [string, string, string, string];
    const review = fakeReview(new Set([a, b, c, d]));
    const auth = new TokenAuthenticator(review, { audience: 'orka-secrets', maxEntries: 3, maxCacheSeconds: 120, negativeCacheSeconds: 10 });
    for (const t of [a, b, c, a, d]) await auth.authenticate(t); // a used again: b is the least recent when d comes
    expect(review.calls).toBe(4);
    await auth.authenticate(a);
    expect(review.calls).toBe(4);
    await auth.authenticate(b);
    expect(review.calls).toBe(5);
  });

  it('turns an unreachable apiserver into UPSTREAM_UNAVAILABLE', async () => {
    const auth = new TokenAuthenticator(async () => Promise.reject(new Error('ECONNREFUSED')), { audience: 'orka-secrets', maxEntries: 5, maxCacheSeconds: 1, negativeCacheSeconds: 1 });
    await expect(auth.authenticate('x')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('verdictOf', () => {
  const pod = { 'authentication.kubernetes.io/pod-name': ['runner-1'], 'authentication.kubernetes.io/pod-uid': ['u-1'] };
  const user = 'system:serviceaccount:acme:runner';
  it.each([
    ['a pod-bound token for our audience', { authenticated: true, username: user, audiences: ['orka-secrets'], extra: pod }, { identity: { namespace: 'acme', serviceAccount: 'runner', pod: 'runner-1' } }],
    ['a refused token', { authenticated: false }, { refusal: expect.stringContaining('was refused') }],
    ['a review without audiences', { authenticated: true, username: user, extra: pod }, { refusal: 'the token is not for the audience orka-secrets' }],
    ['a review for other audiences', { authenticated: true, username: user, audiences: ['api'], extra: pod }, { refusal: 'the token is not for the audience orka-secrets' }],
    ['a user that is no service account', { authenticated: true, username: 'alice', audiences: ['orka-secrets'], extra: pod }, { refusal: expect.stringContaining('only service-account tokens') }],
    ['a token minted by hand (no pod)', { authenticated: true, username: user, audiences: ['orka-secrets'] }, { refusal: expect.stringContaining('not bound to a pod') }],
    ['a pod name without a uid', { authenticated: true, username: user, audiences: ['orka-secrets'], extra: { 'authentication.kubernetes.io/pod-name': ['x'] } }, { refusal: expect.stringContaining('not bound to a pod') }],
  ])('%s', (_what, result, expected) => {
    expect(verdictOf(result, 'orka-secrets')).toEqual(expected);
  });
});

describe('parseServiceAccount', () => {
  it.each([
    ['system:serviceaccount:acme:runner', { namespace: 'acme', serviceAccount: 'runner' }],
    ['system:serviceaccount:acme', undefined],
    ['admin', undefined],
    ['system:serviceaccount:a:b:c', undefined],
    [undefined, undefined],
  ])('%s', (username, identity) => {
    expect(parseServiceAccount(username)).toEqual(identity);
  });
});
