/**
 * The operator's Prometheus metrics (prom-client), on a registry made by main.ts. Labels have
 * low cardinality and never carry a value or a token.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { certInfo } from '../core/pki.js';

/** Every metric the operator exports. */
export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileDuration: Histogram;
  queueDepth: Gauge;
  storedByTenant: Gauge<'tenant'>;
  isLeader: Gauge;
  keyRotations: Counter;
  /** Data-key Secrets seen deleted, by tenant: every value of that tenant had to be stored again or is lost. */
  dataKeysLost: Counter<'tenant'>;
  /** Resolver API requests by outcome (ok, partial, unauthenticated, forbidden, invalid, unavailable, error). */
  resolverRequests: Counter<'outcome'>;
  resolverDuration: Histogram;
  /** Open change streams (GET /v1/changes), one per running sidecar. */
  resolverStreams: Gauge;
  /** Admission reviews by webhook (mutate-pods, validate-orkasecrets) and result (allowed, mutated, denied, error). */
  admissions: Counter<'webhook' | 'result'>;
  admissionDuration: Histogram<'webhook'>;
  /** Access questions of the admission webhook: asked (allowed, denied, error), answered from the cache, or refused by the rate limit. */
  accessReviews: Counter<'outcome'>;
  /** When the serving certificate in use expires (Unix seconds). */
  certificateExpiry: Gauge;
  /** Age of the active keys (key-encryption and sealing), in seconds. */
  keyAge: Gauge;
  /** Stored values still under an earlier data key of their tenant, by tenant (re-encryption after a rotation). */
  reencryptionPending: Gauge<'tenant'>;
  /** Stored values this replica re-encrypted to a new data key. */
  reencrypted: Counter;
  /** Resolver memo lookups (./resolver/memo.ts) by result: hit (no decrypt) or miss (opened). */
  resolveMemoLookups: Counter<'result'>;
  /** Bytes of opened values the resolver memo holds (an upper bound). */
  resolveMemoBytes: Gauge;
  /** Bytes the operator's caches hold, by cache (storage, orkasecrets), as JSON characters. */
  cacheBytes: Gauge<'cache'>;
  /** Request-body bytes each listener (resolver, webhooks, http) holds now: at most its body budget (http/server.ts). */
  httpBodyBytes: Gauge<'listener'>;
  /** What each listener refused, by reason (connections, timeout, bad-request, too-large, body-budget, wrong-port). */
  httpRefusals: Counter<'listener' | 'reason'>;
  /** Registers work to do just before each scrape (gauges computed from caches). */
  onCollect(fn: () => void): void;
}

