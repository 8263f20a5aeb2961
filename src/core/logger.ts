/**
 * The pino logger factory. Every component logs JSON lines to stdout through a child of one
 * root logger. Redaction paths cover every field name under which a value, a token or a key
 * could travel; code must still never put one in a log call (the canary tests check the output).
 * `key` is not among them: it is the work-queue key (`namespace/name`) of every reconcile line.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const SENSITIVE = [
  'value',
  'values',
  'plaintext',
  'token',
  'sealedValue',
  'privateKey',
  'keyPem',
  'dataKey',
  'kek',
  'secret',
  'password',
  'authorization',
  'result',
  'data',
  'stringData',
];

/** The paths pino censors: each sensitive field at the top level, one level down, and in HTTP headers and specs. */
export const REDACT_PATHS: readonly string[] = [
  ...SENSITIVE,
  ...SENSITIVE.map((field) => `*.${field}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'spec.sealedValue',
  '*.spec.sealedValue',
  'body.template',
  'body.text',
];

/** Makes the root logger of a process. `destination` is for tests; default is stdout. */
export function createLogger(options: { name: string; level?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
      // `service` names the process; children add `component` (one key each, no duplicates).
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
