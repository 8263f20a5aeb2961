/**
 * Configuration from `ORKA_*` environment variables, parsed once at start by a composition
 * root (`main.ts`), with every problem reported together in one INVALID_CONFIG error.
 *
 * Each component declares its variables as a zod object whose keys are the variable names and
 * whose `.describe()` texts are the documentation (`configDocs` turns a schema into a table).
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { OrkaError } from './errors.js';

export { parseDuration } from './duration.js';

/** A duration variable, in seconds: more than zero, or zero too where `zero` says it means "none". */
export const duration = (fallback: string, options: { zero?: boolean } = {}) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const seconds = parseDuration(text);
      if (seconds === undefined || seconds < 0 || (seconds === 0 && options.zero !== true)) {
        ctx.addIssue({ code: 'custom', message: options.zero === true ? 'is not a duration such as 0s, 5s or 1m' : 'is not a duration such as 30s, 5m, 12h or 90d' });
        return z.NEVER;
      }
      return seconds;
    });

/** An integer variable within bounds. */
export const integer = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** A TCP port variable. */
export const port = (fallback: number) => integer(fallback, 1, 65535);

/** A comma-separated list variable (empty entries dropped). */
export const list = () =>
  z
    .string()
    .default('')
    .transform((text) => text.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

/** A boolean variable: true/false, 1/0, yes/no. */
export const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Log levels accepted by ORKA_LOG_LEVEL. */
export const logLevel = () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** Any object schema of environment variables. */
export type EnvSchema = z.ZodObject<Record<string, z.ZodType>>;

/**
 * Parses the variables of `schema` from `env`. Variables set to an empty string count as unset.
 * Throws one INVALID_CONFIG error that lists every bad variable.
 */
export function parseEnv<S extends EnvSchema>(schema: S, env: Readonly<Record<string, string | undefined>>): z.output<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  // Values are never echoed: a misplaced secret in the wrong variable must not reach a log.
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`);
  throw new OrkaError('INVALID_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
}

/**
 * Rows of (variable, default as a person writes it, description) for documentation: a duration's
 * default reads `10m`, not the seconds it parses to. `shown` names a default the schema computes
 * (the host name, say), which would otherwise differ between machines.
 */
export function configDocs(schema: EnvSchema, shown: Readonly<Record<string, string>> = {}): Array<{ variable: string; fallback: string; description: string }> {
  return Object.entries(schema.shape).map(([variable, field]) => {
    const description = field.description ?? '';
    if (shown[variable] !== undefined) return { variable, fallback: shown[variable], description };
    // A variable with a transform is a pipe: its input side holds the default as written.
    const def = (field as unknown as { _zod: { def: { type: string; in?: z.ZodType } } })._zod.def;
    const parsed = (def.type === 'pipe' && def.in ? def.in : field).safeParse(undefined);
    const raw = parsed.success ? parsed.data : undefined;
    const fallback = !parsed.success ? '(required)' : raw === undefined ? '(unset)' : raw === '' ? '(empty)' : typeof raw === 'string' ? raw : JSON.stringify(raw);
    return { variable, fallback, description };
  });
}
