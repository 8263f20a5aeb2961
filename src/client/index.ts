/**
 * A small typed client for workflow runners: talks to the sidecar at ORKA_SECRETS_URL and
 * throws OrkaError with the sidecar's stable codes.
 *
 *   const secrets = new OrkaSecretsClient();              // ORKA_SECRETS_URL from the environment
 *   const auth = await secrets.render('Bearer {{secrets.API_KEY}}');
 */
import { isErrorCode, OrkaError, type ErrorDetails } from '../core/errors.js';

export { OrkaError, isOrkaError, type ErrorCode } from '../core/errors.js';

/** Options of the client. */
export interface ClientOptions {
  /** Base URL of the sidecar; default ORKA_SECRETS_URL, then http://127.0.0.1:8731. */
  baseUrl?: string;
  /** A fetch to use (tests, instrumentation); default the global fetch. */
  fetch?: typeof fetch;
  /**
   * How long to keep retrying while the sidecar refuses connections (it may not listen yet when
   * the runner starts first), in ms; default ORKA_SECRETS_CONNECT_RETRY_MS, then 10000; 0: never.
   */
  connectRetryMs?: number;
}

/** Whether a fetch failure is a refused connection (nothing listens yet), seen through its causes. */
function isRefused(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ECONNREFUSED') return true;
  }
  return false;
}

/** Client of the sidecar API. */
export class OrkaSecretsClient {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;
  private readonly connectRetryMs: number;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? process.env.ORKA_SECRETS_URL ?? 'http://127.0.0.1:8731';
    this.fetchFn = options.fetch ?? fetch;
    const fromEnv = Number(process.env.ORKA_SECRETS_CONNECT_RETRY_MS);
    this.connectRetryMs = options.connectRetryMs ?? (Number.isFinite(fromEnv) && fromEnv >= 0 ? fromEnv : 10_000);
  }

  private async call<T>(path: string, init: { method: string; body?: unknown }): Promise<T> {
    let res: Response;
    const until = Date.now() + this.connectRetryMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        res = await this.fetchFn(new URL(path, this.baseUrl), {
          method: init.method,
          headers: { 'x-orka-request': 'true', ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        });
        break;
      } catch (err) {
        // Only a refused connection is retried: the request never reached a sidecar, so sending
        // it again is safe; anything else may have been received.
        if (isRefused(err) && Date.now() + delay <= until) {
          await new Promise((r) => setTimeout(r, delay));
          continue;
        }
        const waited = isRefused(err) && this.connectRetryMs > 0 ? ` (connections refused for ${this.connectRetryMs} ms)` : '';
        throw new OrkaError('UPSTREAM_UNAVAILABLE', `the secrets sidecar at ${this.baseUrl} cannot be reached${waited}`, {}, { cause: err });
      }
    }
    const payload = (await res.json().catch(() => undefined)) as (T & { error?: { code?: unknown; message?: unknown } & ErrorDetails }) | undefined;
    if (res.ok && payload !== undefined) return payload;
    const error = payload?.error;
    if (error && isErrorCode(error.code)) {
      const { code, message, ...details } = error;
      throw new OrkaError(code, typeof message === 'string' ? message : code, details as ErrorDetails);
    }
    throw new OrkaError('UPSTREAM_UNAVAILABLE', `the secrets sidecar answered ${res.status}`);
  }

  /** The value of one secret. */
  async get(name: string): Promise<string> {
    return (await this.call<{ value: string }>(`/v1/secrets/${encodeURIComponent(name)}`, { method: 'GET' })).value;
  }

  /** Replaces every {{secrets.NAME}} in a string or any JSON value. */
  async render<T>(template: T): Promise<T> {
    return (await this.call<{ result: T }>('/v1/render', { method: 'POST', body: { template } })).result;
  }

  /**
   * Ends the sidecar (POST /v1/quit): call it when the runner is done, so that a Job's pod
   * completes in the classic (non-native) sidecar form. The sidecar finishes requests in flight
   * and exits 0; no further call can succeed after this.
   */
  async close(): Promise<void> {
    await this.call<{ quitting: boolean }>('/v1/quit', { method: 'POST' });
  }

  /** Masks every value the sidecar has served (and their encodings) in text. */
  async redact(text: string): Promise<string> {
    return (await this.call<{ text: string }>('/v1/redact', { method: 'POST', body: { text } })).text;
  }
}
