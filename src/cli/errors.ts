/**
 * The CLI's failures: each carries the exit code a script can act on and a message a person can.
 */
import { clean } from './clean.js';

/** Exit codes (also in `--help` and docs/cli.md). */
export const EXIT = { ok: 0, unexpected: 1, input: 2, notFound: 3, cluster: 4, exists: 5, notReady: 6, timeout: 7 } as const;

/** A failure with its exit code and a message for a person. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The HTTP status of a failed API call, or undefined when no answer came back. */
export function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** The `message` of a Kubernetes Status body, if the failure carried one. */
function statusMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    return typeof parsed?.message === 'string' ? parsed.message : '';
  } catch {
    return '';
  }
}

/** Why a request got no answer, in a few words: the first system error code (e.g. ECONNREFUSED) along the causes, else the innermost message. */
function networkReason(err: unknown): string {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  let innermost = 'no answer';
  while (queue.length > 0) {
    const e = queue.shift() as { code?: unknown; cause?: unknown; errors?: unknown; message?: unknown } | undefined;
    if (e === undefined || e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    if (typeof e.code === 'string') return e.code;
    if (typeof e.message === 'string' && e.message !== '') innermost = e.message;
    queue.push(e.cause, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : []));
  }
  return innermost;
}

/** Turns an API failure about `what` into a message and an exit code; `server` names the cluster. */
export function apiError(err: unknown, what: string, server: string): CliError {
  if (err instanceof CliError) return err;
  const code = httpStatus(err);
  if (code === undefined) return new CliError(`${what}: the cluster at ${server} cannot be reached (${networkReason(err)})`, EXIT.cluster);
  if (code === 404) return new CliError(`${what}: not found`, EXIT.notFound);
  if (code === 409) return new CliError(`${what}: already exists (use update)`, EXIT.exists);
  if (code === 401) return new CliError(`${what}: the cluster at ${server} did not accept your credentials (401)`, EXIT.cluster);
  if (code === 403) return new CliError(`${what}: access refused by the cluster (403): ${statusMessage(err) || 'forbidden'}`, EXIT.cluster);
  if (code === 422 || code === 400) return new CliError(`${what}: refused: ${statusMessage(err) || `HTTP ${code}`}`, EXIT.input);
  return new CliError(`${what}: HTTP ${code}${statusMessage(err) ? `: ${statusMessage(err)}` : ''}`, EXIT.unexpected);
}

/** Prints a failure (its message cleaned: it may come from the cluster) and exits with its code. */
export function fail(err: unknown): never {
  if (err instanceof CliError) {
    process.stderr.write(`orka-secrets: ${clean(err.message)}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`orka-secrets: unexpected error: ${clean((err as Error).message)}\n`);
  process.exit(EXIT.unexpected);
}
