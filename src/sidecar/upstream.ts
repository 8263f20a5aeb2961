/**
 * The sidecar's side of the resolver API: resolve names, and follow the tenant's change stream.
 * HTTPS trusting only the operator's CA, through one TLS context and one keep-alive agent; the
 * projected token is read from its file on every call because the kubelet rotates it.
 */
import { readFileSync } from 'node:fs';
import { Agent, request, type RequestOptions } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import { createSecureContext } from 'node:tls';
import { createParser } from 'eventsource-parser';
import { isErrorCode, OrkaError } from '../core/errors.js';
import { NO_REVISION, parseRevision, ViewFloor } from '../core/revision.js';

/** The operator's answer; `revisions` (resourceVersions per name) orders it against changes. */
export interface Resolution {
  values: Record<string, string>;
  missing: string[];
  revisions: Record<string, string>;
  /** How old (ms) the answering replica's view was, from the `Age` header: cached values age from then. */
  ageMs?: number;
  /** The answering replica's view revision (NO_REVISION from operators before views), at least this sidecar's floor. */
  view?: number;
}

/** A change event: `name` changed, or was deleted, at `revision` (absent from older operators). */
export interface NameChange {
  name: string;
  revision?: string;
  deleted: boolean;
}

/** Connection failures that mean the replica went away (or is not there yet): asked again. */
const CONNECTION_LOST = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);

/** How many 503 answers a resolve is asked again after. */
export const MAX_UNAVAILABLE_RETRIES = 1;

/** Longest wait before asking again after a refused or cut connection, or a 503. */
export const RETRY_CAP_MS = 400;

/** The wait before resolve retry `attempt` (0-based): from a few ms, doubling, capped, fully jittered. */
export function retryDelay(attempt: number, random: () => number = Math.random): number {
  return jittered(attempt, 25, RETRY_CAP_MS, random);
}

/** Longest wait before reconnecting the change stream: back within a second of the operator. */
export const RECONNECT_CAP_MS = 800;

/** The wait before reconnect attempt `attempt` (0-based): exponential, capped, fully jittered so many sidecars spread out. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  return jittered(attempt, 100, RECONNECT_CAP_MS, random);
}

/** Statuses by which the operator refuses this pod (token, tenancy) or its tenant (a limit): backed off, not retried at once. */
const REFUSED = new Set([401, 403, 429]);

/** The first wait after a refusal; it doubles with each refusal in a row, up to the cap (ORKA_REFUSED_BACKOFF_MAX). */
export const REFUSAL_BASE_MS = 1000;

/**
 * The wait before opening the change stream again after `refusals` refusals in a row (0-based):
 * from REFUSAL_BASE_MS, doubling, capped at `capMs`, with half of it random (never less than half:
 * a refused sidecar must not come back at once); at least the Retry-After the operator gave (up to
 * the cap), spread by up to a fifth so that sidecars refused together do not return together.
 */
export function refusalDelay(refusals: number, retryAfterMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, REFUSAL_BASE_MS * 2 ** refusals);
  const backoff = ceiling / 2 + (random() * ceiling) / 2;
  const asked = Math.min(capMs, retryAfterMs * (1 + random() / 5));
  return Math.round(Math.max(backoff, asked));
}

/** A Retry-After header in ms (delay-seconds only, which is what the operator sends); 0 when absent or not a number. */
export function retryAfterMs(header: string | undefined): number {
  return header !== undefined && /^\s*\d{1,7}\s*$/.test(header) ? Number(header) * 1000 : 0;
}

