/**
 * The sidecar's Prometheus metrics, served on their own port. Labels: endpoint and status code
 * only; never a name of a secret, never a value.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the sidecar exports. */
export interface SidecarMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'code'>;
  duration: Histogram<'endpoint'>;
  cacheHits: Counter;
  cacheMisses: Counter;
  upstreamErrors: Counter;
  staleAnswers: Counter;
  budgetEvictions: Counter;
  streamUp: Gauge;
}

/** Creates the metrics on a fresh registry. */
export function createSidecarMetrics(): SidecarMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'orka_sidecar_' });
  return {
    registry,
    requests: new Counter({ name: 'orka_sidecar_requests_total', help: 'Requests by endpoint and HTTP status.', labelNames: ['endpoint', 'code'], registers: [registry] }),
    duration: new Histogram({ name: 'orka_sidecar_request_duration_seconds', help: 'Request duration by endpoint.', labelNames: ['endpoint'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: [registry] }),
    cacheHits: new Counter({ name: 'orka_sidecar_cache_hits_total', help: 'Names answered from memory.', registers: [registry] }),
    cacheMisses: new Counter({ name: 'orka_sidecar_cache_misses_total', help: 'Names fetched from the operator.', registers: [registry] }),
    upstreamErrors: new Counter({ name: 'orka_sidecar_upstream_errors_total', help: 'Failed calls to the operator.', registers: [registry] }),
    staleAnswers: new Counter({ name: 'orka_sidecar_stale_answers_total', help: 'Names the operator answered with a state older than a change already seen (asked again).', registers: [registry] }),
    budgetEvictions: new Counter({ name: 'orka_sidecar_cache_budget_evictions_total', help: 'Values dropped from memory to stay within ORKA_CACHE_MAX_BYTES (fetched again when needed).', registers: [registry] }),
    streamUp: new Gauge({ name: 'orka_sidecar_change_stream_up', help: '1 while the change stream to the operator is connected.', registers: [registry] }),
  };
}
