/**
 * The operator's configuration: ORKA_* environment variables (see docs/configuration.md, whose table
 * `configDocs(operatorEnv)` generates).
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { V1SecurityContext } from '@kubernetes/client-node';
import { z } from 'zod';
import { duration, flag, integer, list, logLevel, parseDuration, parseEnv, port } from '../core/config.js';
import { OrkaError } from '../core/errors.js';
import { APISERVER_IDLE_CONNECTION_MS, type ListenerLimits } from './http/server.js';
import { SIDECAR_SECURITY_CONTEXT } from './admission/inject.js';

/**
 * A Kubernetes resource quantity (`250m`, `96Mi`, `1.5`, `1e3`): refused at start, not by the
 * apiserver on every pod the webhook injects. The chart's schema holds the same pattern.
 */
export const QUANTITY = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;
const quantity = (fallback: string) => z.string().default(fallback).refine((q) => QUANTITY.test(q), { message: 'is not a resource quantity such as 10m, 96Mi or 1' });

/** The fields of the sidecar's securityContext that may be set (a Kubernetes SecurityContext, less the ones a sidecar must not have). */
const sidecarSecurityContext = z
  .object({
    runAsNonRoot: z.boolean(),
    runAsUser: z.number().int().min(1),
    runAsGroup: z.number().int().min(0),
    readOnlyRootFilesystem: z.boolean(),
    allowPrivilegeEscalation: z.boolean(),
    capabilities: z.object({ add: z.array(z.string()), drop: z.array(z.string()) }).partial().strict(),
    seccompProfile: z.object({ type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']), localhostProfile: z.string().optional() }).strict(),
    seLinuxOptions: z.object({ level: z.string(), role: z.string(), type: z.string(), user: z.string() }).partial().strict(),
    appArmorProfile: z.object({ type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']), localhostProfile: z.string().optional() }).strict(),
  })
  .partial()
  .strict();

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
  ORKA_WEBHOOK_ADDRESS: z.string().default('0.0.0.0').describe('Address of the admission webhooks (HTTPS, a listener of their own) that the apiserver calls.'),
  ORKA_WEBHOOK_PORT: port(8444).describe('Port of the admission webhooks; the resolver port does not serve them.'),
  ORKA_WEBHOOK_CLIENT_CA: z
    .string()
    .optional()
    .describe('Path of a PEM file of CA certificates: the webhook listener then requires a client certificate signed by one of them (the apiserver presents one when its AdmissionConfiguration says so: docs/install.md); unset: no client certificate asked for.'),
  ORKA_HTTP_HEADERS_TIMEOUT: duration('10s').describe('On every listener, the TLS handshake and the request headers must arrive within this, or the connection is closed.'),
  ORKA_HTTP_REQUEST_TIMEOUT: duration('30s').describe('On every listener, a whole request (body included) must arrive within this, or it is answered 408 and its connection closed; answers (change streams) may last longer.'),
  ORKA_HTTP_IDLE_TIMEOUT: duration('120s').describe("On every listener, an idle keep-alive connection is closed after this; keep it over 90s, the apiserver's own idle limit for webhook connections."),
  ORKA_HTTP_MAX_CONNECTIONS: integer(64, 1, 100_000).describe('Most connections open at once on the HTTP listener (probes, metrics, /v1/cert.pem); it takes no request body.'),
  ORKA_RESOLVER_MAX_CONNECTIONS: integer(2048, 2, 1_000_000).describe('Most connections open at once on the resolver listener; more than ORKA_MAX_STREAMS, so that streams leave room for resolves.'),
  ORKA_RESOLVER_BODY_BUDGET: integer(4 * 1024 * 1024, 16 * 1024, 1024 * 1024 * 1024).describe('Most request-body bytes the resolver listener holds at once, across its requests (a resolve body is at most 16 KiB); past it: 503 and the connection closed.'),
  ORKA_WEBHOOK_MAX_CONNECTIONS: integer(256, 1, 1_000_000).describe('Most connections open at once on the webhook listener.'),
  ORKA_WEBHOOK_BODY_BUDGET: integer(16 * 1024 * 1024, 3 * 1024 * 1024, 1024 * 1024 * 1024).describe('Most request-body bytes the webhook listener holds at once, across its requests (an AdmissionReview is at most 3 MiB); past it: 503 and the connection closed.'),
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
  ORKA_SIDECAR_PORT: integer(8731, 1, 65534).describe('Port of the injected sidecar on 127.0.0.1 (its metrics are on the next port).'),
  // Checked here, not only in the sidecar: a typo (0.0.0.0:8732, a host name) would otherwise
  // reach every injected pod and stop each sidecar at start.
  ORKA_SIDECAR_METRICS_ADDRESS: z
    .string()
    .default('127.0.0.1')
    .refine((a) => isIP(a) !== 0, { message: 'is not an IP address (127.0.0.1, 0.0.0.0, ::1 or ::; no port, no host name)' })
    .describe("Address of the injected sidecar's /metrics, an IP address without a port: 127.0.0.1 (only the pod itself), or 0.0.0.0 to let Prometheus scrape it (the container then declares the port as orka-metrics)."),
  ORKA_SIDECAR_CPU_REQUEST: quantity('10m').describe('CPU request of the sidecar.'),
  ORKA_SIDECAR_CPU_LIMIT: z
    .string()
    .optional()
    .refine((q) => q === undefined || QUANTITY.test(q), { message: 'is not a resource quantity such as 100m or 1' })
    .describe('CPU limit of the sidecar; unset: none (a limit only throttles; set one where a ResourceQuota on limits.cpu requires it).'),
  ORKA_SIDECAR_MEMORY_REQUEST: quantity('88Mi').describe('Memory request of the sidecar.'),
  ORKA_SIDECAR_MEMORY_LIMIT: quantity('152Mi').describe('Memory limit of the sidecar.'),
  ORKA_SIDECAR_SECURITY_CONTEXT: z
    .string()
    .optional()
    .transform((text, ctx): V1SecurityContext => {
      if (text === undefined) return SIDECAR_SECURITY_CONTEXT;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
      const parsed = sidecarSecurityContext.safeParse(json);
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || '(object)'}: ${issue.message}` });
      return z.NEVER;
    })
    .describe(
      'securityContext of the injected sidecar container, as JSON; unset: Pod Security "restricted" as user and group 65532. Leave runAsUser and runAsGroup out where the platform assigns them (OpenShift\'s restricted SCC).',
    ),
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
    'How long a value this replica opened for a resolve is kept in its memory, so resolving the same revision again skips the decrypt (the process holds every data key already: docs/design/capacity.md); a new revision, a deletion or a new data key is never answered from it; 0: off.',
  ),
  ORKA_RESOLVE_MEMO_MAX_BYTES: integer(16 * 1024 * 1024, 0, 1024 * 1024 * 1024).describe('Most bytes of opened values kept for ORKA_RESOLVE_MEMO_TTL (oldest dropped first); 0: off.'),
  ORKA_MAX_STREAMS: integer(1000, 1, 100_000).describe(
    'Most change streams open at once on one replica (each holds a connection and memory). Shared fairly: when the replica is full, a tenant holding fewer than this divided by the tenants holding streams takes a slot from the tenant holding the most; a tenant at or above that share is refused (429).',
  ),
  ORKA_MAX_STREAMS_PER_IDENTITY: integer(4, 1, 1000).describe('Most change streams one pod identity may hold open (a sidecar needs one).'),
  ORKA_RESOLVE_RATE: integer(200, 0, 1_000_000).describe(
    "Resolves per second one tenant (namespace) may make on one replica, on average (a resolve is one call, up to 256 names); more: 429 with Retry-After. Each replica counts its own, so a tenant's total is this times the replicas it reaches. 0: no limit.",
  ),
  ORKA_RESOLVE_BURST: integer(400, 1, 1_000_000).describe('Resolves one tenant may make at once on one replica above ORKA_RESOLVE_RATE (a token bucket of this size), such as every runner pod starting together.'),
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
  const problems: string[] = [];
  // The drain is part of the stop, which still has requests in flight, the usage flush and the
  // watches to end after it: a drain that leaves no room for them ends every stop in a forced exit.
  if (config.ORKA_SHUTDOWN_DRAIN + SHUTDOWN_AFTER_DRAIN_S > config.ORKA_SHUTDOWN_TIMEOUT) {
    problems.push(`ORKA_SHUTDOWN_DRAIN: must leave at least ${SHUTDOWN_AFTER_DRAIN_S}s of ORKA_SHUTDOWN_TIMEOUT (${config.ORKA_SHUTDOWN_TIMEOUT}s) for the rest of the stop`);
  }
  // Node refuses a headers timeout longer than the request timeout (the headers are part of the request).
  if (config.ORKA_HTTP_HEADERS_TIMEOUT > config.ORKA_HTTP_REQUEST_TIMEOUT) {
    problems.push(`ORKA_HTTP_HEADERS_TIMEOUT: must not be longer than ORKA_HTTP_REQUEST_TIMEOUT (${config.ORKA_HTTP_REQUEST_TIMEOUT}s)`);
  }
  // The apiserver keeps an idle webhook connection 90 s and sends its next call on it: a listener
  // that closes first races that call (http/server.ts).
  if (config.ORKA_HTTP_IDLE_TIMEOUT * 1000 <= APISERVER_IDLE_CONNECTION_MS) {
    problems.push(`ORKA_HTTP_IDLE_TIMEOUT: must be longer than ${APISERVER_IDLE_CONNECTION_MS / 1000}s, the apiserver's idle limit for webhook connections`);
  }
  // Every sidecar holds a stream and opens connections to resolve: streams alone must not take every connection.
  if (config.ORKA_RESOLVER_MAX_CONNECTIONS <= config.ORKA_MAX_STREAMS) {
    problems.push(`ORKA_RESOLVER_MAX_CONNECTIONS: must be more than ORKA_MAX_STREAMS (${config.ORKA_MAX_STREAMS}), or open streams leave no connection to resolve on`);
  }
  const ports: Array<[string, number]> = [
    ['ORKA_HTTP_PORT', config.ORKA_HTTP_PORT],
    ['ORKA_RESOLVER_PORT', config.ORKA_RESOLVER_PORT],
    ['ORKA_WEBHOOK_PORT', config.ORKA_WEBHOOK_PORT],
  ];
  for (const [i, [name, value]] of ports.entries()) {
    const same = ports.slice(0, i).find(([, other]) => other === value);
    if (same !== undefined) problems.push(`${name}: ${value} is also ${same[0]}; each listener needs its own port`);
  }
  if (problems.length > 0) throw new OrkaError('INVALID_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  return config;
}

/** The limits of each listener (http/server.ts), from the configuration. */
export function listenerLimits(config: OperatorConfig): Record<'http' | 'resolver' | 'webhooks', ListenerLimits> {
  const timeouts = { headersTimeoutMs: config.ORKA_HTTP_HEADERS_TIMEOUT * 1000, requestTimeoutMs: config.ORKA_HTTP_REQUEST_TIMEOUT * 1000, idleTimeoutMs: config.ORKA_HTTP_IDLE_TIMEOUT * 1000 };
  return {
    http: { ...timeouts, maxConnections: config.ORKA_HTTP_MAX_CONNECTIONS, bodyBytes: 0 },
    resolver: { ...timeouts, maxConnections: config.ORKA_RESOLVER_MAX_CONNECTIONS, bodyBytes: config.ORKA_RESOLVER_BODY_BUDGET },
    webhooks: { ...timeouts, maxConnections: config.ORKA_WEBHOOK_MAX_CONNECTIONS, bodyBytes: config.ORKA_WEBHOOK_BODY_BUDGET },
  };
}
