/**
 * Sessions of the dashboard: one-time login tokens, sessions with an expiry, and each session's
 * CSRF token. In memory only (a restart signs everyone out, which is what a local tool wants).
 *
 * Tokens are 32 random bytes; the maps are keyed by their SHA-256, so a lookup never compares a
 * secret byte by byte, and a memory dump shows no usable token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A signed-in person. `credential` is what the cluster client acts with (in-cluster form: their bearer token). */
export interface Session<C> {
  csrfToken: string;
  expiresAt: Date;
  credential: C;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('base64url');
const newToken = (): string => randomBytes(32).toString('base64url');

/** The session store. */
export class Sessions<C> {
  private readonly logins = new Map<string, { expiresAt: Date; credential: C }>();
  private readonly sessions = new Map<string, Session<C>>();

  constructor(
    private readonly options: { sessionTtlMs: number; loginTtlMs: number; now?: () => Date },
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

  /** Opens a session directly (in-cluster sign-in with a bearer token already checked by the cluster). */
  open(credential: C): { id: string; session: Session<C> } {
    this.sweep();
    const id = newToken();
    const session = { csrfToken: newToken(), expiresAt: new Date(this.now().getTime() + this.options.sessionTtlMs), credential };
    this.sessions.set(hash(id), session);
    return { id, session };
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
