/**
 * The sidecar's logger: JSON lines on stdout in the shape the operator's pino logger writes
 * (`{"level","time","service",...fields,"msg"}`), redacting the same fields (core/log-fields.ts).
 * Not pino: the sidecar writes a handful of lines over its life, and pino with its dependencies
 * cost every runner pod about 2 MiB of memory (docs/design/sidecar-footprint.md).
 */
import { REDACT_PATHS } from '../core/log-fields.js';

/** One level's writer: fields and a message, or a message alone. */
export interface LogFn {
  (fields: object, msg: string): void;
  (msg: string): void;
}

/** What the sidecar logs through. */
export interface SidecarLogger {
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const CENSOR = '[REDACTED]';
const PATHS = REDACT_PATHS.map((path) => path.split('.'));

/** `node` with the field at `path` (from segment `i`; `*`: every key) censored; copied where changed, never mutated. */
function redactPath(node: unknown, path: readonly string[], i: number): unknown {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
  const object = node as Record<string, unknown>;
  const segment = path[i] as string;
  const keys = segment === '*' ? Object.keys(object) : Object.hasOwn(object, segment) ? [segment] : [];
  if (keys.length === 0) return node;
  const copy = { ...object };
  for (const key of keys) copy[key] = i === path.length - 1 ? CENSOR : redactPath(object[key], path, i + 1);
  return copy;
}

/** The fields with every sensitive path censored. */
export function redactFields(fields: object): Record<string, unknown> {
  let out: unknown = fields;
  for (const path of PATHS) out = redactPath(out, path, 0);
  return out as Record<string, unknown>;
}

/** A logger of `service` at `level` (fatal ... trace, silent); `write` is for tests, default stdout. */
export function createSidecarLogger(options: { service: string; level: string }, write: (line: string) => void = (line) => process.stdout.write(line)): SidecarLogger {
  const threshold = LEVELS[options.level] ?? LEVELS.info;
  const at = (level: string): LogFn => {
    const value = LEVELS[level] as number;
    if (value < (threshold as number)) return () => undefined;
    return (fieldsOrMsg: object | string, msg?: string) => {
      const fields = typeof fieldsOrMsg === 'string' ? {} : redactFields(fieldsOrMsg);
      const text = typeof fieldsOrMsg === 'string' ? fieldsOrMsg : msg;
      write(`${JSON.stringify({ level, time: new Date().toISOString(), service: options.service, ...fields, msg: text })}\n`);
    };
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