/** Creates the metrics on a fresh registry. */
export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'orka_operator_' });
  const collectors: Array<() => void> = [];
  const queueDepth = new Gauge({
    name: 'orka_operator_queue_depth',
    help: 'OrkaSecret keys waiting to be reconciled.',
    registers: [registry],
    collect: () => {
      for (const fn of collectors) fn();
    },
  });
  return {
    registry,
    reconciles: new Counter({ name: 'orka_operator_reconciles_total', help: 'Reconciles by result (the Ready reason, Deleted, Gone, Requeued or Error).', labelNames: ['result'], registers: [registry] }),
    reconcileDuration: new Histogram({
      name: 'orka_operator_reconcile_duration_seconds',
      help: 'Time to reconcile one OrkaSecret.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    queueDepth,
    storedByTenant: new Gauge({ name: 'orka_operator_secrets_stored', help: 'Stored secrets by tenant namespace.', labelNames: ['tenant'], registers: [registry] }),
    isLeader: new Gauge({ name: 'orka_operator_is_leader', help: '1 when this replica holds the lease.', registers: [registry] }),
    keyRotations: new Counter({ name: 'orka_operator_key_rotations_total', help: 'Key rotations done by this replica.', registers: [registry] }),
    dataKeysLost: new Counter({ name: 'orka_operator_data_keys_lost_total', help: 'Tenant data-key Secrets seen deleted (values stored again from their source, or lost).', labelNames: ['tenant'], registers: [registry] }),
    resolverRequests: new Counter({ name: 'orka_operator_resolver_requests_total', help: 'Resolver API requests by outcome.', labelNames: ['outcome'], registers: [registry] }),
    resolverDuration: new Histogram({
      name: 'orka_operator_resolver_request_duration_seconds',
      help: 'Time to answer a resolve request (token review included).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    resolverStreams: new Gauge({ name: 'orka_operator_resolver_streams_open', help: 'Open change streams from sidecars.', registers: [registry] }),
    admissions: new Counter({ name: 'orka_operator_admissions_total', help: 'Admission reviews by webhook and result.', labelNames: ['webhook', 'result'], registers: [registry] }),
    admissionDuration: new Histogram({
      name: 'orka_operator_admission_duration_seconds',
      help: 'Time to answer an admission review.',
      labelNames: ['webhook'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    accessReviews: new Counter({
      name: 'orka_operator_access_reviews_total',
      help: 'Access questions of the admission webhook by outcome: allowed, denied or error (a SubjectAccessReview was sent), cached or limited (none was).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    certificateExpiry: new Gauge({ name: 'orka_operator_certificate_expiry_timestamp_seconds', help: 'When the serving certificate in use expires (Unix time).', registers: [registry] }),
    keyAge: new Gauge({ name: 'orka_operator_key_age_seconds', help: 'Age of the active key-encryption and sealing keys.', registers: [registry] }),
    reencryptionPending: new Gauge({
      name: 'orka_operator_reencryption_pending',
      help: 'Stored values still under an earlier data key of their tenant, waiting to be re-encrypted after a rotation.',
      labelNames: ['tenant'],
      registers: [registry],
    }),
    reencrypted: new Counter({ name: 'orka_operator_values_reencrypted_total', help: 'Stored values re-encrypted to a new data key by this replica.', registers: [registry] }),
    resolveMemoLookups: new Counter({ name: 'orka_operator_resolve_memo_lookups_total', help: 'Resolver memo lookups by result: hit (value not decrypted again) or miss.', labelNames: ['result'], registers: [registry] }),
    resolveMemoBytes: new Gauge({ name: 'orka_operator_resolve_memo_bytes', help: 'Bytes of opened values the resolver memo holds (an upper bound).', registers: [registry] }),
    cacheBytes: new Gauge({ name: 'orka_operator_cache_bytes', help: 'Bytes the storage and OrkaSecret caches hold, as JSON (an estimate).', labelNames: ['cache'], registers: [registry] }),
    httpBodyBytes: new Gauge({ name: 'orka_operator_http_body_bytes_in_flight', help: 'Request-body bytes a listener holds now, across its requests (at most its body budget).', labelNames: ['listener'], registers: [registry] }),
    httpRefusals: new Counter({ name: 'orka_operator_http_refusals_total', help: 'Connections and requests a listener refused, by reason.', labelNames: ['listener', 'reason'], registers: [registry] }),
    onCollect: (fn) => collectors.push(fn),
  };
}

/** Sets the cache-size gauge at each scrape, from what the caches hold then. */
export function trackCacheBytes(metrics: OperatorMetrics, cache: { heldBytes(): Array<{ cache: string; bytes: number }> }): void {
  metrics.onCollect(() => {
    for (const { cache: name, bytes } of cache.heldBytes()) metrics.cacheBytes.set({ cache: name }, bytes);
  });
}

/** Copies the resolver memo's counts into its metrics at each scrape (none is counted per lookup). */
export function trackResolveMemo(metrics: OperatorMetrics, memo: { stats(): { hits: number; misses: number; bytes: number } }): void {
  let told = { hits: 0, misses: 0 };
  metrics.onCollect(() => {
    const now = memo.stats();
    metrics.resolveMemoLookups.inc({ result: 'hit' }, now.hits - told.hits);
    metrics.resolveMemoLookups.inc({ result: 'miss' }, now.misses - told.misses);
    metrics.resolveMemoBytes.set(now.bytes);
    told = now;
  });
}

/** Sets the certificate-expiry and key-age gauges at each scrape, from what is loaded then. */
export function trackCertificateAndKeys(metrics: OperatorMetrics, loaded: { certPem: () => string | undefined; keysSince: () => Date | undefined; now?: () => Date }): void {
  let parsed: { pem: string; notAfter: number } | undefined;
  metrics.onCollect(() => {
    const pem = loaded.certPem();
    if (pem !== undefined && parsed?.pem !== pem) parsed = { pem, notAfter: certInfo(pem).notAfter.getTime() / 1000 };
    if (parsed !== undefined) metrics.certificateExpiry.set(parsed.notAfter);
    const since = loaded.keysSince();
    if (since !== undefined) metrics.keyAge.set(((loaded.now?.() ?? new Date()).getTime() - since.getTime()) / 1000);
  });
}
