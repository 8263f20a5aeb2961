/**
 * Metrics of the listeners and of the HTTPS endpoints (resolver API and admission webhooks): what
 * each listener refused and holds, observers that the handlers served outside express (POST
 * /v1/resolve, the webhooks) call with each answer, and an express middleware that tracks the
 * change streams. Nothing from a request or an answer becomes
 * a label except these fixed words.
 */
import type { NextFunction, Request, Response } from 'express';
import type { AdmissionObserver } from '../admission/webhook.js';
import type { OperatorMetrics } from '../metrics.js';
import type { ListenerEvents } from './server.js';

/** The outcome label of a resolve answer. */
export function resolveOutcome(status: number, body: unknown): string {
  if (status === 200) return ((body as { missing?: unknown[] } | undefined)?.missing?.length ?? 0) > 0 ? 'partial' : 'ok';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 400 || status === 413) return 'invalid';
  if (status === 429) return 'limited';
  if (status === 503) return 'unavailable';
  return 'error';
}

/**
 * Counts and times resolves, which are answered outside express (resolver/http.ts: the hot path),
 * so they are told here by the handler rather than seen by the middleware below.
 */
export function resolveObserver(metrics: OperatorMetrics): (status: number, answer: { missing: readonly string[] } | undefined, seconds: number) => void {
  return (status, answer, seconds) => {
    metrics.resolverRequests.inc({ outcome: resolveOutcome(status, answer) });
    metrics.resolverDuration.observe(seconds);
  };
}

/** Counts and times admission reviews by webhook and result, as the webhook handler tells them. */
export function admissionObserver(metrics: OperatorMetrics): AdmissionObserver {
  return (webhook, result, seconds) => {
    metrics.admissions.inc({ webhook, result });
    metrics.admissionDuration.observe({ webhook }, seconds);
  };
}

/** What a listener tells (http/server.ts), as metrics labelled with its name. */
export function listenerEvents(metrics: OperatorMetrics, listener: 'http' | 'resolver' | 'webhooks'): ListenerEvents {
  // The child, looked up once: the resolver's bodies pass here twice per resolve.
  const bytes = metrics.httpBodyBytes.labels({ listener });
  bytes.set(0);
  return {
    bodyBytes: (inFlight) => bytes.set(inFlight),
    refused: (reason) => metrics.httpRefusals.inc({ listener, reason }),
  };
}

/** Tracks open change streams (GET /v1/changes, served by express). */
export function httpMetrics(metrics: OperatorMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.path === '/v1/changes') {
      // A stream is open from its 200 head until the connection closes.
      let open = false;
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => Response;
      res.writeHead = ((...args: unknown[]) => {
        if (!open && args[0] === 200) {
          open = true;
          metrics.resolverStreams.inc();
        }
        return writeHead(...args);
      }) as Response['writeHead'];
      res.on('close', () => {
        if (open) metrics.resolverStreams.dec();
      });
    }
    next();
  };
}
