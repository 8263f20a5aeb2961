/**
 * The sidecar's HTTP API (../shared/DESIGN.md), as an express app built without listening:
 *   GET  /v1/secrets/{NAME}  -> {"name", "value"}
 *   POST /v1/render          {"template": <string or JSON>} -> {"result": <same shape>}
 *   POST /v1/redact          {"text"} -> {"text"} with every served value masked
 *   GET  /healthz, /readyz
 * Every /v1/ request needs `X-Orka-Request: true` and a Host of 127.0.0.1:<port> or
 * localhost:<port> (SSRF and DNS-rebinding guard). Errors are {"error": {"code", "message", ...}}.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { isOrkaError, OrkaError, secretNotFound } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { assertSecretName } from '../core/names.js';
import { references, render } from '../core/template.js';
import type { ValueCache } from './cache.js';
import type { Lookup } from './lookup.js';
import type { SidecarMetrics } from './metrics.js';

/** What the app needs. */
export interface SidecarDeps {
  maxBodyBytes: number;
  cache: ValueCache;
  lookup: Lookup;
  metrics: SidecarMetrics;
  log: Logger;
  /** Ends the sidecar after POST /v1/quit has been answered (the classic form in Jobs). */
  quit?: () => void;
}

function fail(res: Response, err: OrkaError): void {
  res.status(err.status).json(err.toBody());
}

/** Builds the app. */
export function createSidecarApp(deps: SidecarDeps): Express {
  const { cache, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const end = metrics.duration.startTimer();
    res.on('finish', () => {
      const endpoint = req.route ? `${req.method} ${req.baseUrl}${req.route.path as string}` : 'other';
      end({ endpoint });
      metrics.requests.inc({ endpoint, code: String(res.statusCode) });
    });
    next();
  });

  // Edges, before any route: no browser has business here (a page could otherwise make the
  // runner's localhost call for it), express's own answers to OPTIONS are not the contract, and a
  // declared body over the limit is refused before a byte of it is read.
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.headers.origin !== undefined) return fail(res, new OrkaError('FORBIDDEN', 'requests from a browser (with an Origin header) are refused'));
    if (req.method === 'OPTIONS') return fail(res, new OrkaError('NOT_FOUND', `no such endpoint: OPTIONS ${req.path}`));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > deps.maxBodyBytes) {
      res.set('connection', 'close');
      return fail(res, new OrkaError('PAYLOAD_TOO_LARGE', `request body is larger than ${deps.maxBodyBytes} bytes`, { limit: deps.maxBodyBytes }));
    }
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready once listening: a runner pod must not turn unready because the operator restarts;
  // while the stream is down, answers follow the documented fallback instead.
  app.get('/readyz', (_req, res) => {
    res.json({ status: 'ok', changeStream: cache.isStreamUp ? 'up' : 'down' });
  });

  const v1 = express.Router();
  v1.use((req: Request, res: Response, next: NextFunction) => {
    if (req.get('x-orka-request') !== 'true') return fail(res, new OrkaError('FORBIDDEN', 'the header X-Orka-Request: true is required'));
    // The port is the one this request came in on, so the app needs no configuration for it.
    const port = req.socket.localPort;
    const host = req.get('host') ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return fail(res, new OrkaError('FORBIDDEN', `Host must be 127.0.0.1:${port} or localhost:${port}`));
    next();
  });
  v1.use(express.json({ limit: deps.maxBodyBytes, strict: false, type: () => true }));

  v1.get('/secrets/:name', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const name = assertSecretName(String(req.params.name));
      const value = (await deps.lookup.values([name])).get(name);
      if (value === undefined) throw secretNotFound([name]);
      res.set('cache-control', 'no-store').json({ name, value });
    } catch (err) {
      next(err);
    }
  });

  v1.post('/render', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const body = req.body as unknown;
      if (body === null || typeof body !== 'object' || Array.isArray(body) || !('template' in body)) {
        throw new OrkaError('INVALID_REQUEST', 'body must be {"template": <string or any JSON>}');
      }
      const template = (body as { template: unknown }).template;
      const names = references(template);
      const values = names.length === 0 ? new Map<string, string>() : await deps.lookup.values(names);
      res.set('cache-control', 'no-store').json({ result: render(template, values) });
    } catch (err) {
      next(err);
    }
  });

  v1.post('/redact', (req: Request, res: Response, next: NextFunction) => {
    const body = req.body as { text?: unknown } | null;
    if (body === null || typeof body !== 'object' || typeof body.text !== 'string') {
      return next(new OrkaError('INVALID_REQUEST', 'body must be {"text": "..."}'));
    }
    res.json({ text: cache.redact(body.text) });
  });

  // A Job's runner ends the (classic-form) sidecar when it is done, so the pod can complete.
  // Under /v1: the same header and Host rules as every other call.
  v1.post('/quit', (_req: Request, res: Response, next: NextFunction) => {
    const quit = deps.quit;
    if (quit === undefined) return next(new OrkaError('NOT_FOUND', 'no such endpoint: POST /quit'));
    res.on('finish', quit);
    res.status(202).json({ quitting: true });
  });

  app.use('/v1', v1);
  app.use((req: Request, _res: Response, next: NextFunction) => next(new OrkaError('NOT_FOUND', `no such endpoint: ${req.method} ${req.path}`)));

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (isOrkaError(err)) return fail(res, err);
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return fail(res, new OrkaError('PAYLOAD_TOO_LARGE', `request body is larger than ${deps.maxBodyBytes} bytes`, { limit: deps.maxBodyBytes }));
    if (e.type === 'entity.parse.failed') return fail(res, new OrkaError('INVALID_REQUEST', 'request body is not valid JSON'));
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return fail(res, new OrkaError('INVALID_REQUEST', 'malformed request'));
    // Unknown: logged without the request, which may hold values.
    deps.log.error({ err: { message: (err as Error).message } }, 'unexpected error');
    fail(res, new OrkaError('INTERNAL', 'internal error'));
  });
  return app;
}
