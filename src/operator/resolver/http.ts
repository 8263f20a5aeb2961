/**
 * The resolver API that sidecars call (served over HTTPS by every replica):
 *   POST /v1/resolve   {"names": [...]}  ->  {"values": {NAME: value}, "missing": [...],
 *                      "revisions": {NAME: resourceVersion}, "view": resourceVersion}
 *   GET  /v1/changes   text/event-stream: `event: changed` with {"name", "revision", "deleted",
 *                      "view"} whenever a secret of the caller's tenant changes or goes away;
 *                      `event: ready` once subscribed and `event: ping` every 15 s, each with
 *                      {"age", "view"}. Revisions order answers and changes (./resolver.ts).
 * `view` (in every answer and every frame) is the replica's view revision: the newest
 * resourceVersion its caches have processed (src/core/revision.ts). A sidecar keeps the highest it
 * has heard from any replica; an answer from an older view is asked again on a new connection, an
 * answer from a view at least as new is authoritative, a missing name included (so a secret
 * deleted while the sidecar was not listening is SECRET_NOT_FOUND, not UPSTREAM_UNAVAILABLE).
 * A replica whose view of the cluster is stale answers both with UPSTREAM_UNAVAILABLE and ends
 * the streams it had open. A resolve answer carries the standard `Age` header: how many seconds
 * old (rounded up) the replica's view was, so a sidecar ages what it caches from that moment; a
 * frame's `age` is the same in seconds (sidecars from before `view` extended their cache by it).
 * A resolve for a name whose OrkaSecret is Ready at a version this replica's storage cache has not
 * brought yet waits for it (up to 2 s), then answers UPSTREAM_UNAVAILABLE: never missing.
 * Callers authenticate with a service-account token for the audience `orka-secrets`; the tenant
 * is the token's namespace, which must be a tenant namespace. One audit line per request: tenant,
 * pod, names, outcome; never a value. Refusals (a token refused, a tenant over its resolve rate or
 * its share of streams: limits.ts) are logged once per caller per REFUSAL_LOG_INTERVAL_MS, with
 * how many were held back, so a refused client retrying cannot flood the log.
 *
 * A resolve is the hot path (every cold name of every runner step), so `POST /v1/resolve` is served
 * on node:http (`resolveHandler`), not through express: express cost more than half of a resolve's
 * CPU (docs/design/capacity.md). Its answer is serialized once, and its audit line is built from fixed
 * fields, none of which can hold a value (core/logger.ts: fixedLine; refusals and failures go
 * through a logger that redacts only top-level fields). The change streams and every other path
 * stay an express Router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { isOrkaError, OrkaError } from '../../core/errors.js';
import { fixedLine, REDACT_PATHS, type Logger } from '../../core/logger.js';
import { Throttle } from '../../core/throttle.js';
import type { Identity, TokenAuthenticator } from '../kube/tokenreview.js';
import type { ResolveRateLimiter, StreamLimiter } from './limits.js';
import { readBody, type BodyBudget } from '../http/server.js';
import { MAX_NAMES_PER_REQUEST, type Resolver } from './resolver.js';

/** Records resolutions for usage tracking. */
export interface UsageRecorder {
  record(namespace: string, names: readonly string[]): void;
}

const resolveBody = z.object({ names: z.array(z.string().max(64)).min(1).max(MAX_NAMES_PER_REQUEST) }).strict();

/** The redaction of the audit logger: the top-level sensitive fields (the wildcard paths cost a walk of every line). */
const AUDIT_REDACT = { paths: REDACT_PATHS.filter((path) => !path.includes('*')), censor: '[REDACTED]' };

/** Largest resolve request body, in bytes. */
const MAX_BODY_BYTES = 16 * 1024;

type Authed = Request & { identity?: Identity };

/** A refused caller's audit line is written at most once per this interval (the rest are counted in it). */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** Seconds a refused change stream is told to wait (Retry-After): the sidecar backs off further on its own. */
export const STREAM_RETRY_AFTER_S = 5;

