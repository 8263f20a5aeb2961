/**
 * Stable error codes shared by the operator, the sidecar, the client and the CLI.
 *
 * Every error that crosses a boundary (HTTP, process exit, resource status) is an OrkaError
 * carrying a code from this table, the HTTP status that code maps to, and whether retrying the
 * same request can help. Messages never contain a secret value, a token or a key: callers build
 * them from names, rules and positions only.
 */

/** Every code, with its HTTP status and whether a retry of the same request can succeed. */
export const ERROR_CODES = {
  SECRET_NOT_FOUND: { status: 404, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  ALREADY_EXISTS: { status: 409, retryable: false },
  NOT_A_TENANT: { status: 400, retryable: false },
  INVALID_SECRET_NAME: { status: 400, retryable: false },
  INVALID_TEMPLATE: { status: 400, retryable: false },
  INVALID_REQUEST: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  TOO_MANY_REQUESTS: { status: 429, retryable: true },
  DECRYPT_FAILED: { status: 422, retryable: false },
  INVALID_CONFIG: { status: 500, retryable: false },
  INTERNAL: { status: 500, retryable: true },
  UPSTREAM_UNAVAILABLE: { status: 503, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

/** One of the stable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Extra machine-readable fields of an error body (for example the missing `secrets`). */
export type ErrorDetails = Record<string, string | number | boolean | readonly string[]>;

/** The JSON body of an error answer: `{"error": {"code", "message", ...details}}`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string } & ErrorDetails;
}

/** An error with a stable code; the only error type the project throws across modules. */
export class OrkaError extends Error {
  override readonly name = 'OrkaError';
  /** HTTP status for this code. */
  readonly status: number;
  /** Whether the same request may succeed later. */
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
  }

  /** The HTTP body for this error. */
  toBody(): ErrorBody {
    return { error: { ...this.details, code: this.code, message: this.message } };
  }
}

/** Narrows an unknown thrown value to an OrkaError (optionally of one code). */
export function isOrkaError(err: unknown, code?: ErrorCode): err is OrkaError {
  return err instanceof OrkaError && (code === undefined || err.code === code);
}

/** True when `code` is one of the stable codes (for decoding error bodies from the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** The error of a reference to secrets that do not exist; the message names the first. */
export function secretNotFound(names: readonly string[]): OrkaError {
  const [first, ...rest] = names;
  const message =
    rest.length === 0
      ? `secret ${first} could not be found`
      : `secrets ${names.join(', ')} could not be found`;
  return new OrkaError('SECRET_NOT_FOUND', message, { secrets: [...names] });
}
