import { describe, expect, it } from 'vitest';
import { AccessReviewLimited, guardAccessReview, type AccessQuestion, type AccessReviewOutcome } from '../../../../src/operator/kube/accessreview.js';

const question = (over: Partial<AccessQuestion> = {}, user: AccessQuestion['user'] = { username: 'alice', groups: ['dev'] }): AccessQuestion => ({ user, namespace: 'acme', verb: 'get', resource: 'secrets', name: 'db', ...over });

/** A stand-in apiserver that counts the reviews it is asked and answers from `allow`. */
function apiserver(allow: (q: AccessQuestion) => boolean = () => true) {
  const asked: AccessQuestion[] = [];
  return { asked, ask: async (q: AccessQuestion) => (asked.push(q), allow(q)) };
}

function guarded(over: { ttlMs?: number; perSecond?: number; burst?: number; maxEntries?: number } = {}, allow?: (q: AccessQuestion) => boolean) {
  let t = 0;
  const outcomes: AccessReviewOutcome[] = [];
  const api = apiserver(allow);
  const canI = guardAccessReview(api.ask, { ttlMs: 10_000, perSecond: 2, burst: 4, maxEntries: 100, now: () => t, observe: (o) => outcomes.push(o), ...over });
  return { canI, api, outcomes, advance: (ms: number) => (t += ms) };
}

describe('guardAccessReview', () => {
  it('asks once for the same question within the TTL, again after it', async () => {
    const g = guarded();
    expect(await g.canI(question())).toBe(true);
    g.advance(9_999);
    expect(await g.canI(question())).toBe(true);
    expect(g.api.asked).toHaveLength(1);
    g.advance(1);
    await g.canI(question());
    expect(g.api.asked).toHaveLength(2);
    expect(g.outcomes).toEqual(['allowed', 'cached', 'allowed']);
  });

  it.each<[string, AccessQuestion]>([
    ['another user', question({}, { username: 'bob', groups: ['dev'] })],
    ['other groups', question({}, { username: 'alice', groups: ['ops'] })],
    ['another uid', question({}, { username: 'alice', uid: 'x', groups: ['dev'] })],
    ['other extra attributes', question({}, { username: 'alice', groups: ['dev'], extra: { scopes: ['a'] } })],
    ['another namespace', question({ namespace: 'globex' })],
    ['another Secret', question({ name: 'admin' })],
  ])('never answers a question about %s from the cache', async (_what, other) => {
    const g = guarded({}, (q) => q.user.username === 'alice' && q.name === 'db' && q.namespace === 'acme' && q.user.uid === undefined && q.user.extra === undefined && q.user.groups?.[0] === 'dev');
    expect(await g.canI(question())).toBe(true);
    expect(await g.canI(other)).toBe(false);
    expect(g.api.asked).toHaveLength(2);
  });

  it('takes groups in any order as the same question', async () => {
    const g = guarded();
    await g.canI(question({}, { username: 'a', groups: ['x', 'y'] }));
    await g.canI(question({}, { username: 'a', groups: ['y', 'x'] }));
    expect(g.api.asked).toHaveLength(1);
  });

  it('caches denials too, and never a failure to ask', async () => {
    let fail = true;
    const g = guardedWith(async () => {
      if (fail) throw new Error('apiserver unreachable');
      return false;
    });
    await expect(g.canI(question())).rejects.toThrow('apiserver unreachable');
    fail = false;
    expect(await g.canI(question())).toBe(false);
    expect(await g.canI(question())).toBe(false);
    expect(g.outcomes).toEqual(['error', 'denied', 'cached']);
  });

  it('asks at most burst at once, then perSecond on average; over it refuses without asking', async () => {
    const g = guarded({ perSecond: 2, burst: 4 });
    for (let i = 0; i < 4; i++) await g.canI(question({ name: `s${i}` }));
    await expect(g.canI(question({ name: 's4' }))).rejects.toBeInstanceOf(AccessReviewLimited);
    expect(g.api.asked).toHaveLength(4);
    // A cached answer costs nothing, even over the limit.
    expect(await g.canI(question({ name: 's0' }))).toBe(true);
    g.advance(500);
    await g.canI(question({ name: 's5' }));
    await expect(g.canI(question({ name: 's6' }))).rejects.toBeInstanceOf(AccessReviewLimited);
    // A long quiet time refills no more than the burst.
    g.advance(60_000);
    for (let i = 0; i < 4; i++) await g.canI(question({ name: `t${i}` }));
    await expect(g.canI(question({ name: 't4' }))).rejects.toBeInstanceOf(AccessReviewLimited);
    expect(g.outcomes.filter((o) => o === 'limited')).toHaveLength(3);
  });

  it('keeps at most maxEntries answers, the least recently used leaving first', async () => {
    const g = guarded({ maxEntries: 2, burst: 100 });
    await g.canI(question({ name: 'a' }));
    await g.canI(question({ name: 'b' }));
    await g.canI(question({ name: 'a' }));
    await g.canI(question({ name: 'c' }));
    await g.canI(question({ name: 'a' }));
    await g.canI(question({ name: 'b' }));
    expect(g.api.asked.map((q) => q.name)).toEqual(['a', 'b', 'c', 'b']);
  });

  it('with a TTL of 0, asks every time', async () => {
    const g = guarded({ ttlMs: 0, burst: 10 });
    await g.canI(question());
    await g.canI(question());
    expect(g.api.asked).toHaveLength(2);
  });
});

function guardedWith(ask: (q: AccessQuestion) => Promise<boolean>) {
  const outcomes: AccessReviewOutcome[] = [];
  const canI = guardAccessReview(ask, { ttlMs: 10_000, perSecond: 2, burst: 4, maxEntries: 100, now: () => 0, observe: (o) => outcomes.push(o) });
  return { canI, outcomes };
}