/** Whom an audit line of a refusal is about: the pod identity, or for a token refused, the code and peer address. */
function callerKey(req: IncomingMessage, identity: Identity | undefined, code: string): string {
  return identity === undefined ? `${code}@${req.socket.remoteAddress ?? ''}` : `${code}:${identity.namespace}/${identity.serviceAccount}/${identity.pod}`;
}

/** Writes a refusal's audit line unless one for the same caller went out within REFUSAL_LOG_INTERVAL_MS. */
function auditRefusal(audit: Logger, throttle: Throttle, key: string, fields: Record<string, unknown>, msg: string): void {
  const held = throttle.pass(key);
  if (held !== undefined) audit.warn(held > 0 ? { ...fields, suppressed: held } : fields, msg);
}

function sendError(res: Response, err: OrkaError): void {
  res.status(err.status).json(err.toBody());
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Writes a JSON answer on node:http (the body serialized by the caller, once); `age`: the Age header, if any. */
function writeJson(res: ServerResponse, status: number, body: string, age?: string): void {
  res.writeHead(status, age === undefined ? { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) } : { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), age });
  res.end(body);
}

/** The bearer token of a request ('' when none). */
function bearer(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice(7).trim() : '';
}

/**
 * The JSON body of a request, at most MAX_BODY_BYTES, read against the listener's budget
 * (http/server.ts): PAYLOAD_TOO_LARGE past the limit, UPSTREAM_UNAVAILABLE past the budget (both
 * close the connection), INVALID_REQUEST when it is not JSON.
 */
async function readJson(req: IncomingMessage, res: ServerResponse, budget: BodyBudget): Promise<unknown> {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
    req.resume();
    throw new OrkaError('INVALID_REQUEST', 'the request body must be JSON (content-type: application/json)');
  }
  const read = await readBody(req, res, { limit: MAX_BODY_BYTES, budget });
  if (!Buffer.isBuffer(read)) {
    if (read.status === 413) throw new OrkaError('PAYLOAD_TOO_LARGE', 'request body too large');
    throw new OrkaError(read.status === 503 ? 'UPSTREAM_UNAVAILABLE' : 'INVALID_REQUEST', read.message);
  }
  try {
    return JSON.parse(read.toString('utf8'));
  } catch {
    throw new OrkaError('INVALID_REQUEST', 'request body is not valid JSON');
  }
}

/** Whether a request is for the resolve endpoint, which `resolveHandler` serves (not the Router). */
export function isResolveRequest(req: IncomingMessage): boolean {
  if (req.method !== 'POST' || req.url === undefined) return false;
  const query = req.url.indexOf('?');
  return (query === -1 ? req.url : req.url.slice(0, query)) === '/v1/resolve';
}

/** What one resolve answered, for metrics: its status, what it said was missing, how long it took. */
export type ResolveObserver = (status: number, answer: { missing: readonly string[] } | undefined, seconds: number) => void;

/** The fields of a resolve's audit line, in order. */
const RESOLVE_AUDIT_FIELDS = ['tenant', 'pod', 'sa', 'names', 'missing', 'outcome'] as const;

/**
 * `POST /v1/resolve` on node:http: the token first (an unauthenticated body is never read), then
 * the body, then the answer. One audit line per request. The observer is told as the answer is
 * written (per request: no listener, closure or BigInt to make).
 */
