/**
 * Apiserver reachability, for /readyz: the apiserver's own /readyz, asked every period with a
 * timeout (a connection that never answers counts as unreachable). The apiserver's /readyz fails
 * when its storage (etcd) does, so "reachable" means able to serve current data.
 * Any authenticated identity may ask (the system:public-info-viewer role).
 */
import { Health, type KubeConfig } from '@kubernetes/client-node';

/** What the last probes found. */
export interface ProbeState {
  /** When (epoch ms) the apiserver last answered ready; 0 never. */
  lastOkAt: number;
  /** Why the last completed probe failed; undefined when it succeeded. */
  lastError: string | undefined;
}

/** Asks the apiserver's /readyz every `periodMs`. */
export class ApiserverProbe {
  private readonly health: Health;
  private timer: NodeJS.Timeout | undefined;
  private readonly current: ProbeState = { lastOkAt: 0, lastError: 'not probed yet' };

  constructor(
    kc: KubeConfig,
    private readonly options: { periodMs: number; timeoutMs: number },
  ) {
    this.health = new Health(kc);
  }

  /** The state as of the last completed probe. */
  get state(): Readonly<ProbeState> {
    return this.current;
  }

  /** Probes once now, then every period. */
  start(): void {
    const run = async () => {
      await this.probe();
      if (this.timer !== undefined) this.timer = setTimeout(() => void run(), this.options.periodMs).unref();
    };
    this.timer = setTimeout(() => undefined, 0);
    void run();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One probe. */
  async probe(): Promise<void> {
    try {
      const ok = await this.health.readyz({ signal: AbortSignal.timeout(this.options.timeoutMs) });
      if (ok) {
        this.current.lastOkAt = Date.now();
        this.current.lastError = undefined;
      } else {
        this.current.lastError = 'the apiserver answers that it is not ready (its storage may be down)';
      }
    } catch (err) {
      // client-node wraps everything but an AbortError, so a timeout may be the cause.
      const e = err as Error & { cause?: { name?: string; code?: string | number; message?: string } };
      this.current.lastError =
        [e.name, e.cause?.name].some((n) => n === 'TimeoutError' || n === 'AbortError')
          ? `the apiserver did not answer within ${this.options.timeoutMs / 1000} s`
          : `the apiserver cannot be reached (${e.cause?.code ?? e.cause?.message ?? e.message})`;
    }
  }
}
