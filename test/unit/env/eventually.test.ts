import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventually } from '../../env/operator.js';

afterEach(() => vi.restoreAllMocks());

describe('eventually, the tests’ polling loop', () => {
  it('returns the first value that is not undefined', async () => {
    let n = 0;
    expect(await eventually(() => (++n === 3 ? 'three' : undefined), 5_000, 1)).toBe('three');
  });

  it('gives up on its count of rounds when the clock stands still, saying the last error', async () => {
    // A clock that never moves (a test that mocks Date): only the count guard ends the loop.
    vi.spyOn(Date, 'now').mockReturnValue(0);
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('not yet');
    };
    await expect(eventually(failing, 100, 5)).rejects.toThrow('condition not met in 100 ms: not yet');
    expect(calls).toBeLessThanOrEqual(100 / 5 + 2);
  });
});
