import { describe, expect, it } from 'vitest';
import { StreamLimiter } from '../../../../src/operator/resolver/limits.js';

/** Opens a stream and records whether (and when) the limiter closed it. */
function open(limiter: StreamLimiter, tenant: string, pod: string, evicted: string[]) {
  const slot = limiter.acquire(tenant, `${tenant}/runner/${pod}`, () => evicted.push(`${tenant}/${pod}`));
  return slot;
}

describe('StreamLimiter', () => {
  it('caps streams per identity and in total, and frees a slot on release (once)', () => {
    const limiter = new StreamLimiter({ total: 3, perIdentity: 2 });
    const evicted: string[] = [];
    const a1 = open(limiter, 't', 'a', evicted);
    const a2 = open(limiter, 't', 'a', evicted);
    expect(open(limiter, 't', 'a', evicted)).toEqual({ refusal: expect.stringContaining('the most one identity may open') });
    const b1 = open(limiter, 't', 'b', evicted);
    expect(open(limiter, 't', 'c', evicted)).toEqual({ refusal: expect.stringContaining('retry later') });
    expect(limiter.open).toBe(3);
    if (!('release' in a1) || !('release' in a2) || !('release' in b1)) throw new Error('expected slots');
    a1.release();
    a1.release();
    expect(limiter.open).toBe(2);
    expect('release' in open(limiter, 't', 'c', evicted)).toBe(true);
    expect('release' in open(limiter, 't', 'a', evicted)).toBe(false);
    expect(evicted).toEqual([]);
  });

  it('lets one tenant use every free slot, and still gives another tenant its stream: the largest tenant gives one up', () => {
    const limiter = new StreamLimiter({ total: 8, perIdentity: 4 });
    const evicted: string[] = [];
    // The hog: 8 pods with one stream each fill the replica.
    for (let pod = 0; pod < 8; pod++) expect('release' in open(limiter, 'hog', `p${pod}`, evicted)).toBe(true);
    expect(open(limiter, 'hog', 'p8', evicted)).toEqual({ refusal: expect.stringContaining('its fair share being 8') });
    // Another tenant (fair share 8 / 2 = 4) gets its streams, each taken from the hog's oldest.
    for (let pod = 0; pod < 4; pod++) expect('release' in open(limiter, 'small', `s${pod}`, evicted)).toBe(true);
    expect(evicted).toEqual(['hog/p0', 'hog/p1', 'hog/p2', 'hog/p3']);
    expect([limiter.heldBy('hog'), limiter.heldBy('small'), limiter.open]).toEqual([4, 4, 8]);
    // At its share now: refused, and so is the hog; nothing more is evicted.
    expect(open(limiter, 'small', 's4', evicted)).toEqual({ refusal: expect.stringContaining('holds 4, its fair share being 4') });
    expect(open(limiter, 'hog', 'p0', evicted)).toEqual({ refusal: expect.stringContaining('retry later') });
    expect(evicted).toHaveLength(4);
  });

  it('takes a second stream of one pod before a pod\'s only stream', () => {
    const limiter = new StreamLimiter({ total: 4, perIdentity: 4 });
    const evicted: string[] = [];
    for (const pod of ['a', 'b', 'c', 'c']) open(limiter, 'hog', pod, evicted);
    expect('release' in open(limiter, 'small', 's', evicted)).toBe(true);
    expect(evicted).toEqual(['hog/c']);
  });

  it('shares among three tenants: a newcomer takes from whoever holds the most, and no slot goes back and forth', () => {
    const limiter = new StreamLimiter({ total: 9, perIdentity: 9 });
    const evicted: string[] = [];
    for (let i = 0; i < 6; i++) open(limiter, 'a', `a${i}`, evicted);
    for (let i = 0; i < 3; i++) open(limiter, 'b', `b${i}`, evicted);
    // c's share: 9 / 3 = 3; a holds the most.
    for (let i = 0; i < 3; i++) expect('release' in open(limiter, 'c', `c${i}`, evicted)).toBe(true);
    expect([limiter.heldBy('a'), limiter.heldBy('b'), limiter.heldBy('c')]).toEqual([3, 3, 3]);
    for (const t of ['a', 'b', 'c']) expect('refusal' in open(limiter, t, 'x', evicted)).toBe(true);
  });

  it('refuses when the largest holds only one more than the asker (a share of 1 on a tiny cap)', () => {
    const limiter = new StreamLimiter({ total: 1, perIdentity: 1 });
    const evicted: string[] = [];
    open(limiter, 'a', 'a', evicted);
    expect('refusal' in open(limiter, 'b', 'b', evicted)).toBe(true);
    expect(evicted).toEqual([]);
  });

  it('releasing an evicted stream again changes nothing', () => {
    const limiter = new StreamLimiter({ total: 2, perIdentity: 2 });
    const evicted: string[] = [];
    const first = open(limiter, 'hog', 'a', evicted);
    open(limiter, 'hog', 'b', evicted);
    open(limiter, 'small', 's', evicted);
    expect(evicted).toEqual(['hog/a']);
    if (!('release' in first)) throw new Error('expected a slot');
    first.release(); // the connection's close, after the eviction
    expect([limiter.open, limiter.heldBy('hog'), limiter.heldBy('small')]).toEqual([2, 1, 1]);
  });
});
