/**
 * The sidecar's configuration: ORKA_* environment variables, set by the injector.
 */
import { z } from 'zod';
import { duration, integer, logLevel, parseEnv, port } from '../core/config.js';

/** Every variable the sidecar reads. */
export const sidecarEnv = z.object({
  ORKA_LOG_LEVEL: logLevel().describe('Log level.'),
  ORKA_SIDECAR_PORT: port(8731).describe('Port of the API on 127.0.0.1 (the runner gets ORKA_SECRETS_URL=http://127.0.0.1:<port>).'),
  ORKA_SIDECAR_METRICS_PORT: port(8732).describe('Port of /metrics, on 127.0.0.1 unless ORKA_SIDECAR_METRICS_ADDRESS says otherwise.'),
  ORKA_SIDECAR_METRICS_ADDRESS: z.string().default('127.0.0.1').describe('Address of the metrics server (0.0.0.0 to let Prometheus scrape the pod).'),
  ORKA_OPERATOR_URL: z.url().describe('Base URL of the operator resolver API, https://...'),
  ORKA_TOKEN_FILE: z.string().default('/var/run/secrets/orka/token').describe('Projected service-account token (audience orka-secrets); read on every upstream call, as the kubelet rotates it.'),
  ORKA_CA_FILE: z.string().default('/var/run/secrets/orka/ca.crt').describe("The operator's CA certificate, the only one trusted (when ORKA_CA_PEM is not set)."),
  ORKA_CA_PEM: z.string().optional().describe("The operator's CA certificate inline (the injector sets it; a CA certificate is public)."),
  ORKA_CACHE_MAX_ENTRIES: integer(1000, 1, 100_000).describe('Most values kept in memory.'),
  ORKA_CACHE_MAX_BYTES: integer(16 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024).describe('Most bytes of values kept in memory; past it the least recently used values are dropped (and fetched again when needed).'),
  ORKA_CACHE_STALE_AFTER: duration('30s').describe('A cached value is served only while it was fetched, or the change stream last heard from, within this.'),
  ORKA_REDACT_GRACE: duration('10m').describe('How long /v1/redact still masks a value after it was replaced, deleted or pushed out of memory.'),
  ORKA_MAX_BODY_BYTES: integer(1024 * 1024, 1024, 64 * 1024 * 1024).describe('Largest request body accepted.'),
  ORKA_UPSTREAM_TIMEOUT: duration('5s').describe('Timeout of one call to the operator.'),
  ORKA_SHUTDOWN_TIMEOUT: duration('10s').describe('On SIGTERM, how long requests in flight may take.'),
});

/** The parsed configuration. */
export type SidecarConfig = z.output<typeof sidecarEnv>;

/** Parses the sidecar's configuration; throws one INVALID_CONFIG error listing every problem. */
export function loadSidecarConfig(env: Readonly<Record<string, string | undefined>>): SidecarConfig {
  return parseEnv(sidecarEnv, env);
}
