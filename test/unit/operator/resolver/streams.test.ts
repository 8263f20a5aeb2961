import { describe, expect, it } from 'vitest';
import { StreamLimiter } from '../../../../src/operator/resolver/http.js';

describe('StreamLimiter', () => {
  it('caps streams per identity and in total, and frees a slot on release (once)', () => {
    const limiter = new StreamLimiter({ total: 3, perIdentity: 2 });
    const a1 = limiter.acquire('a');
    const a2 = limiter.acquire('a');
    expect(limiter.acquire('a')).toEqual({ refusal: expect.stringContaining('the most one identity may open') });
    const b1 = limiter.acquire('b');
    expect(limiter.acquire('c')).toEqual({ refusal: expect.stringContaining('retry later') });
    expect(limiter.open).toBe(3);
    if (!('release' in a1) || !('release' in a2) || !('release' in b1)) throw new Error('expected slots');
    a1.release();
    a1.release();
    expect(limiter.open).toBe(2);
    expect('release' in limiter.acquire('c')).toBe(true);
    expect('release' in limiter.acquire('a')).toBe(false);
  });
});