export function resolveHandler(deps: {
  resolver: Resolver;
  auth: TokenAuthenticator;
  usage: UsageRecorder;
  audit: Logger;
  observe?: ResolveObserver;
  rate?: ResolveRateLimiter;
  /** The resolver listener's budget of body bytes (http/server.ts). */
  bodies: BodyBudget;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const audit = deps.audit.child({}, { redact: AUDIT_REDACT });
  const refusals = new Throttle({ intervalMs: REFUSAL_LOG_INTERVAL_MS });
  // The line of every answered resolve, built from its fixed fields (core/logger.ts: fixedLine);
  // the rarer refusals and failures go through the logger.
  const resolved = fixedLine(deps.audit, 'info', 'resolve', RESOLVE_AUDIT_FIELDS);
  const observe = deps.observe;
  /** Writes an answer and tells the observer; `missing` only with a resolution. */
  const answer = (res: ServerResponse, started: number, status: number, body: string, missing?: readonly string[], age?: string) => {
    writeJson(res, status, body, age);
    observe?.(status, missing === undefined ? undefined : { missing }, (performance.now() - started) / 1000);
  };
  const serve = async (req: IncomingMessage, res: ServerResponse, started: number): Promise<void> => {
    let identity: Identity | undefined;
    try {
      identity = await deps.auth.authenticate(bearer(req));
      const tenancy = deps.resolver.tenancy(identity.namespace);
      if (!tenancy.tenant) throw new OrkaError('FORBIDDEN', tenancy.reason);
    } catch (err) {
      const e = isOrkaError(err) ? err : new OrkaError('INTERNAL', 'authentication failed');
      auditRefusal(audit, refusals, callerKey(req, identity, e.code), { path: '/v1/resolve', outcome: e.code }, 'request refused');
      answer(res, started, e.status, JSON.stringify(e.toBody()));
      return;
    }
    // The tenant's rate before its body is read: a refused resolve costs no parse.
    const waitMs = deps.rate?.take(identity.namespace) ?? 0;
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      auditRefusal(audit, refusals, callerKey(req, identity, 'rate'), { tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount, outcome: 'TOO_MANY_REQUESTS' }, 'resolve refused: the tenant is over its resolve rate');
      const body = JSON.stringify(new OrkaError('TOO_MANY_REQUESTS', `this tenant is over its resolve rate on this replica; retry after ${seconds} s`, { retryAfter: seconds }).toBody());
      res.setHeader('retry-after', String(seconds));
      answer(res, started, 429, body);
      return;
    }
    try {
      const parsed = resolveBody.safeParse(await readJson(req, res, deps.bodies));
      if (!parsed.success) throw new OrkaError('INVALID_REQUEST', `body must be {"names": [1 to ${MAX_NAMES_PER_REQUEST} secret names]}`);
      const { values, missing, revisions, view, ageMs } = await deps.resolver.resolve(identity.namespace, parsed.data.names);
      deps.usage.record(identity.namespace, Object.keys(values));
      resolved({ tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount, names: parsed.data.names, missing, outcome: missing.length ? 'partial' : 'ok' });
      answer(res, started, 200, JSON.stringify({ values, missing, revisions, view }), missing, String(Math.ceil(ageMs / 1000)));
    } catch (err) {
      const e = isOrkaError(err) ? err : new OrkaError('INTERNAL', 'resolution failed');
      audit.warn({ tenant: identity.namespace, pod: identity.pod, outcome: e.code }, 'resolve failed');
      answer(res, started, e.status, JSON.stringify(e.toBody()));
    }
  };
  return (req, res) => {
    const started = performance.now();
    serve(req, res, started).catch(() => {
      // Only a failed write to a connection already gone gets here.
      if (!res.headersSent) answer(res, started, 500, JSON.stringify(new OrkaError('INTERNAL', 'resolution failed').toBody()));
    });
  };
}

