/**
 * The sidecar's composition root: listens on 127.0.0.1 only, metrics on their own port.
 * Nothing here (or anywhere in the sidecar) writes to disk.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isOrkaError } from '../core/errors.js';
import { Throttle } from '../core/throttle.js';
import { createSidecarApp } from './app.js';
import { createSidecarLogger } from './log.js';
import { parseRevision } from '../core/revision.js';
import { ValueCache } from './cache.js';
import { loadSidecarConfig } from './config.js';
import { Lookup } from './lookup.js';
import { createSidecarMetrics } from './metrics.js';
import { Upstream } from './upstream.js';

/** While the operator refuses the change stream, one warning per this interval (the rest counted in it). */
const REFUSED_WARNING_INTERVAL_MS = 60_000;

// node:http through require, not import: an ES import builds the module's whole namespace, whose
// lazy getters (WebSocket and friends) load undici: 13 MiB of RSS in every runner pod, measured.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

async function main(): Promise<void> {
  let config;
  try {
    config = loadSidecarConfig(process.env);
  } catch (err) {
    if (!isOrkaError(err)) throw err;
    process.stderr.write(`orka-secrets sidecar: ${err.message}\n`);
    process.exit(2);
  }
  const log = createSidecarLogger({ service: 'sidecar', level: config.ORKA_LOG_LEVEL });
  const metrics = createSidecarMetrics();
  let budgetWarned = false;
  const cache = new ValueCache({
    maxEntries: config.ORKA_CACHE_MAX_ENTRIES,
    maxBytes: config.ORKA_CACHE_MAX_BYTES,
    staleAfterMs: config.ORKA_CACHE_STALE_AFTER * 1000,
    redactGraceMs: config.ORKA_REDACT_GRACE * 1000,
    onBudget: (dropped) => {
      metrics.budgetEvictions.inc(dropped);
      if (!budgetWarned) log.warn({ maxBytes: config.ORKA_CACHE_MAX_BYTES }, 'ORKA_CACHE_MAX_BYTES reached: the least recently used values are dropped from memory and fetched again when needed');
      budgetWarned = true;
    },
  });
  const upstream = new Upstream({
    baseUrl: config.ORKA_OPERATOR_URL,
    tokenFile: config.ORKA_TOKEN_FILE,
    caPem: config.ORKA_CA_PEM ?? readFileSync(config.ORKA_CA_FILE, 'utf8'),
    timeoutMs: config.ORKA_UPSTREAM_TIMEOUT * 1000,
    refusedBackoffMaxMs: config.ORKA_REFUSED_BACKOFF_MAX * 1000,
    onBehind: (names) => metrics.staleAnswers.inc(names),
  });
  const refusedWarnings = new Throttle({ intervalMs: REFUSED_WARNING_INTERVAL_MS });
  const stream = upstream.follow(
    (change) => cache.changed(change.name, parseRevision(change.revision), change.deleted),
    (up) => {
      if (up !== cache.isStreamUp) log.info({ changeStream: up ? 'up' : 'down' }, up ? 'change stream connected' : 'change stream lost; cached values expire after ORKA_CACHE_STALE_AFTER');
      cache.setStreamUp(up);
      metrics.streamUp.set(up ? 1 : 0);
    },
    (refusal) => {
      const held = refusedWarnings.pass('stream');
      if (held === undefined) return;
      log.warn({ status: refusal.status, code: refusal.code, reason: refusal.message, retryInSeconds: Math.round(refusal.retryInMs / 1000), ...(held > 0 ? { suppressed: held } : {}) }, 'the operator refused the change stream; asking again with backoff (values are fetched on each use meanwhile, after ORKA_CACHE_STALE_AFTER)');
    },
    () => {
      if (cache.size > 0) log.warn({ forgotten: cache.size }, 'the operator revoked this pod\'s access (its namespace is no longer a tenant, or its token is no longer valid): every value held is forgotten');
      cache.forgetAll();
    },
  );
  const lookup = new Lookup({ cache, resolve: (names) => upstream.resolve(names), metrics, staleWaitMs: config.ORKA_UPSTREAM_TIMEOUT * 1000 });
  const app = createSidecarApp({ maxBodyBytes: config.ORKA_MAX_BODY_BYTES, cache, lookup, metrics, log, quit: () => shutdown('POST /v1/quit') });
  const server = createServer(app).listen(config.ORKA_SIDECAR_PORT, '127.0.0.1');
  await once(server, 'listening');
  const metricsServer = createServer((req, res) => {
    const found = req.method === 'GET' && (req.url ?? '').split('?', 1)[0] === '/metrics';
    res.writeHead(found ? 200 : 404, { 'content-type': found ? metrics.contentType : 'text/plain' });
    res.end(found ? metrics.render() : 'not found\n');
  }).listen(config.ORKA_SIDECAR_METRICS_PORT, config.ORKA_SIDECAR_METRICS_ADDRESS);
  await once(metricsServer, 'listening');
  log.info({ port: config.ORKA_SIDECAR_PORT, metricsPort: config.ORKA_SIDECAR_METRICS_PORT, operator: config.ORKA_OPERATOR_URL }, 'sidecar listening on 127.0.0.1');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing requests in flight');
    stream.stop();
    setTimeout(() => process.exit(1), config.ORKA_SHUTDOWN_TIMEOUT * 1000).unref();
    server.close(() => {
      metricsServer.close();
      upstream.close();
      log.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`orka-secrets sidecar: fatal: ${(err as Error).message}\n`);
  process.exit(1);
});
