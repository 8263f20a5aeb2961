/**
 * The operator's Prometheus metrics (prom-client), on a registry made by main.ts. Labels have
 * low cardinality and never carry a value or a token.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the operator exports. */
export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileDuration: Histogram;
  queueDepth: Gauge;
  storedByTenant: Gauge<'tenant'>;
  isLeader: Gauge;
  keyRotations: Counter;
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
    reconciles: new Counter({ name: 'orka_operator_reconciles_total', help: 'Reconciles by result (the Ready reason, Deleted, Gone or Error).', labelNames: ['result'], registers: [registry] }),
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
    onCollect: (fn) => collectors.push(fn),
  };
}
