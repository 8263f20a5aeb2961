/**
 * The operator's configuration: ORKA_* environment variables (see the README's table, which
 * `configDocs(operatorEnv)` generates).
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { duration, flag, integer, list, logLevel, parseDuration, parseEnv, port } from '../core/config.js';
import { OrkaError } from '../core/errors.js';

/** Every variable the operator reads. */
export const operatorEnv = z.object({
  ORKA_LOG_LEVEL: logLevel().describe('Log level: fatal, error, warn, info, debug, trace or silent.'),
  ORKA_NAMESPACE: z.string().default('orka-system').describe('Namespace of the operator: holds its keys, data keys, lease and sealing certificate.'),
  ORKA_KUBECONFIG: z.string().optional().describe('Path of a kubeconfig to run outside a cluster; unset: in-cluster config (or $KUBECONFIG).'),
  ORKA_POD_NAME: z.string().default(hostname()).describe('Identity of this replica in the leader lease (the pod name).'),
  ORKA_WATCH_NAMESPACES: list().describe('Comma-separated namespaces whose OrkaSecrets to reconcile; empty: all namespaces.'),
  ORKA_WORKERS: integer(4, 1, 64).describe('Reconciles run in parallel.'),
  ORKA_RESYNC_PERIOD: duration('10m').describe('Every OrkaSecret is reconciled again this often, to catch anything a watch missed.'),
  ORKA_KEY_ROTATION_PERIOD: duration('90d').describe("Make new active keys (key-encryption, sealing, every tenant's data key) this often; stored values are re-encrypted to the new data keys."),
  ORKA_SEALING_KEY_RETENTION: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text === '' || text === 'forever') return undefined;
      const seconds = parseDuration(text);
      if (seconds === undefined || seconds <= 0) {
        ctx.addIssue({ code: 'custom', message: 'is not a duration such as 30d, or forever' });
        return z.NEVER;
      }
      return seconds;
    })
    .describe('How long a replaced sealing key still opens values sealed with it (manifests in Git); forever when unset.'),
  ORKA_REENCRYPT_RATE: integer(10, 1, 10_000).describe(
    'After a rotation gives each tenant a new data key, at most this many stored values per second are re-encrypted to it (each is one write to the apiserver and one re-fetch by the sidecars that use it).',
  ),
  ORKA_LEASE_DURATION: duration('15s').describe('How long a leader lease lasts without renewal before another replica may take over.'),
  ORKA_LEASE_RENEW_DEADLINE: duration('10s').describe('A leader that could not renew for this long steps down.'),
  ORKA_LEASE_RETRY_PERIOD: duration('2s').describe('How often replicas try to acquire or renew the lease.'),
  ORKA_MAX_STALENESS: duration('15s').describe('A replica whose caches were last known current longer ago than this fails /readyz, closes its change streams and answers resolves with UPSTREAM_UNAVAILABLE.'),
  ORKA_HTTP_ADDRESS: z.string().default('0.0.0.0').describe('Address of the HTTP server (/healthz, /readyz, /metrics, /v1/cert.pem).'),
  ORKA_HTTP_PORT: port(8080).describe('Port of the HTTP server.'),
  ORKA_RESOLVER_ADDRESS: z.string().default('0.0.0.0').describe('Address of the resolver API (HTTPS) that sidecars call.'),
  ORKA_RESOLVER_PORT: port(8443).describe('Port of the resolver API.'),
  ORKA_SERVING_HOSTS: list().describe('DNS names and IPs of the serving certificate; empty: orka-secrets-operator.<namespace>.svc (and .cluster.local), localhost, 127.0.0.1.'),
  ORKA_TLS_MANAGED: flag(true).describe('Make, renew and publish the serving certificate (Secret orka-secrets-tls); false: it comes from elsewhere (cert-manager), the operator only loads and watches it.'),
  ORKA_CERT_VALIDITY: duration('365d').describe('Validity of the serving certificates the operator issues.'),
  ORKA_CERT_RENEW_BEFORE: duration('30d').describe('Renew the serving certificate when less than this is left.'),
  ORKA_CERT_CHECK_PERIOD: duration('1h').describe('How often the leader checks the certificate and the webhook CA bundles.'),
  ORKA_MUTATING_WEBHOOK: z.string().default('orka-secrets').describe('MutatingWebhookConfiguration whose CA bundle the operator keeps current.'),
  ORKA_VALIDATING_WEBHOOK: z.string().default('orka-secrets').describe('ValidatingWebhookConfiguration whose CA bundle the operator keeps current.'),
  ORKA_OPERATOR_SERVICE_URL: z.string().optional().describe('How injected sidecars reach the resolver API; default https://orka-secrets-operator.<namespace>.svc:<ORKA_RESOLVER_PORT>.'),
  ORKA_SIDECAR_IMAGE: z.string().default('orka-secrets:0.1.0').describe('Image of the injected sidecar.'),
  ORKA_SIDECAR_IMAGE_PULL_POLICY: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent').describe('Pull policy of the sidecar image.'),
  ORKA_SIDECAR_PORT: port(8731).describe('Port of the injected sidecar on 127.0.0.1.'),
  ORKA_SIDECAR_CPU_REQUEST: z.string().default('10m').describe('CPU request of the sidecar.'),
  ORKA_SIDECAR_MEMORY_REQUEST: z.string().default('96Mi').describe('Memory request of the sidecar.'),
  ORKA_SIDECAR_MEMORY_LIMIT: z.string().default('160Mi').describe('Memory limit of the sidecar.'),
  ORKA_SIDECAR_TOKEN_EXPIRATION: duration('10m').describe('Lifetime of the projected token (the kubelet renews it; 10m is the least Kubernetes allows).'),
  ORKA_NATIVE_SIDECAR: z
    .enum(['auto', 'true', 'false'])
    .default('auto')
    .describe('Native-sidecar form (init container with restartPolicy Always): auto = where the apiserver is >= 1.29 (on by default there); true or false to force.'),
  ORKA_TOKEN_AUDIENCE: z.string().default('orka-secrets').describe('Audience a sidecar token must be issued for.'),
  ORKA_TOKEN_CACHE_SIZE: integer(10000, 1, 1_000_000).describe('Most token reviews kept in memory.'),
  ORKA_TOKEN_CACHE_TTL: duration('2m').describe('Longest a token review is reused (never past the token expiry).'),
  ORKA_ACCESS_REVIEW_CACHE_TTL: duration('10s', { zero: true }).describe(
    "How long the admission webhook reuses a SubjectAccessReview's answer (same user, groups, namespace and Secret): a revoked right is still seen as granted at admission for this long; 0: never reused.",
  ),
  ORKA_ACCESS_REVIEW_RATE: integer(20, 1, 10_000).describe(
    'Most SubjectAccessReviews per second one replica asks for the admission webhook (bursts of twice that); an OrkaSecret change over the limit is refused with a message to try again.',
  ),
  ORKA_RESOLVE_MEMO_TTL: duration('30s', { zero: true }).describe(
    'How long a value this replica opened for a resolve is kept in its memory, so resolving the same revision again skips the decrypt (the process holds every data key already: docs/capacity.md); a new revision, a deletion or a new data key is never answered from it; 0: off.',
  ),
  ORKA_RESOLVE_MEMO_MAX_BYTES: integer(16 * 1024 * 1024, 0, 1024 * 1024 * 1024).describe('Most bytes of opened values kept for ORKA_RESOLVE_MEMO_TTL (oldest dropped first); 0: off.'),
  ORKA_MAX_STREAMS: integer(1000, 1, 100_000).describe('Most change streams open at once on one replica (each holds a connection and memory).'),
  ORKA_MAX_STREAMS_PER_IDENTITY: integer(4, 1, 1000).describe('Most change streams one pod identity may hold open (a sidecar needs one).'),
  ORKA_USAGE_FLUSH_PERIOD: duration('60s').describe('How often usage counts are written to status.usage (at most once per period per secret).'),
  ORKA_SHUTDOWN_DRAIN: duration('5s', { zero: true }).describe(
    'On SIGTERM, after stepping down (not ready, lease released, no more reconciles), how long to keep answering resolves and webhooks while Kubernetes takes the pod out of the Service; each answer then asks the client to close its connection. 0 closes at once.',
  ),
  ORKA_SHUTDOWN_TIMEOUT: duration('25s').describe('On SIGTERM, how long the whole stop (reconciles in flight, the drain, the requests left) may take before exiting anyway; keep it under the pod termination grace period.'),
});

