/**
 * The sidecar's HTTP API (docs/runner-api.md), as a node:http request listener (no listening):
 *   GET  /v1/secrets/{NAME}  -> {"name", "value"}
 *   POST /v1/render          {"template": <string or JSON>} -> {"result": <same shape>}
 *   POST /v1/redact          {"text"} -> {"text"} with every served value masked
 *   POST /v1/quit            -> 202, then the sidecar ends (when the composition root allows it)
 *   GET  /healthz, /readyz
 * Every /v1/ request needs `X-Orka-Request: true` and a Host of 127.0.0.1:<port> or
 * localhost:<port> (SSRF and DNS-rebinding guard); a request with an Origin header (a browser) is
 * refused. Errors are {"error": {"code", "message", ...}}, unknown routes and methods included;
 * a resolve the operator refused as over the tenant's rate is 429 TOO_MANY_REQUESTS with
 * `retryAfter` (seconds) and the Retry-After header, not UPSTREAM_UNAVAILABLE: the operator is up.
 *
 * Plain node:http rather than express: five routes, and every runner pod pays for the sidecar's
 * memory (express costs about 26 MiB of RSS) and its speed (docs/design/sidecar-footprint.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isOrkaError, OrkaError, secretNotFound } from '../core/errors.js';
import { assertSecretName } from '../core/names.js';
import { references, render } from '../core/template.js';
import type { ValueCache } from './cache.js';
import type { SidecarLogger } from './log.js';
import type { Lookup } from './lookup.js';
import type { SidecarMetrics } from './metrics.js';

/** What the app needs. */
export interface SidecarDeps {
  maxBodyBytes: number;
  cache: ValueCache;
  lookup: Lookup;
  metrics: SidecarMetrics;
  log: SidecarLogger;
  /** Ends the sidecar after POST /v1/quit has been answered (the classic form in Jobs). */
  quit?: () => void;
}

/** A request listener for node:http's createServer. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

const SECRETS = '/v1/secrets/';

function send(res: ServerResponse, status: number, body: unknown, noStore = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(noStore ? { 'cache-control': 'no-store' } : {}),
  });
  res.end(text);
}

function fail(res: ServerResponse, err: OrkaError): void {
  // The operator rate-limits the tenant: the runner learns when to try again, as it would from the operator.
  if (typeof err.details.retryAfter === 'number') res.setHeader('retry-after', String(err.details.retryAfter));
  send(res, err.status, err.toBody());
}

/** The request body as JSON, at most `limit` bytes (PAYLOAD_TOO_LARGE past it). */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new OrkaError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`, { limit }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new OrkaError('INVALID_REQUEST', 'request body is not valid JSON'));
      }
    });
    req.on('error', () => reject(new OrkaError('INVALID_REQUEST', 'the request was interrupted')));
  });
}

/** The endpoint label of a request, for metrics (low cardinality: never a secret's name). */
function endpointOf(method: string, path: string): string {
  if (method === 'GET' && path.startsWith(SECRETS)) return 'GET /v1/secrets/:name';
  const known = `${method} ${path}`;
  return ['GET /healthz', 'GET /readyz', 'POST /v1/render', 'POST /v1/redact', 'POST /v1/quit'].includes(known) ? known : 'other';
}

/** Builds the request listener. */
export function createSidecarApp(deps: SidecarDeps): RequestListener {
  const { cache, metrics, maxBodyBytes } = deps;

  async function secret(name: string, res: ServerResponse): Promise<void> {
    const checked = assertSecretName(name);
    const value = (await deps.lookup.values([checked])).get(checked);
    if (value === undefined) throw secretNotFound([checked]);
    send(res, 200, { name: checked, value }, true);
  }

  async function renderRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, maxBodyBytes);
    if (body === null || typeof body !== 'object' || Array.isArray(body) || !('template' in body)) {
      throw new OrkaError('INVALID_REQUEST', 'body must be {"template": <string or any JSON>}');
    }
    const template = (body as { template: unknown }).template;
    const names = references(template);
    const values = names.length === 0 ? new Map<string, string>() : await deps.lookup.values(names);
    send(res, 200, { result: render(template, values) }, true);
  }

  async function redactRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readJson(req, maxBodyBytes)) as { text?: unknown } | null;
    if (body === null || typeof body !== 'object' || typeof body.text !== 'string') throw new OrkaError('INVALID_REQUEST', 'body must be {"text": "..."}');
    send(res, 200, { text: cache.redact(body.text) });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    // Edges first: no browser has business here (a page could otherwise make the runner's
    // localhost call for it), OPTIONS gets no CORS answer, and a declared body over the limit is
    // refused before a byte of it is read.
    if (req.headers.origin !== undefined) throw new OrkaError('FORBIDDEN', 'requests from a browser (with an Origin header) are refused');
    if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) {
      res.setHeader('connection', 'close');
      throw new OrkaError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBodyBytes} bytes`, { limit: maxBodyBytes });
    }
    if (method === 'GET' && path === '/healthz') {
      send(res, 200, { status: 'ok' });
      return;
    }
    // Ready once listening: a runner pod must not turn unready because the operator restarts;
    // while the stream is down, answers follow the documented fallback instead.
    if (method === 'GET' && path === '/readyz') {
      send(res, 200, { status: 'ok', changeStream: cache.isStreamUp ? 'up' : 'down' });
      return;
    }
    if (path.startsWith('/v1/')) {
      if (req.headers['x-orka-request'] !== 'true') throw new OrkaError('FORBIDDEN', 'the header X-Orka-Request: true is required');
      // The port is the one this request came in on, so the app needs no configuration for it.
      const port = req.socket.localPort;
      const host = req.headers.host ?? '';
      if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) throw new OrkaError('FORBIDDEN', `Host must be 127.0.0.1:${port} or localhost:${port}`);
      if (method === 'GET' && path.startsWith(SECRETS) && path.indexOf('/', SECRETS.length) < 0) {
        let name: string;
        try {
          name = decodeURIComponent(path.slice(SECRETS.length));
        } catch {
          throw new OrkaError('INVALID_REQUEST', 'malformed request');
        }
        await secret(name, res);
        return;
      }
      if (method === 'POST' && path === '/v1/render') {
        await renderRoute(req, res);
        return;
      }
      if (method === 'POST' && path === '/v1/redact') {
        await redactRoute(req, res);
        return;
      }
      // A Job's runner ends the (classic-form) sidecar when it is done, so the pod can complete.
      // Under /v1: the same header and Host rules as every other call.
      if (method === 'POST' && path === '/v1/quit' && deps.quit !== undefined) {
        res.on('finish', deps.quit);
        send(res, 202, { quitting: true });
        return;
      }
    }
    throw new OrkaError('NOT_FOUND', `no such endpoint: ${method} ${path}`);
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    const endpoint = endpointOf(req.method ?? 'GET', path);
    res.on('finish', () => metrics.observe(endpoint, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    handle(req, res, path).catch(
      (err: unknown) => {
        if (res.headersSent) return;
        if (isOrkaError(err)) return fail(res, err);
        // Unknown: logged without the request, which may hold values.
        deps.log.error({ err: { message: (err as Error).message } }, 'unexpected error');
        fail(res, new OrkaError('INTERNAL', 'internal error'));
      },
    );
  };
}
