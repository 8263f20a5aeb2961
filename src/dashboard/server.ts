/**
 * The dashboard's HTTP app (express, built without listening): the page's static files and the
 * JSON API it calls. It never sees a value: the page seals in the browser and submits only the
 * sealed envelope; answers are rows of names, dates and status.
 *
 * Guards, in order, on every request:
 *   - security headers: a strict Content-Security-Policy (only this origin's script and style, no
 *     inline code, nothing from elsewhere), no framing, no referrer, no caching of the API;
 *   - Host must be one this server answers to (DNS-rebinding guard);
 *   - a request carrying the session cookie twice is refused (400): a sibling host or an
 *     earlier path may have planted one, and which the browser sends first is not defined;
 *   - a change (POST, PATCH, DELETE) needs an Origin of this server, a live session and the
 *     session's CSRF token in the X-CSRF-Token header;
 *   - the session cookie is HttpOnly, SameSite=Strict, expires, and sign-out ends it; served over
 *     HTTPS it is `__Host-` (Secure, Path=/, no Domain: no other host can set or shadow it),
 *     locally its name is the process's own (two local dashboards in one browser do not share);
 *   - sign-ins (a login link, a bearer token) are rate-limited per client address and in all
 *     (429 with Retry-After).
 *
 * Routes:
 *   GET  /healthz         liveness and readiness (any Host: probes use the pod's address)
 *   GET  /login?token=T   spends a one-time login token: sets the session cookie, redirects to /
 *   POST /api/session/start {token}  in a cluster: signs in with a Kubernetes bearer token
 *   GET  /api/session     the session (CSRF token, who the cluster says you are, cluster, expiry); 401 when signed out
 *   POST /api/session/end sign out
 *   GET  /api/tenants     tenant namespaces the person may list secrets in
 *   GET  /api/tenants/:ns/sealing-key  the operator's public sealing key, from the cluster, with
 *                         the namespace's tenant id (values the page seals are bound to it)
 *   GET  /api/tenants/:ns/secrets?limit=N&continue=T  one page of the list (limit and continue go
 *                         to the apiserver: the dashboard holds one page, whatever the tenant's size)
 *   POST /api/tenants/:ns/secrets
 *   GET|PATCH|DELETE /api/tenants/:ns/secrets/:name  (GET: the detail panel: source, conditions, Events; ?events=false: without Events)
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { isOrkaError, OrkaError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { CSRF_HEADER, type CreateRequest, type SessionInfo, type UpdateRequest } from './api.js';
import type { ClusterAccess } from './cluster.js';
import { isNamespaceName } from '../core/names.js';
import { SignInLimiter } from './ratelimit.js';
import { TROUBLESHOOTING_PATH } from './status.js';
import { csrfMatches, type Session, type Sessions } from './sessions.js';

/** Most rows in one page of the list API (and the default): the dashboard's memory per request is bounded by it. */
export const MAX_PAGE = 1000;

/** Base name of the session cookie. */
export const SESSION_COOKIE = 'orka_dashboard_session';

/**
 * The session cookie's name. Served over HTTPS (`secure`): `__Host-orka_dashboard_session`, which
 * the browser accepts only with Secure, Path=/ and no Domain, so another host of the same site
 * cannot plant or shadow it. Otherwise, with an `instance` (the local form: one per process):
 * `orka_dashboard_session_<instance>`, since cookies ignore the port and two dashboards on
 * 127.0.0.1 would otherwise overwrite each other's session.
 */
export function sessionCookieName(args: { secure: boolean; instance?: string }): string {
  if (args.secure) return `__Host-${SESSION_COOKIE}`;
  return args.instance === undefined ? SESSION_COOKIE : `${SESSION_COOKIE}_${args.instance}`;
}