/** Builds the rest of the resolver API (change streams, refusals) as a router for the operator's HTTPS app (no listening). */
export function createResolverApp(deps: { resolver: Resolver; auth: TokenAuthenticator; audit: Logger; streams: StreamLimiter; heartbeatMs?: number }): Router {
  const app = express.Router();
  const audit = deps.audit.child({}, { redact: AUDIT_REDACT });
  const refusals = new Throttle({ intervalMs: REFUSAL_LOG_INTERVAL_MS });

  // Authentication first, for every path.
  app.use(async (req: Authed, res: Response, next: NextFunction) => {
    let identity: Identity | undefined;
    try {
      identity = await deps.auth.authenticate(bearer(req));
      const tenancy = deps.resolver.tenancy(identity.namespace);
      if (!tenancy.tenant) throw new OrkaError('FORBIDDEN', tenancy.reason);
      req.identity = identity;
      next();
    } catch (err) {
      const e = isOrkaError(err) ? err : new OrkaError('INTERNAL', 'authentication failed');
      auditRefusal(audit, refusals, callerKey(req, identity, e.code), { path: req.path, outcome: e.code, sa: identity?.serviceAccount }, 'request refused');
      sendError(res, e);
    }
  });

  app.get('/v1/changes', (req: Authed, res: Response) => {
    const identity = req.identity as Identity;
    const token = bearer(req);
    const who = { tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount };
    // Closed when a tenant below its fair share needs this slot (limits.ts); the sidecar reconnects.
    const evict = () => {
      audit.info({ ...who, outcome: 'EVICTED' }, 'change stream closed: its slot went to a tenant below its fair share');
      res.end();
    };
    const slot = deps.streams.acquire(identity.namespace, `${identity.namespace}/${identity.serviceAccount}/${identity.pod}`, evict);
    if ('refusal' in slot) {
      auditRefusal(audit, refusals, callerKey(req, identity, 'stream'), { ...who, outcome: 'TOO_MANY_REQUESTS' }, 'change stream refused');
      res.setHeader('retry-after', String(STREAM_RETRY_AFTER_S));
      sendError(res, new OrkaError('TOO_MANY_REQUESTS', slot.refusal, { retryAfter: STREAM_RETRY_AFTER_S }));
      return;
    }
    let unsubscribe: () => void;
    try {
      unsubscribe = deps.resolver.subscribe(identity.namespace, {
        changed: (change) => res.write(`event: changed\ndata: ${JSON.stringify(change)}\n\n`),
        close: () => res.end(),
      });
    } catch (err) {
      slot.release();
      sendError(res, isOrkaError(err) ? err : new OrkaError('INTERNAL', 'subscription failed'));
      return;
    }
    // No `connection` header of its own: a draining replica's `Connection: close` (main.ts) must
    // hold, so the sidecar's next stream opens a new connection through the Service.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    // Every frame says how old this replica's view is (`age`, seconds) and which revision it has
    // reached (`view`): the sidecar's floor of views rises with it.
    const frame = () => JSON.stringify({ age: Math.ceil(deps.resolver.assertCurrent() / 1000), view: deps.resolver.view() });
    res.write(`event: ready\ndata: ${frame()}\n\n`);
    const heartbeat = setInterval(() => {
      try {
        res.write(`event: ping\ndata: ${frame()}\n\n`);
      } catch {
        res.end(); // stale: the freshness monitor is closing every stream anyway
      }
    }, deps.heartbeatMs ?? 15_000);
    // A stream outlives its token's review: re-check it every quarter of the cache TTL, never
    // reusing a review older than the rest of the TTL, so a revoked token (ServiceAccount or pod
    // deleted, expired, namespace no longer a tenant) loses its stream within the cache TTL.
    const ttl = deps.auth.cacheTtlMs;
    const period = Math.max(250, Math.floor(ttl / 4));
    const recheck = setInterval(() => {
      void (async () => {
        try {
          const again = await deps.auth.authenticate(token, { maxAgeMs: Math.max(0, ttl - period) });
          const tenancy = deps.resolver.tenancy(again.namespace);
          if (!tenancy.tenant) throw new OrkaError('FORBIDDEN', tenancy.reason);
        } catch (err) {
          // The apiserver being unreachable is not a revocation: keep the stream, ask again later.
          if (isOrkaError(err, 'UPSTREAM_UNAVAILABLE')) return;
          const e = isOrkaError(err) ? err : new OrkaError('INTERNAL', 're-check failed');
          audit.warn({ tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount, outcome: e.code }, 'change stream closed: the token is no longer valid');
          res.write(`event: revoked\ndata: ${JSON.stringify({ code: e.code, message: e.message })}\n\n`);
          res.end();
        }
      })();
    }, period);
    audit.info({ tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount }, 'change stream opened');
    res.on('close', () => {
      slot.release();
      clearInterval(heartbeat);
      clearInterval(recheck);
      unsubscribe();
    });
  });

  app.use((_req: Request, res: Response) => sendError(res, new OrkaError('INVALID_REQUEST', 'no such endpoint')));
  return app;
}
