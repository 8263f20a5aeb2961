/**
 * The pure parts of the dashboard's sessions: the cookie's name and parsing, the bounds on
 * sessions (per credential and in all) and the sign-in rate limits, on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { isOrkaError } from '../../../src/core/errors.js';
import { MAX_CLIENTS, SignInLimiter } from '../../../src/dashboard/ratelimit.js';
import { cookieValues, sessionCookieName } from '../../../src/dashboard/server.js';
import { Sessions } from '../../../src/dashboard/sessions.js';

describe('the session cookie', () => {
  it('is a __Host- cookie over HTTPS, and a name of the process own locally', () => {
    expect(sessionCookieName({ secure: true })).toBe('__Host-orka_dashboard_session');
    expect(sessionCookieName({ secure: true, instance: 'a1' })).toBe('__Host-orka_dashboard_session');
    expect(sessionCookieName({ secure: false, instance: 'a1b2c3' })).toBe('orka_dashboard_session_a1b2c3');
    expect(sessionCookieName({ secure: false })).toBe('orka_dashboard_session');
  });

  it('reads every value of the name, and only of that name', () => {
    expect(cookieValues('a=1; orka_dashboard_session_x=S1; orka_dashboard_session_xy=T', 'orka_dashboard_session_x')).toEqual(['S1']);
    expect(cookieValues('orka_dashboard_session_x=S1;orka_dashboard_session_x=S2', 'orka_dashboard_session_x')).toEqual(['S1', 'S2']);
    expect(cookieValues(undefined, 'x')).toEqual([]);
    expect(cookieValues('=x; x', 'x')).toEqual([]);
  });
});

describe('session bounds', () => {
  const clock = { now: new Date('2026-12-01T00:00:00Z') };
  const make = () => new Sessions<string>({ sessionTtlMs: 3_600_000, loginTtlMs: 60_000, now: () => clock.now, maxSessions: 5, maxPerCredential: 2 });

  it('ends the oldest session of a credential that signs in once more than its maximum', () => {
    const sessions = make();
    const a1 = sessions.open('token-a').id;
    const a2 = sessions.open('token-a').id;
    const b1 = sessions.open('token-b').id;
    const a3 = sessions.open('token-a').id;
    expect(sessions.get(a1)).toBeUndefined();
    expect(sessions.get(a2)?.credential).toBe('token-a');
    expect(sessions.get(a3)?.credential).toBe('token-a');
    expect(sessions.get(b1)?.credential).toBe('token-b');
    expect(sessions.size).toBe(3);
  });

  it('refuses a new session past the maximum in all (429), ending nobody else\'s, until one expires', () => {
    const sessions = make();
    const ids = ['t1', 't2', 't3', 't4', 't5'].map((t) => sessions.open(t).id);
    let refused: unknown;
    try {
      sessions.open('t6');
    } catch (err) {
      refused = err;
    }
    expect(isOrkaError(refused, 'TOO_MANY_REQUESTS')).toBe(true);
    expect((refused as Error).message).toMatch(/maximum of 5 sessions/);
    for (const id of ids) expect(sessions.get(id)).toBeDefined();
    clock.now = new Date(clock.now.getTime() + 3_600_001);
    expect(sessions.open('t6').session.credential).toBe('t6');
    expect(sessions.size).toBe(1);
  });

  it('counts sessions opened through one-time links against the same bounds', () => {
    const sessions = make();
    const links = [1, 2, 3].map(() => sessions.issueLoginToken('local'));
    const ids = links.map((l) => sessions.redeem(l)?.id);
    expect(sessions.get(ids[0])).toBeUndefined();
    expect(sessions.size).toBe(2);
  });
});

describe('sign-in rate limits', () => {
  it('gives each client its burst, then one attempt per refill, and says how long to wait', () => {
    let now = 0;
    const limiter = new SignInLimiter({ perClient: { burst: 3, perMinute: 6 }, global: { burst: 100, perMinute: 100 }, now: () => now });
    expect([1, 2, 3].map(() => limiter.take('10.0.0.1'))).toEqual([0, 0, 0]);
    expect(limiter.take('10.0.0.1')).toBe(10);
    expect(limiter.take('10.0.0.2')).toBe(0);
    now += 9_000;
    expect(limiter.take('10.0.0.1')).toBe(1);
    now += 1_000;
    expect(limiter.take('10.0.0.1')).toBe(0);
    expect(limiter.take('10.0.0.1')).toBe(10);
  });

  it('bounds all clients together, and a refused attempt spends nothing', () => {
    let now = 0;
    const limiter = new SignInLimiter({ perClient: { burst: 5, perMinute: 5 }, global: { burst: 4, perMinute: 2 }, now: () => now });
    expect(['a', 'b', 'c', 'd'].map((c) => limiter.take(c))).toEqual([0, 0, 0, 0]);
    expect(limiter.take('e')).toBe(30);
    expect(limiter.take('e')).toBe(30);
    now += 30_000;
    expect(limiter.take('e')).toBe(0);
  });

  it('remembers at most MAX_CLIENTS addresses', () => {
    let now = 0;
    const limiter = new SignInLimiter({ now: () => now });
    for (let i = 0; i < MAX_CLIENTS + 50; i++) limiter.take(`client-${i}`);
    expect(limiter.size).toBeLessThanOrEqual(MAX_CLIENTS);
    now += 3_600_000;
    limiter.take('late');
    expect(limiter.size).toBeLessThanOrEqual(MAX_CLIENTS);
  });
});
