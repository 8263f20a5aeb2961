/**
 * The resolver API that sidecars call (served over HTTPS by every replica):
 *   POST /v1/resolve   {"names": [...]}  ->  {"values": {NAME: value}, "missing": [...],
 *                      "revisions": {NAME: resourceVersion}}
 *   GET  /v1/changes   text/event-stream: `event: changed` with {"name", "revision", "deleted"}
 *                      whenever a secret of the caller's tenant changes or goes away; `event:
 *                      ready` once subscribed. Revisions order answers and changes (../resolver.ts).
 * A replica whose view of the cluster is stale answers both with UPSTREAM_UNAVAILABLE and ends
 * the streams it had open. A resolve answer carries the standard `Age` header: how many seconds
 * old (rounded up) the replica's view was, so a sidecar ages what it caches from that moment.
 * Callers authenticate with a service-account token for the audience `orka-secrets`; the tenant
 * is the token's namespace, which must be a tenant namespace. One audit line per request: tenant,
 * pod, names, outcome; never a value.
 *
 * A resolve is the hot path (every cold name of every runner step), so `POST /v1/resolve` is served
 * on node:http (`resolveHandler`), not through express: express cost more than half of a resolve's
 * CPU (docs/capacity.md). Its answer is serialized once, and its audit line is built from fixed
 * fields, none of which can hold a value (core/logger.ts: fixedLine; refusals and failures go
 * through a logger that redacts only top-level fields). The change streams and every other path
 * stay an express Router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { isOrkaError, OrkaError } from '../../core/errors.js';
import { fixedLine, REDACT_PATHS, type Logger } from '../../core/logger.js';
import type { Identity, TokenAuthenticator } from '../kube/tokenreview.js';
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
  /** The resolver listener's budget of body bytes (http/server.ts). */
  bodies: BodyBudget;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const audit = deps.audit.child({}, { redact: AUDIT_REDACT });
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
    let identity: Identity;
    try {
      identity = await deps.auth.authenticate(bearer(req));
      const tenancy = deps.resolver.tenancy(identity.namespace);
      if (!tenancy.tenant) throw new OrkaError('FORBIDDEN', tenancy.reason);
    } catch (err) {
      const e = isOrkaError(err) ? err : new OrkaError('INTERNAL', 'authentication failed');
      audit.warn({ path: '/v1/resolve', outcome: e.code }, 'request refused');
      answer(res, started, e.status, JSON.stringify(e.toBody()));
      return;
    }
    try {
      const parsed = resolveBody.safeParse(await readJson(req, res, deps.bodies));
      if (!parsed.success) throw new OrkaError('INVALID_REQUEST', `body must be {"names": [1 to ${MAX_NAMES_PER_REQUEST} secret names]}`);
      const { values, missing, revisions, ageMs } = await deps.resolver.resolve(identity.namespace, parsed.data.names);
      deps.usage.record(identity.namespace, Object.keys(values));
      resolved({ tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount, names: parsed.data.names, missing, outcome: missing.length ? 'partial' : 'ok' });
      answer(res, started, 200, JSON.stringify({ values, missing, revisions }), missing, String(Math.ceil(ageMs / 1000)));
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

/**
 * Counts open change streams per identity and in total, so that one tenant cannot exhaust the
 * operator's memory by opening thousands of them.
 */
export class StreamLimiter {
  private total = 0;
  private readonly perIdentity = new Map<string, number>();

  constructor(private readonly limits: { total: number; perIdentity: number }) {}

  /** A release function when a stream may open for `identity`, or why not. */
  acquire(identity: string): { release: () => void } | { refusal: string } {
    const mine = this.perIdentity.get(identity) ?? 0;
    if (mine >= this.limits.perIdentity) return { refusal: `this pod already holds ${mine} change streams, the most one identity may open` };
    if (this.total >= this.limits.total) return { refusal: 'the operator holds as many change streams as it may; retry later' };
    this.total++;
    this.perIdentity.set(identity, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perIdentity.get(identity) ?? 1) - 1;
        if (left === 0) this.perIdentity.delete(identity);
        else this.perIdentity.set(identity, left);
      },
    };
  }

  /** Streams open now. */
  get open(): number {
    return this.total;
  }
}

/** Builds the rest of the resolver API (change streams, refusals) as a router for the operator's HTTPS app (no listening). */
export function createResolverApp(deps: { resolver: Resolver; auth: TokenAuthenticator; audit: Logger; streams: StreamLimiter; heartbeatMs?: number }): Router {
  const app = express.Router();
  const audit = deps.audit.child({}, { redact: AUDIT_REDACT });

  // Authentication first, for every path.
  app.use(async (req: Authed, res: Response, next: NextFunction) => {
    try {
      const identity = await deps.auth.authenticate(bearer(req));
      const tenancy = deps.resolver.tenancy(identity.namespace);
      if (!tenancy.tenant) throw new OrkaError('FORBIDDEN', tenancy.reason);
      req.identity = identity;
      next();
    } catch (err) {
      const e = isOrkaError(err) ? err : new OrkaError('INTERNAL', 'authentication failed');
      audit.warn({ path: req.path, outcome: e.code, sa: req.identity?.serviceAccount }, 'request refused');
      sendError(res, e);
    }
  });

  app.get('/v1/changes', (req: Authed, res: Response) => {
    const identity = req.identity as Identity;
    const token = bearer(req);
    const slot = deps.streams.acquire(`${identity.namespace}/${identity.serviceAccount}/${identity.pod}`);
    if ('refusal' in slot) {
      audit.warn({ tenant: identity.namespace, pod: identity.pod, sa: identity.serviceAccount, outcome: 'TOO_MANY_REQUESTS' }, 'change stream refused');
      sendError(res, new OrkaError('TOO_MANY_REQUESTS', slot.refusal));
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
    // Every frame says how old this replica's view is (`age`, seconds): the sidecar counts its
    // stale limit from there, not from when the frame arrived.
    const age = () => Math.ceil(deps.resolver.assertCurrent() / 1000);
    res.write(`event: ready\ndata: ${JSON.stringify({ age: age() })}\n\n`);
    const heartbeat = setInterval(() => {
      try {
        res.write(`event: ping\ndata: ${JSON.stringify({ age: age() })}\n\n`);
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
