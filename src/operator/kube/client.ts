/**
 * A KubeConfig whose requests share one connection pool, and never hang.
 *
 * @kubernetes/client-node 2.0 builds a new undici Agent for every request, so every API call
 * pays a fresh TCP connection, TLS handshake and TLS context: the profile of the operator under
 * load was mostly TLS setup, and reconciling 1,000 objects took 2.6x the time of the writes
 * alone. Credentials travel in headers, and the TLS settings (CA, client certificate) are fixed
 * for a kubeconfig, so one Agent serves every request; it keeps connections alive.
 *
 * client-node sets no timeout on a request: over a connection that accepts and never answers
 * (a partitioned node, a frozen proxy) a call waits forever, and so did the leader's lease
 * renewal. Every request here carries an abort signal: a default timeout, narrowed by
 * `withSignal` for callers with a deadline of their own. The reconciler's requests and the
 * informers' lists and watches take the fast path (`rest`, ./rest.ts): the same signals, and
 * `dropConnections` fences both.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { KubeRest } from './rest.js';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** The HTTP status of a failed API request (client-node's ApiException carries it as `code`). */
export function statusCode(err: unknown): number | undefined {
  return (err as { code?: number } | undefined)?.code;
}

/** Default timeout of one API request (not of a watch), in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The fast path of any KubeConfig: a pooled one's own, else one made once for it (tests, benches). */
const restOfPlain = new WeakMap<KubeConfig, KubeRest>();
export function restOf(kc: KubeConfig): KubeRest {
  if (kc instanceof PooledKubeConfig) return kc.rest;
  let rest = restOfPlain.get(kc);
  if (rest === undefined) {
    rest = new KubeRest(kc, () => AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS));
    restOfPlain.set(kc, rest);
  }
  return rest;
}

/** KubeConfig that reuses connections across requests and bounds every request in time. */
export class PooledKubeConfig extends KubeConfig {
  private shared: Dispatcher | undefined;
  private readonly scope = new AsyncLocalStorage<AbortSignal>();
  private restClient: KubeRest | undefined;

  constructor(private readonly requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    super();
  }

  /** The signal one request obeys: the default timeout, and the caller's deadline if any. */
  private requestSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const narrowed = this.scope.getStore();
    return narrowed === undefined ? timeout : AbortSignal.any([timeout, narrowed]);
  }

  /** The reconciler's fast path (./rest.ts): same credentials, timeouts and stepping down. Made on first use, once the config is loaded. */
  get rest(): KubeRest {
    this.restClient ??= new KubeRest(this, () => this.requestSignal());
    return this.restClient;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setSignal(this.requestSignal());
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    if (this.shared === undefined) {
      this.shared = fresh;
      return;
    }
    if (fresh !== this.shared) {
      // Never connected, so closing it costs nothing.
      void fresh.close();
      context.setDispatcher(this.shared);
    }
  }

  /** Runs `fn`; every API request it starts is aborted when `signal` aborts. */
  withSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    return this.scope.run(signal, fn);
  }

  /**
   * Fails every request in flight at once (watches included) and starts a fresh pool. For a
   * replica that lost the lease: a write it started as leader must not land later.
   */
  dropConnections(): void {
    const old = this.shared;
    this.shared = undefined;
    this.restClient?.dropConnections();
    void old?.destroy(new Error('connections dropped: this replica stepped down')).catch(() => undefined);
  }
}
