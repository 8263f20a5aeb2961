/**
 * The operator's plain HTTP endpoints: liveness, readiness, Prometheus metrics and the public
 * sealing certificate for offline sealing. An express app built without listening.
 */
import express, { type Express } from 'express';
import type { Registry } from 'prom-client';
import { formatHealth, type Health } from '../health.js';

/** What the HTTP app needs to know. */
export interface HttpDeps {
  registry: Registry;
  /** Readiness with its reasons (see health.ts). */
  health: () => Health;
  /** The active sealing certificate and its key id, if known. */
  sealingCert: () => { id: string; certPem: string } | undefined;
}

/** Builds the app. */
export function createHttpApp(deps: HttpDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  // The body says why, one line per check, as the apiserver's own /readyz?verbose does.
  app.get('/readyz', (_req, res) => {
    const health = deps.health();
    res.status(health.ready ? 200 : 503).type('text/plain').send(formatHealth(health));
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  app.get('/v1/cert.pem', (_req, res) => {
    const cert = deps.sealingCert();
    if (cert === undefined) {
      res.status(503).json({ error: { code: 'UPSTREAM_UNAVAILABLE', message: 'the sealing key is not loaded yet' } });
      return;
    }
    res.type('application/x-pem-file').setHeader('X-Orka-Key-Id', cert.id).send(cert.certPem);
  });
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'INVALID_REQUEST', message: 'no such endpoint' } });
  });
  return app;
}
