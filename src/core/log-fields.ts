/**
 * The field names that logs censor, without the logger: the operator's pino logger
 * (core/logger.ts) and the sidecar's small one (sidecar/log.ts) redact the same ones.
 */
/** Field names under which a value, a token or a key could travel: never written as they are. */
export const SENSITIVE: readonly string[] = [
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
