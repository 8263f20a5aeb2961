/**
 * The operator's composition root: configuration, Kubernetes client, logger, metrics and the three
 * listeners (http/server.ts: resolver API, webhooks, probes and metrics) are made here and nowhere
 * else. Exits non-zero with every configuration problem listed.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import express from 'express';
import { isOrkaError } from '../core/errors.js';
import { batchedStdout, createLogger } from '../core/logger.js';
import { listenerLimits, loadOperatorConfig, type OperatorConfig } from './config.js';
import { createHttpApp } from './http/probes.js';
import { admissionObserver, httpMetrics, listenerEvents, resolveObserver } from './http/metrics.js';
import { plainListener, refuse, secureListener } from './http/server.js';
import { createOperatorMetrics, trackCacheBytes, trackCertificateAndKeys } from './metrics.js';
import { accessReviewFn, guardAccessReview } from './kube/accessreview.js';
import { ClusterCache } from './kube/cache.js';
import { PooledKubeConfig } from './kube/client.js';
import { Operator } from './operator.js';
import { createResolverApp, isResolveRequest, resolveHandler } from './resolver/http.js';
import { ResolveRateLimiter, StreamLimiter } from './resolver/limits.js';
import { webhookHandler } from './admission/webhook.js';
import { recordKeys } from './admission/record.js';

/** After the drain, how long requests already in flight (a resolve takes milliseconds) may take before their connections are closed. */
const IN_FLIGHT_GRACE_MS = 1000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadOperatorConfig(process.env);
  } catch (err) {
    if (!isOrkaError(err)) throw err;
    process.stderr.write(`orka-secrets operator: ${err.message}\n`);
    process.exit(2);
  }
  // Read now, so that a file that cannot be read stops the start before anything listens.
  const clientCa = webhookClientCa(config);
  // Batched: every resolve writes an audit line (core/logger.ts).
  const log = createLogger({ name: 'operator', level: config.ORKA_LOG_LEVEL }, batchedStdout());
  const kc = new PooledKubeConfig();
  if (config.ORKA_KUBECONFIG) kc.loadFromFile(config.ORKA_KUBECONFIG);
  else kc.loadFromDefault();
  const metrics = createOperatorMetrics();
  // The one view of the cluster every part reads (see kube/cache.ts).
  const cache = new ClusterCache(kc, { operatorNamespace: config.ORKA_NAMESPACE, namespaces: config.ORKA_WATCH_NAMESPACES }, log.child({ component: 'cache' }));
  const operator = new Operator(kc, cache, config, log, metrics);
  trackCacheBytes(metrics, cache);
  trackCertificateAndKeys(metrics, { certPem: () => operator.certs.material()?.certPem, keysSince: () => operator.keyRing.current()?.activeSince() });

  const app = createHttpApp({
    registry: metrics.registry,
    health: () => operator.health(),
    sealingCert: () => operator.keyRing.current()?.activeSealing(),
  });
  const limits = listenerLimits(config);
  const { server } = plainListener(limits.http, listenerEvents(metrics, 'http'), app);
  server.listen(config.ORKA_HTTP_PORT, config.ORKA_HTTP_ADDRESS);
  await once(server, 'listening');
  log.info({ address: server.address(), namespace: config.ORKA_NAMESPACE, identity: config.ORKA_POD_NAME, server: kc.getCurrentCluster()?.server }, 'operator starting');

  let stopping = false;
  // Made now so shutdown can close them; they get their certificate (setSecureContext) once
  // loaded, which is also how a renewed certificate is swapped in without a restart. The webhooks
  // have a listener of their own, for the apiserver only (a NetworkPolicy can keep it so; a client
  // certificate can be required), so the resolver's port, open to every tenant's pods, never reads
  // an AdmissionReview.
  const resolverEvents = listenerEvents(metrics, 'resolver');
  const resolverListener = secureListener(limits.resolver, resolverEvents);
  const webhookListener = secureListener(limits.webhooks, listenerEvents(metrics, 'webhooks'), clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: true, ca: clientCa });
  const resolverServer = resolverListener.server;
  const webhookServer = webhookListener.server;
  // A stop in three steps. Kubernetes takes a terminating pod out of its Service at once, but
  // every node's kube-proxy learns it a moment later, and connections keep arriving meanwhile:
  // closing at once failed them (the e2e upgrade saw a sidecar's resolve answered 503).
  // 1. Step down: not ready, no new reconciles, the lease released (another replica leads now).
  // 2. Drain (ORKA_SHUTDOWN_DRAIN from the signal): resolves and webhooks are still answered,
  //    each answer closing its connection so the client's next one goes through the Service.
  // 3. Close: change streams end (sidecars reconnect elsewhere), requests in flight get a moment,
  //    then every connection is closed and the caches stop.
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const signalled = Date.now();
    log.info({ signal, drainSeconds: config.ORKA_SHUTDOWN_DRAIN }, 'shutting down: stepping down, answering until the drain ends, then closing');
    const deadline = setTimeout(() => {
      log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.ORKA_SHUTDOWN_TIMEOUT * 1000);
    deadline.unref();
    await operator.stepDown();
    // A replica stopped before its resolver listened was never in the Service: nothing to drain.
    if (resolverServer.listening || webhookServer.listening) await delay(Math.max(0, config.ORKA_SHUTDOWN_DRAIN * 1000 - (Date.now() - signalled)));
    log.info('drain over: closing the servers');
    operator.resolver.closeStreams();
    const servers: Array<HttpServer | HttpsServer> = [server, resolverServer, webhookServer];
    // close() stops accepting and closes idle connections; the ones in use get a moment.
    const closed = Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
    await Promise.race([closed, delay(IN_FLIGHT_GRACE_MS)]);
    for (const s of servers) s.closeAllConnections();
    await operator.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  await operator.start();

  // The resolver API and the admission webhooks: HTTPS with the operator's own certificate,
  // made by the leader at first start and swapped in at each renewal without a restart.
  const material = await operator.certs.start();
  if (stopping) return;
  // setSecureContext replaces the whole context: the CA that client certificates are checked
  // against goes with every certificate swapped in.
  const swapIn = (m: { certPem: string; keyPem: string }) => {
    resolverServer.setSecureContext({ cert: m.certPem, key: m.keyPem });
    webhookServer.setSecureContext({ cert: m.certPem, key: m.keyPem, ...(clientCa === undefined ? {} : { ca: clientCa }) });
  };
  swapIn(material);
  operator.certs.onChange(swapIn);
  const secureApp = express();
  secureApp.disable('x-powered-by');
  secureApp.use(httpMetrics(metrics));
  const streams = new StreamLimiter({ total: config.ORKA_MAX_STREAMS, perIdentity: config.ORKA_MAX_STREAMS_PER_IDENTITY });
  secureApp.use(createResolverApp({ resolver: operator.resolver, auth: operator.auth, streams, audit: log.child({ component: 'audit' }) }));
  // POST /v1/resolve, the hot path, and the admission webhooks, which the apiserver waits for,
  // are served on node:http without express (docs/design/capacity.md, docs/design/admission-latency.md).
  const rate = config.ORKA_RESOLVE_RATE > 0 ? new ResolveRateLimiter({ rate: config.ORKA_RESOLVE_RATE, burst: config.ORKA_RESOLVE_BURST }) : undefined;
  const resolve = resolveHandler({ resolver: operator.resolver, auth: operator.auth, usage: operator.usage, audit: log.child({ component: 'audit' }), observe: resolveObserver(metrics), rate, bodies: resolverListener.bodies });
  // Whoever reaches the webhooks can make them ask: answers are reused briefly and the questions rate-limited.
  const canI = guardAccessReview(accessReviewFn(kc), {
    ttlMs: config.ORKA_ACCESS_REVIEW_CACHE_TTL * 1000,
    maxEntries: 4096,
    perSecond: config.ORKA_ACCESS_REVIEW_RATE,
    burst: 2 * config.ORKA_ACCESS_REVIEW_RATE,
    observe: (outcome) => metrics.accessReviews.inc({ outcome }),
  });
  const webhooks = webhookHandler({
    injectConfig: () => operator.injectConfig(),
    tenancy: (ns) => cache.tenancy(ns),
    namespace: (name) => cache.namespaces.get(name),
    canI,
    recordKeys: () => {
      const ring = operator.keyRing.current();
      return ring === undefined ? undefined : recordKeys(ring);
    },
    // A namespace made a moment ago may not be in the cache yet: the API has it.
    namespaceUid: async (ns) => cache.namespaceUid(ns) ?? (await operator.dataKeys.namespaceUidNow(ns)),
    log: log.child({ component: 'webhook' }),
    observe: admissionObserver(metrics),
    bodies: webhookListener.bodies,
  });
  resolverServer.on('request', (req, res) => {
    // Draining: answer, but have the client open its next connection through the Service.
    if (stopping) res.setHeader('connection', 'close');
    if (isResolveRequest(req)) resolve(req, res);
    else if (isWebhookPath(req.url)) {
      // Whoever calls the webhooks here is not the apiserver: refused before a byte of the body is read.
      resolverEvents.refused('wrong-port');
      refuse(res, 404, { error: { code: 'INVALID_REQUEST', message: 'the admission webhooks are not served on this port' } });
    } else secureApp(req, res);
  });
  webhookServer.on('request', (req, res) => {
    if (stopping) res.setHeader('connection', 'close');
    if (!webhooks(req, res)) refuse(res, 404, { error: { code: 'INVALID_REQUEST', message: 'no such endpoint: this port serves POST /webhooks/mutate-pods and /webhooks/validate-orkasecrets' } });
  });
  webhookServer.listen(config.ORKA_WEBHOOK_PORT, config.ORKA_WEBHOOK_ADDRESS);
  resolverServer.listen(config.ORKA_RESOLVER_PORT, config.ORKA_RESOLVER_ADDRESS);
  await Promise.all([once(webhookServer, 'listening'), once(resolverServer, 'listening')]);
  log.info({ address: resolverServer.address(), webhooks: webhookServer.address(), clientCertificates: clientCa !== undefined }, 'resolver API and webhooks listening');
}

/** Whether a path is under /webhooks/ (served on the webhook listener only). */
function isWebhookPath(url: string | undefined): boolean {
  return url !== undefined && (url === '/webhooks' || url.startsWith('/webhooks/') || url.startsWith('/webhooks?'));
}

/** The CA certificates (PEM) the apiserver's client certificate must be signed by, if required. */
function webhookClientCa(config: OperatorConfig): string | undefined {
  const path = config.ORKA_WEBHOOK_CLIENT_CA;
  if (path === undefined) return undefined;
  try {
    const pem = readFileSync(path, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return pem;
  } catch (err) {
    process.stderr.write(`orka-secrets operator: ORKA_WEBHOOK_CLIENT_CA: cannot read ${path}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

main().catch((err: unknown) => {
  // Last resort: a message, never an object dump that could carry request data.
  process.stderr.write(`orka-secrets operator: fatal: ${(err as Error).message}\n`);
  process.exit(1);
});