/** Where sidecars reach the operator: its Service, and loopback for local runs. */
export function servingHosts(config: Pick<OperatorConfig, 'ORKA_SERVING_HOSTS' | 'ORKA_NAMESPACE'>): string[] {
  if (config.ORKA_SERVING_HOSTS.length > 0) return config.ORKA_SERVING_HOSTS;
  const ns = config.ORKA_NAMESPACE;
  return [`orka-secrets-operator.${ns}.svc`, `orka-secrets-operator.${ns}.svc.cluster.local`, 'localhost', '127.0.0.1'];
}

/** The parsed configuration. */
export type OperatorConfig = z.output<typeof operatorEnv>;

/** Seconds of ORKA_SHUTDOWN_TIMEOUT kept for what follows the drain. */
export const SHUTDOWN_AFTER_DRAIN_S = 5;

/** Parses the operator's configuration; throws one INVALID_CONFIG error listing every problem. */
export function loadOperatorConfig(env: Readonly<Record<string, string | undefined>>): OperatorConfig {
  const config = parseEnv(operatorEnv, env);
  // The drain is part of the stop, which still has requests in flight, the usage flush and the
  // watches to end after it: a drain that leaves no room for them ends every stop in a forced exit.
  if (config.ORKA_SHUTDOWN_DRAIN + SHUTDOWN_AFTER_DRAIN_S > config.ORKA_SHUTDOWN_TIMEOUT) {
    const problem = `ORKA_SHUTDOWN_DRAIN: must leave at least ${SHUTDOWN_AFTER_DRAIN_S}s of ORKA_SHUTDOWN_TIMEOUT (${config.ORKA_SHUTDOWN_TIMEOUT}s) for the rest of the stop`;
    throw new OrkaError('INVALID_CONFIG', `invalid configuration:\n  ${problem}`, { problems: [problem] });
  }
  return config;
}