/** A random wait up to min(cap, base * 2^attempt): full jitter, so clients failing together do not retry together. */
function jittered(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  return Math.round(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** A change stream silent this long is dropped: two missed pings (the operator pings every 15 s). */
export const STREAM_SILENCE_MS = 30_000;

/**
 * Longest a connection to the operator stays open unused. The operator closes idle connections
 * itself (after ORKA_HTTP_IDLE_TIMEOUT, 120 s by default) and announces it (`Keep-Alive: timeout=120`);
 * a request sent on a connection just as the server closes it fails (ECONNRESET). Node's agent
 * closes an idle connection a second before the announced time, but only when it has an idle
 * timeout of its own: without one it waited for the server's close, and a resolve could meet it.
 */
export const IDLE_CONNECTION_MS = 60_000;

/** Options of the upstream client. */
export interface UpstreamOptions {
  baseUrl: string;
  tokenFile: string;
  caPem: string;
  timeoutMs: number;
  /** The highest view heard from any replica (answers and frames raise it); default: this client's own. */
  floor?: ViewFloor;
  /** Told of each answer asked again because its view was behind the floor, with how many names it answered. */
  onBehind?: (names: number) => void;
  /** Longest wait before opening the change stream again after a refusal (401, 403, 429); default 30 s. */
  refusedBackoffMaxMs?: number;
}

/** A refusal of the change stream, for the sidecar's (throttled) warning: never a value or a token. */
export interface StreamRefusal {
  status: number;
  code?: string;
  message?: string;
  /** How long the sidecar waits before asking again. */
  retryInMs: number;
}

/** Client of the operator's resolver API. */
export class Upstream {
  private readonly agent: Agent;
  /** The highest view revision heard from any replica (src/core/revision.ts). */
  readonly floor: ViewFloor;
  /** Until when (ms since the epoch) the operator asked this tenant not to resolve (a 429): answered here, not sent. */
  private limitedUntil = 0;

  constructor(private readonly options: UpstreamOptions) {
    // One TLS context for every connection. Given `ca` instead, tls.connect builds a new context
    // (an OpenSSL SSL_CTX and a parsed CA) for each connection, refused attempts included: an
    // operator that restarts 30 times cost 12 MiB of native memory that no GC gave back.
    // `timeout`: an idle connection closes after IDLE_CONNECTION_MS, or before the operator's
    // announced idle limit, whichever is first. Requests set their own (resolve: timeoutMs; the
    // change stream: STREAM_SILENCE_MS), which apply while a connection is in use.
    this.agent = new Agent({ keepAlive: true, timeout: IDLE_CONNECTION_MS, secureContext: createSecureContext({ ca: options.caPem }), maxSockets: 16 });
    this.floor = options.floor ?? new ViewFloor();
  }

  private token(): string {
    try {
      return readFileSync(this.options.tokenFile, 'utf8').trim();
    } catch {
      throw new OrkaError('UPSTREAM_UNAVAILABLE', 'the service-account token file cannot be read');
    }
  }

  private requestOptions(path: string, method: string, extra: Record<string, string> = {}): RequestOptions & { url: URL } {
    const url = new URL(path, this.options.baseUrl);
    return { url, method, agent: this.agent, headers: { authorization: `Bearer ${this.token()}`, ...extra } };
  }

  /**
   * Resolves names; throws UPSTREAM_UNAVAILABLE when the operator cannot answer within the
   * timeout. Asked again, on a new connection (which the Service may send to another replica),
   * after a short jittered wait and while the timeout leaves room:
   * - a connection refused or cut: the replica went away (a rollout, a crash) and costs nothing;
   * - a 503 (this replica's view is stale, or it cannot review tokens), once only: another
   *   replica may answer, but asking more would multiply the load on an operator in trouble;
   * - an answer from a view older than the floor (a replica behind what this sidecar has already
   *   heard: it may lack a deletion or an update), until the timeout: each costs the replica a
   *   cache read, and a replica behind catches up as its watch brings the changes.
   * Nothing else: a refusal (401, 403, 400), a 500, a certificate that does not verify, or a
   * timeout (the budget is spent) is the answer. An answer taken raises the floor to its view.
   */
  async resolve(names: readonly string[]): Promise<Resolution> {
    // Rate-limited: every call until the Retry-After would be refused again; refused here instead.
    const limited = this.limitedUntil - Date.now();
    if (limited > 0) throw tooManyRequests(Math.ceil(limited / 1000));
    const body = JSON.stringify({ names });
    const until = Date.now() + this.options.timeoutMs;
    let unavailable = 0;
    for (let attempt = 0, left = this.options.timeoutMs; ; attempt++) {
      const outcome = await this.resolveOnce(body, left);
      if ('resolution' in outcome) {
        this.floor.hear(outcome.resolution.view ?? NO_REVISION);
        return outcome.resolution;
      }
      if (outcome.again === 'behind') this.options.onBehind?.(names.length);
      if (outcome.error.code === 'TOO_MANY_REQUESTS') this.limitedUntil = Date.now() + Number(outcome.error.details.retryAfter ?? 1) * 1000;
      const again = outcome.again === 'connection' || outcome.again === 'behind' || (outcome.again === 'unavailable' && unavailable++ < MAX_UNAVAILABLE_RETRIES);
      if (!again) throw outcome.error;
      await delay(retryDelay(attempt));
      // Measured after the wait: a busy event loop fires timers late.
      left = until - Date.now();
      if (left <= 0) throw outcome.error;
    }
  }

  /** One call, and whether it may be asked again (see resolve). */
  private resolveOnce(body: string, timeoutMs: number): Promise<{ resolution: Resolution } | { error: OrkaError; again?: 'connection' | 'unavailable' | 'behind' }> {
    // Taken when asked: the floor may rise while the answer travels.
    const floor = this.floor.value;
    const { url, ...options } = this.requestOptions('/v1/resolve', 'POST', { 'content-type': 'application/json' });
    return new Promise((resolve) => {
      const req = request(url, { ...options, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        const status = res.statusCode ?? 0;
        // Taken now: by 'end' the response has handed its socket back to the agent's pool.
        const socket = res.socket;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: (Omit<Resolution, 'view'> & { view?: unknown; error?: { code?: unknown; message?: string } }) | undefined;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed;
          } catch {
            parsed = undefined;
          }
          if (status === 200 && parsed?.values && Array.isArray(parsed.missing)) {
            const view = parseRevision(parsed.view);
            if (view === NO_REVISION || view >= floor) {
              const ageMs = Math.max(0, Number(res.headers.age ?? 0) * 1000 || 0);
              return resolve({ resolution: { values: parsed.values, missing: parsed.missing, revisions: parsed.revisions ?? {}, ageMs, view } });
            }
            // Behind what this sidecar has heard: asked again on a new connection (this one leads
            // to the replica behind), which the Service may send to another replica.
            socket.destroy();
            return resolve({ error: new OrkaError('UPSTREAM_UNAVAILABLE', `the operator replicas that answered have not caught up with revision ${floor}, which this sidecar has already seen; try again`), again: 'behind' });
          }
          const error =
            status === 429
              ? tooManyRequests(Math.max(1, retryAfterMs(res.headers['retry-after']) / 1000))
              : parsed === undefined
                ? new OrkaError('UPSTREAM_UNAVAILABLE', `the operator answered ${status} with no valid body`)
                : upstreamError(status, parsed.error?.code, parsed.error?.message);
          if (status !== 503) return resolve({ error });
          // Asked again on a new connection: this one leads to the replica that said 503.
          socket.destroy();
          resolve({ error, again: 'unavailable' });
        });
        res.on('error', () => resolve({ error: new OrkaError('UPSTREAM_UNAVAILABLE', 'the operator connection failed'), again: 'connection' }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        const error = new OrkaError('UPSTREAM_UNAVAILABLE', `the operator cannot be reached (${code ?? err.message})`);
        resolve(code !== undefined && CONNECTION_LOST.has(code) ? { error, again: 'connection' } : { error });
      });
      req.end(body);
    });
  }

  /**
   * Follows the change stream, reconnecting with backoff. `onChange` gets each change; `onState`
   * tells when the stream is connected (true) or lost (false); `onRefused` when the operator
   * refuses the stream (401, 403, 429), which is asked again only after refusalDelay (Retry-After
   * honoured), not at once. Every frame's view revision (a ping's too) raises the floor, before
   * the frame is acted on. `onRevoked` when the operator says this pod may no longer read (its
   * stream closed with `event: revoked`, or refused with 401 or 403): what it holds must go now.
   */
  follow(
    onChange: (change: NameChange) => void,
    onState: (up: boolean) => void,
    onRefused: (refusal: StreamRefusal) => void = () => undefined,
    onRevoked: () => void = () => undefined,
  ): { stop: () => void } {
    let stopped = false;
    let attempt = 0;
    let refusals = 0;
    let current: ReturnType<typeof request> | undefined;
    const connect = () => {
      if (stopped) return;
      let options;
      try {
        options = this.requestOptions('/v1/changes', 'GET', { accept: 'text/event-stream' });
      } catch {
        return retry();
      }
      const { url, ...rest } = options;
      const req = request(url, rest, (res) => {
        const status = res.statusCode ?? 0;
        if (REFUSED.has(status)) {
          // The body says why (a code and a message, never a value); read to its end, so the
          // connection goes back to the pool.
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text = (text + chunk).slice(0, 4096)));
          res.on('end', () => {
            let error: { code?: unknown; message?: unknown } | undefined;
            try {
              error = (JSON.parse(text) as { error?: typeof error }).error;
            } catch {
              error = undefined;
            }
            if (status !== 429) onRevoked();
            const wait = refusalDelay(refusals++, retryAfterMs(res.headers['retry-after']), this.options.refusedBackoffMaxMs ?? 30_000);
            onRefused({ status, retryInMs: wait, ...(typeof error?.code === 'string' ? { code: error.code } : {}), ...(typeof error?.message === 'string' ? { message: error.message } : {}) });
            retry(wait);
          });
          // Cut before its end: a lost connection, reconnected as such.
          res.on('close', () => retry());
          return;
        }
        if (status !== 200) {
          res.resume();
          return retry();
        }
        res.setEncoding('utf8');
        // Server-sent events, parsed by eventsource-parser (multi-line data, CRLF, comments and
        // frames split across chunks, as the spec has them).
        const parser = createParser({
          onEvent: ({ event, data }) => {
            this.floor.hear(frameView(data));
            if (event === 'ready') {
              attempt = 0;
              refusals = 0;
              onState(true);
            } else if (event === 'revoked') {
              onRevoked();
            } else if (event === 'changed') {
              try {
                const { name, revision, deleted } = JSON.parse(data) as { name?: unknown; revision?: unknown; deleted?: unknown };
                if (typeof name === 'string') onChange({ name, deleted: deleted === true, ...(typeof revision === 'string' ? { revision } : {}) });
              } catch {
                // a malformed frame is skipped; the next resync clears the cache anyway
              }
            }
          },
        });
        res.on('data', (chunk: string) => parser.feed(chunk));
        res.on('close', () => retry());
      });
      // Silence, from connecting to any point of the stream (the operator pings every 15 s), means
      // the connection is dead even if it never closes: drop it and connect again.
      req.setTimeout(STREAM_SILENCE_MS, () => req.destroy(new Error('stream silent')));
      req.on('error', () => retry());
      current = req;
      req.end();
    };
    let retrying = false;
    /** Connects again after `waitMs` (a refusal's backoff), or else the reconnect delay. */
    const retry = (waitMs?: number) => {
      if (retrying) return;
      retrying = true;
      onState(false);
      if (stopped) return;
      setTimeout(() => {
        retrying = false;
        connect();
      }, waitMs ?? reconnectDelay(attempt++)).unref();
    };
    connect();
    return {
      stop: () => {
        stopped = true;
        current?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The view revision a frame's JSON data carries; NO_REVISION when it has none (older operators) or is malformed. */
function frameView(data: string): number {
  try {
    return parseRevision((JSON.parse(data) as { view?: unknown }).view);
  } catch {
    return NO_REVISION;
  }
}

/** The operator rate-limits this tenant's resolves: the runner is told so, and when to try again. */
function tooManyRequests(seconds: number): OrkaError {
  const retryAfter = Math.ceil(seconds);
  return new OrkaError('TOO_MANY_REQUESTS', `the operator is limiting this tenant's resolves; retry after ${retryAfter} s`, { retryAfter });
}

function upstreamError(status: number, code: unknown, message: string | undefined): OrkaError {
  if (status === 401 || status === 403) return new OrkaError('FORBIDDEN', `the operator refused this pod: ${message ?? status}`);
  if (status === 400 && isErrorCode(code)) return new OrkaError(code, message ?? 'invalid request');
  return new OrkaError('UPSTREAM_UNAVAILABLE', `the operator answered ${status}`);
}
