/**
 * Metrics of the HTTPS endpoints (resolver API and admission webhooks), as one express middleware
 * in front of both routers, so the routers stay free of metrics code, and an observer the resolve
 * handler (served outside express) calls with each answer. The outcome is read from the
 * status and the JSON answer on its way out (through res.json, or the answer a webhook kept);
 * nothing from a request or an answer becomes a label except these fixed words.
 */
import type { NextFunction, Request, Response } from 'express';
import { admissionAnswer } from '../admission/webhook.js';
import type { OperatorMetrics } from '../metrics.js';

/** The outcome label of a resolve answer. */
export function resolveOutcome(status: number, body: unknown): string {
  if (status === 200) return ((body as { missing?: unknown[] } | undefined)?.missing?.length ?? 0) > 0 ? 'partial' : 'ok';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 400 || status === 413) return 'invalid';
  if (status === 503) return 'unavailable';
  return 'error';
}

/** The result label of an admission answer. */
export function admissionResult(status: number, body: unknown): string {
  const response = (body as { response?: { allowed?: boolean; patch?: string } } | undefined)?.response;
  if (status !== 200 || response === undefined) return 'error';
  if (!response.allowed) return 'denied';
  return response.patch ? 'mutated' : 'allowed';
}

const WEBHOOKS: Record<string, string> = { '/webhooks/mutate-pods': 'mutate-pods', '/webhooks/validate-orkasecrets': 'validate-orkasecrets' };

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

/** Counts and times admission reviews; tracks open change streams. */
export function httpMetrics(metrics: OperatorMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const webhook = WEBHOOKS[req.path];
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
    } else if (webhook !== undefined) {
      const started = process.hrtime.bigint();
      let body: unknown;
      const json = res.json.bind(res);
      res.json = (b: unknown) => {
        body = b;
        return json(b);
      };
      res.on('finish', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        // The webhooks write their answer themselves (not through res.json) and keep it for us.
        metrics.admissions.inc({ webhook, result: admissionResult(res.statusCode, admissionAnswer(res) ?? body) });
        metrics.admissionDuration.observe({ webhook }, seconds);
      });
    }
    next();
  };
}
