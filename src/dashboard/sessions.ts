/**
 * Sessions of the dashboard: one-time login tokens, sessions with an expiry, and each session's
 * CSRF token. In memory only (a restart signs everyone out, which is what a local tool wants).
 *
 * Bounded: at most `maxPerCredential` sessions per credential (one person's token; the local
 * form has one credential), the oldest of that credential's sessions ending when it signs in
 * once more (so a person is never locked out by their own forgotten browsers, and a stolen
 * token cannot push anyone else out); and at most `maxSessions` in all, past which a new sign-in
 * is refused (429) rather than ending someone else's session.
 *
 * Tokens are 32 random bytes; the maps are keyed by their SHA-256, so a lookup never compares a
 * secret byte by byte, and a memory dump shows no usable token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { OrkaError } from '../core/errors.js';

/** Sessions held at most, in all (new sign-ins are refused past it). */
export const MAX_SESSIONS = 1000;
/** Sessions held at most per credential (its oldest ends when it signs in once more). */
export const MAX_SESSIONS_PER_CREDENTIAL = 10;

/** A signed-in person. `credential` is what the cluster client acts with (in-cluster form: their bearer token). */
export interface Session<C> {
  csrfToken: string;
  expiresAt: Date;
  credential: C;
  /** Who the cluster says the person is, once asked (`{}`: asked, it could not tell). */
  who?: { user?: string };
}

const hash = (token: string): string => createHash('sha256').update(token).digest('base64url');
const newToken = (): string => randomBytes(32).toString('base64url');

/** The session store. */
export class Sessions<C> {
  private readonly logins = new Map<string, { expiresAt: Date; credential: C }>();
  /** By the hash of the session id, oldest first (a Map keeps insertion order). */
  private readonly sessions = new Map<string, Session<C> & { holder: string }>();

  constructor(
    private readonly options: { sessionTtlMs: number; loginTtlMs: number; now?: () => Date; maxSessions?: number; maxPerCredential?: number },
  ) {}

  /** Lifetime of a new session, in whole seconds (the cookie's Max-Age). */
  get sessionTtlSeconds(): number {
    return Math.floor(this.options.sessionTtlMs / 1000);
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** A token that opens one session, once, within loginTtlMs. */
  issueLoginToken(credential: C): string {
    const token = newToken();
    this.logins.set(hash(token), { expiresAt: new Date(this.now().getTime() + this.options.loginTtlMs), credential });
    return token;
  }

  /** Spends a login token; returns the new session's id and session, or undefined when the token is unknown, spent or expired. */
  redeem(loginToken: string): { id: string; session: Session<C> } | undefined {
    const key = hash(loginToken);
    const login = this.logins.get(key);
    this.logins.delete(key);
    if (login === undefined || login.expiresAt <= this.now()) return undefined;
    return this.open(login.credential);
  }

  /**
   * Opens a session directly (in-cluster sign-in with a bearer token already checked by the
   * cluster). Ends the credential's oldest session when it holds its maximum; throws
   * TOO_MANY_REQUESTS when the dashboard holds its maximum in all.
   */
  open(credential: C): { id: string; session: Session<C> } {
    this.sweep();
    const holder = hash(JSON.stringify(credential) ?? '');
    const mine = [...this.sessions].filter(([, s]) => s.holder === holder);
    const perCredential = this.options.maxPerCredential ?? MAX_SESSIONS_PER_CREDENTIAL;
    for (const [k] of mine.slice(0, Math.max(0, mine.length - perCredential + 1))) this.sessions.delete(k);
    const max = this.options.maxSessions ?? MAX_SESSIONS;
    if (this.sessions.size >= max) {
      throw new OrkaError('TOO_MANY_REQUESTS', `the dashboard holds its maximum of ${max} sessions: try again later (a session ends on sign-out or after ${Math.round(this.options.sessionTtlMs / 3_600_000)} h)`, { retryAfterSeconds: 60 });
    }
    const id = newToken();
    const session = { csrfToken: newToken(), expiresAt: new Date(this.now().getTime() + this.options.sessionTtlMs), credential, holder };
    this.sessions.set(hash(id), session);
    return { id, session };
  }

  /** How many live or not yet swept sessions are held (for tests of the bounds). */
  get size(): number {
    return this.sessions.size;
  }

  /** The live session of an id, or undefined. */
  get(id: string | undefined): Session<C> | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(hash(id));
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(hash(id));
      return undefined;
    }
    return session;
  }

  /** Ends a session (sign-out). */
  end(id: string | undefined): void {
    if (id) this.sessions.delete(hash(id));
  }

  /** Drops expired sessions and login tokens, so the maps cannot grow without bound. */
  private sweep(): void {
    const now = this.now();
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
    for (const [k, l] of this.logins) if (l.expiresAt <= now) this.logins.delete(k);
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: Session<unknown>, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(hash(presented));
  const b = Buffer.from(hash(session.csrfToken));
  return timingSafeEqual(a, b);
}
