/**
 * The sidecar's configuration: ORKA_* environment variables, set by the injector, parsed once,
 * every problem reported together (one INVALID_CONFIG error), values never echoed.
 *
 * Plain code rather than the zod schemas of src/core/config.ts: every runner pod pays for the
 * sidecar's memory, and loading zod costs about 12 MiB of RSS there (docs/design/sidecar-footprint.md).
 */
import { parseDuration } from '../core/duration.js';
import { OrkaError } from '../core/errors.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A parser returns the value or throws the problem (a message that never holds the input). */
type Parse<T> = (text: string) => T;

function integer(min: number, max: number): Parse<number> {
  return (text) => {
    if (!/^\s*\d+\s*$/.test(text) || Number(text) < min || Number(text) > max) throw new Error(`must be an integer from ${min} to ${max}`);
    return Number(text);
  };
}
const port = integer(1, 65535);
const duration: Parse<number> = (text) => {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) throw new Error('is not a duration such as 30s, 5m, 12h or 90d');
  return seconds;
};
const text: Parse<string> = (t) => t;
const url: Parse<string> = (t) => {
  if (!URL.canParse(t)) throw new Error('must be a URL');
  return t;
};
const logLevel: Parse<(typeof LOG_LEVELS)[number]> = (t) => {
  if (!(LOG_LEVELS as readonly string[]).includes(t)) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`);
  return t as (typeof LOG_LEVELS)[number];
};

/** Every variable the sidecar reads: its parser, default (none: required, or optional when `optional`) and description. */
export const sidecarEnv = {
  ORKA_LOG_LEVEL: { parse: logLevel, fallback: 'info', doc: 'Log level.' },
  ORKA_SIDECAR_PORT: { parse: port, fallback: '8731', doc: 'Port of the API on 127.0.0.1 (the runner gets ORKA_SECRETS_URL=http://127.0.0.1:<port>).' },
  ORKA_SIDECAR_METRICS_PORT: { parse: port, fallback: '8732', doc: 'Port of /metrics, on 127.0.0.1 unless ORKA_SIDECAR_METRICS_ADDRESS says otherwise.' },
  ORKA_SIDECAR_METRICS_ADDRESS: { parse: text, fallback: '127.0.0.1', doc: 'Address of the metrics server (0.0.0.0 to let Prometheus scrape the pod).' },
  ORKA_OPERATOR_URL: { parse: url, doc: 'Base URL of the operator resolver API, https://...' },
  ORKA_TOKEN_FILE: { parse: text, fallback: '/var/run/secrets/orka/token', doc: 'Projected service-account token (audience orka-secrets); read on every upstream call, as the kubelet rotates it.' },
  ORKA_CA_FILE: { parse: text, fallback: '/var/run/secrets/orka/ca.crt', doc: "The operator's CA certificate, the only one trusted (when ORKA_CA_PEM is not set)." },
  ORKA_CA_PEM: { parse: text, optional: true, doc: "The operator's CA certificate inline (the injector sets it; a CA certificate is public)." },
  ORKA_CACHE_MAX_ENTRIES: { parse: integer(1, 100_000), fallback: '1000', doc: 'Most values kept in memory.' },
  ORKA_CACHE_MAX_BYTES: { parse: integer(1024 * 1024, 1024 * 1024 * 1024), fallback: String(16 * 1024 * 1024), doc: 'Most bytes of values kept in memory; past it the least recently used values are dropped (and fetched again when needed).' },
  ORKA_CACHE_STALE_AFTER: { parse: duration, fallback: '30s', doc: 'A cached value is served at most this long after the operator view that answered it, whether or not the change stream is up (then it is fetched again).' },
  ORKA_REDACT_GRACE: { parse: duration, fallback: '10m', doc: 'How long /v1/redact still masks a value after it was replaced, deleted or pushed out of memory.' },
  ORKA_MAX_BODY_BYTES: { parse: integer(1024, 64 * 1024 * 1024), fallback: String(1024 * 1024), doc: 'Largest request body accepted.' },
  ORKA_UPSTREAM_TIMEOUT: { parse: duration, fallback: '5s', doc: 'How long one call to the operator may take, asking again included: a connection refused or cut, or an answer from a replica behind the newest view this sidecar has heard, is asked again on a new connection within it, a 503 once.' },
  ORKA_REFUSED_BACKOFF_MAX: {
    parse: duration,
    fallback: '30s',
    doc: 'Longest wait before opening the change stream again after the operator refused it (401, 403, 429): from 1 s, doubling, half of it random; a Retry-After is honoured up to this. One warning per minute while refused.',
  },
  ORKA_SHUTDOWN_TIMEOUT: { parse: duration, fallback: '10s', doc: 'On SIGTERM, how long requests in flight may take.' },
} as const;

type Env = typeof sidecarEnv;

/** The parsed configuration. */
export type SidecarConfig = { [K in keyof Env]: Env[K] extends { optional: true } ? ReturnType<Env[K]['parse']> | undefined : ReturnType<Env[K]['parse']> };

/** Parses the sidecar's configuration; throws one INVALID_CONFIG error listing every problem. */
export function loadSidecarConfig(env: Readonly<Record<string, string | undefined>>): SidecarConfig {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(sidecarEnv) as Array<[string, { parse: Parse<unknown>; fallback?: string; optional?: boolean }]>) {
    const input = env[name] === '' || env[name] === undefined ? spec.fallback : env[name];
    if (input === undefined) {
      if (spec.optional !== true) problems.push(`${name}: is required`);
      continue;
    }
    try {
      out[name] = spec.parse(input);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new OrkaError('INVALID_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  return out as SidecarConfig;
}