/** Every value of the cookie `name` in a Cookie header (a browser may send one name more than once). */
export function cookieValues(header: string | undefined, name: string): string[] {
  const values: string[] = [];
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** What the app needs. */
export interface DashboardDeps<C> {
  sessions: Sessions<C>;
  /** The cluster as the person of a session (their own credentials). */
  clusterFor: (credential: C) => ClusterAccess;
  /** Directory holding index.html, app.js and app.css (the bundle made at build time). */
  assetsDir: string;
  /** Host header values this server answers to (for example 127.0.0.1:8080 and localhost:8080). */
  hosts: string[];
  /** Origins allowed to make changes (for example http://127.0.0.1:8080). */
  origins: string[];
  /** Set the cookie's Secure flag (served over HTTPS); the cookie is then a `__Host-` one. */
  secureCookie: boolean;
  /** The local form's per-process part of the cookie name (see sessionCookieName). */
  cookieInstance?: string;
  /** Sign-in rate limits (default: the documented ones, on the real clock). */
  signInLimiter?: SignInLimiter;
  log: Logger;
  /** Called after a sign-out (the local form writes a new sign-in page). */
  onSignOut?: () => void;
  /**
   * In a cluster: how a person signs in. `token`: the page asks for a Kubernetes bearer token,
   * which `verifyToken` checks with the cluster. `proxy` also accepts `Authorization: Bearer`
   * set by an auth proxy in front, on every request. Absent: one-time links only (local form).
   */
  bearer?: { mode: 'token' | 'proxy'; verifyToken: (token: string) => Promise<C> };
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  // What each status reason means and what to do, linked from the page's status pills; served
  // as the running version's own text (the build copies docs/troubleshooting.md).
  [TROUBLESHOOTING_PATH]: { file: 'troubleshooting.md', type: 'text/plain; charset=utf-8' },
};
/** Files a build may lack (a test's assets): answered 404 instead of refusing to start. */
const OPTIONAL = new Set(['favicon.svg', 'troubleshooting.md']);

function fail(res: Response, err: OrkaError): void {
  const retryAfter = err.details.retryAfterSeconds;
  if (typeof retryAfter === 'number') res.set('Retry-After', String(retryAfter));
  res.status(err.status).json(err.toBody());
}

/** Builds the app. */
export function createDashboardApp<C>(deps: DashboardDeps<C>): Express {
  const log = deps.log;
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(STATIC)) {
    try {
      files.set(path, { body: readFileSync(join(deps.assetsDir, file)), type });
    } catch {
      if (!OPTIONAL.has(file)) throw new OrkaError('INVALID_CONFIG', `the page's ${file} is missing from ${deps.assetsDir}: run make build`);
    }
  }
  const cookieFlags = `HttpOnly; SameSite=Strict; Path=/${deps.secureCookie ? '; Secure' : ''}`;
  const cookieName = sessionCookieName({ secure: deps.secureCookie, ...(deps.cookieInstance !== undefined ? { instance: deps.cookieInstance } : {}) });
  /** The session cookie's value (the guard below has refused requests that carry it twice). */
  const cookieOf = (req: Request): string | undefined => cookieValues(req.headers.cookie, cookieName)[0];
  const setSession = (res: Response, id: string): void => void res.set('Set-Cookie', `${cookieName}=${id}; Max-Age=${deps.sessions.sessionTtlSeconds}; ${cookieFlags}`);
  const limiter = deps.signInLimiter ?? new SignInLimiter();
  /** Spends one sign-in attempt of the request's client; throws TOO_MANY_REQUESTS (429, Retry-After) past the limits. */
  const limitSignIn = (req: Request): void => {
    const wait = limiter.take(req.socket.remoteAddress ?? 'unknown');
    if (wait > 0) throw new OrkaError('TOO_MANY_REQUESTS', `too many sign-in attempts: try again in ${wait} s`, { retryAfterSeconds: wait });
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.set({
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    // Probes come with the pod's address as Host; the answer holds nothing, so it needs no guard.
    if (req.path === '/healthz' && req.method === 'GET') return void res.json({ status: 'ok' });
    // The path only: a query string may hold a login token.
    res.on('finish', () => log.info({ method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode }, 'request'));
    if (!deps.hosts.includes(req.headers.host ?? '')) {
      return fail(res, new OrkaError('FORBIDDEN', `this dashboard answers only to ${deps.hosts.join(' or ')}; open the address it printed`));
    }
    const sent = cookieValues(req.headers.cookie, cookieName).length;
    if (sent > 1) {
      return fail(res, new OrkaError('INVALID_REQUEST', `the browser sent ${sent} session cookies named ${cookieName} (another page on this site may have set one): clear this site's cookies, then sign in again`));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const origin = req.headers.origin;
      const site = req.headers['sec-fetch-site'];
      if (origin === undefined || !deps.origins.includes(origin) || (site !== undefined && site !== 'same-origin')) {
        return fail(res, new OrkaError('FORBIDDEN', 'changes are accepted only from this dashboard\'s own page'));
      }
    }
    next();
  });

  for (const [path, { type }] of Object.entries(STATIC)) {
    app.get(path, (_req, res) => {
      const file = files.get(path);
      if (file === undefined) return void res.status(404).end();
      res.type(type).send(file.body);
    });
  }

  app.get('/login', (req, res) => {
    limitSignIn(req);
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const opened = token ? deps.sessions.redeem(token) : undefined;
    if (opened === undefined) {
      log.warn('a sign-in link was refused (already used, expired or unknown)');
      return void res.redirect(303, '/?signin=refused');
    }
    setSession(res, opened.id);
    res.redirect(303, '/');
  });

  const api = express.Router();
  api.use(express.json({ limit: '192kb' }));
  const bearer = deps.bearer;
  /** The proxy's bearer token, when an auth proxy signs people in (one token: one person). */
  const proxyToken = (req: Request): string | undefined => {
    const m = bearer?.mode === 'proxy' ? /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '') : null;
    return m?.[1];
  };
  const proxySessions = new Map<string, Session<C>>();
  const sessionOf = (req: Request): Session<C> | undefined => {
    const token = proxyToken(req);
    if (token === undefined || bearer === undefined) return deps.sessions.get(cookieOf(req));
    // Stateless: the CSRF token is derived from the bearer token (one-way), so it is the same on
    // every replica, and a page on another origin, which cannot read the token, cannot make it.
    const csrfToken = createHmac('sha256', 'orka-dashboard-csrf').update(token).digest('base64url');
    let session = proxySessions.get(csrfToken);
    if (session === undefined) {
      if (proxySessions.size > 1000) proxySessions.clear();
      session = { csrfToken, expiresAt: new Date(Date.now() + 3_600_000), credential: token as C };
      proxySessions.set(csrfToken, session);
    }
    return session;
  };

  if (bearer !== undefined) {
    // Before the session guard: there is no session yet. The Origin check above still applies.
    api.post('/session/start', async (req, res) => {
      limitSignIn(req);
      const token = (req.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || !/^\S{8,8192}$/.test(token.trim())) {
        throw new OrkaError('INVALID_REQUEST', 'paste a Kubernetes bearer token (for example from kubectl create token, or your OIDC id-token)', { field: 'token' });
      }
      const credential = await bearer.verifyToken(token.trim());
      setSession(res, deps.sessions.open(credential).id);
      res.status(204).end();
    });
  }
  api.use((req: Request, res: Response, next: NextFunction) => {
    const session = sessionOf(req);
    if (session === undefined) {
      const how = bearer?.mode === 'token' ? 'sign in with a Kubernetes token' : bearer?.mode === 'proxy' ? 'sign in again through your sign-in proxy' : 'open a new sign-in link';
      return fail(res, new OrkaError('UNAUTHENTICATED', `you are signed out (or the session expired): ${how}`, { signIn: bearer?.mode ?? 'link' }));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !csrfMatches(session, req.get(CSRF_HEADER))) {
      return fail(res, new OrkaError('FORBIDDEN', 'the request lacks this session\'s CSRF token: reload the page'));
    }
    res.locals.cluster = deps.clusterFor(session.credential);
    res.locals.session = session;
    next();
  });
  const cluster = (res: Response): ClusterAccess => res.locals.cluster as ClusterAccess;
  const namespaceOf = (req: Request): string => {
    const ns = String(req.params.ns);
    if (!isNamespaceName(ns)) throw new OrkaError('NOT_A_TENANT', `${JSON.stringify(ns.slice(0, 80))} is not a namespace name`);
    return ns;
  };

  /** `limit` (1 to MAX_PAGE, default MAX_PAGE) and `continue` of a list request, for the apiserver. */
  const pageOf = (req: Request): { limit: number; continueToken?: string } => {
    const limit = req.query.limit === undefined ? MAX_PAGE : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new OrkaError('INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_PAGE}`, { field: 'limit' });
    const token = req.query.continue;
    if (token !== undefined && (typeof token !== 'string' || token.length > 4096)) throw new OrkaError('INVALID_REQUEST', 'continue must be the token of the previous page', { field: 'continue' });
    return { limit, ...(token ? { continueToken: token } : {}) };
  };

  api.get('/session', async (_req, res) => {
    const session = res.locals.session as Session<C>;
    const c = cluster(res);
    // Asked once per session: who the cluster says the credential is (never the token itself).
    session.who ??= await c.whoAmI().then(
      (user) => (user === undefined ? {} : { user }),
      () => undefined,
    );
    const user = session.who?.user;
    const info: SessionInfo = { csrfToken: session.csrfToken, cluster: c.server, expiresAt: session.expiresAt.toISOString(), ...(user ? { user } : {}) };
    res.json(info);
  });
  api.post('/session/end', (req, res) => {
    deps.sessions.end(cookieOf(req));
    res.set('Set-Cookie', `${cookieName}=; Max-Age=0; ${cookieFlags}`);
    res.status(204).end();
    deps.onSignOut?.();
  });
  api.get('/tenants', async (req, res) => {
    const asked = req.query.namespace === undefined ? [] : [req.query.namespace].flat();
    // Each name asked costs an access review and a namespace read: one at a time.
    if (asked.length > 1) throw new OrkaError('INVALID_REQUEST', 'ask for one namespace at a time', { field: 'namespace' });
    for (const ns of asked) if (typeof ns !== 'string' || !isNamespaceName(ns)) throw new OrkaError('INVALID_REQUEST', `${JSON.stringify(String(ns).slice(0, 80))} is not a namespace name: lower-case letters, digits and '-', at most 63 characters`, { field: 'namespace' });
    res.json(await cluster(res).tenants(asked as string[]));
  });
  api.get('/tenants/:ns/sealing-key', async (req, res) => {
    res.json(await cluster(res).sealingKey(namespaceOf(req)));
  });
  api.get('/tenants/:ns/secrets', async (req, res) => {
    res.json(await cluster(res).list(namespaceOf(req), pageOf(req)));
  });
  api.get('/tenants/:ns/secrets/:name', async (req, res) => {
    res.json(await cluster(res).detail(namespaceOf(req), String(req.params.name), { events: req.query.events !== 'false' }));
  });
  api.post('/tenants/:ns/secrets', async (req, res) => {
    const row = await cluster(res).create(namespaceOf(req), (req.body ?? {}) as CreateRequest);
    log.info({ namespace: req.params.ns, name: row.name }, 'secret created');
    res.status(201).json(row);
  });
  api.patch('/tenants/:ns/secrets/:name', async (req, res) => {
    const row = await cluster(res).update(namespaceOf(req), String(req.params.name), (req.body ?? {}) as UpdateRequest);
    log.info({ namespace: req.params.ns, name: row.name }, 'secret updated');
    res.json(row);
  });
  api.delete('/tenants/:ns/secrets/:name', async (req, res) => {
    await cluster(res).remove(namespaceOf(req), String(req.params.name));
    log.info({ namespace: req.params.ns, name: req.params.name }, 'secret deleted');
    res.status(204).end();
  });
  api.use((_req: Request, res: Response) => fail(res, new OrkaError('INVALID_REQUEST', 'no such API route')));
  app.use('/api', api);

  app.use((_req: Request, res: Response) => void res.status(404).type('text/plain').send('not found'));
  // express 5 sends rejected promises of async handlers here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (isOrkaError(err)) {
      if (err.status >= 500 || err.code === 'FORBIDDEN') log.warn({ code: err.code, path: req.originalUrl.split('?')[0], reason: err.message }, 'refused');
      return fail(res, err);
    }
    const status = (err as { status?: number }).status;
    if (status === 413) return fail(res, new OrkaError('PAYLOAD_TOO_LARGE', 'the request is too large: a value may be at most 64 KiB'));
    if (status === 400) return fail(res, new OrkaError('INVALID_REQUEST', 'the request is not valid JSON'));
    // The error itself is not logged: an unexpected error's text could quote a request body.
    log.error({ path: req.originalUrl.split('?')[0], type: (err as Error)?.name }, 'unexpected error');
    fail(res, new OrkaError('INTERNAL', 'unexpected error in the dashboard; see its log'));
  });
  return app;
}
