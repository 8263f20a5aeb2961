/**
 * Readiness and freshness of one replica, decided from what it observed (pure).
 *
 * Two questions with different consequences:
 * - Is this replica's view current? Each cache was last confirmed current at some moment (see
 *   kube/informers.ts); the view is as old as its oldest cache. Past `maxStalenessMs` the replica
 *   may be missing a deletion: it fails /readyz, closes its change streams and refuses resolves.
 * - Is it ready? It is not stopping, its view is current, its caches synced, its keys loaded and
 *   the apiserver answers ready. An apiserver that cannot serve (etcd down) makes every replica unready, but a
 *   view that is still current keeps answering resolves: nothing can change while storage is down.
 */

/** What one replica observed. */
export interface HealthInput {
  now: number;
  /** The first list of every cache is done. */
  synced: boolean;
  keysLoaded: boolean;
  /** Each cache and when it was last known current (epoch ms). */
  caches: ReadonlyArray<{ name: string; confirmedAt: number }>;
  apiserver: { lastOkAt: number; lastError: string | undefined };
  maxStalenessMs: number;
  /** SIGTERM was received: stepped down, answering only until the drain ends. */
  stopping?: boolean;
}

/** One line of the readiness report. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** The verdict. */
export interface Health {
  ready: boolean;
  /** The view is current enough to answer resolves and keep change streams open. */
  current: boolean;
  /** Age of the oldest cache, in ms (Infinity before the first list). */
  viewAgeMs: number;
  checks: Check[];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Whether the view is current, and how old it is (its oldest cache): the part of the verdict every
 * resolve asks for, without the report's text.
 */
export function assessView(input: Pick<HealthInput, 'now' | 'synced' | 'caches' | 'maxStalenessMs'>): Pick<Health, 'current' | 'viewAgeMs'> & { oldest: string | undefined } {
  let oldest: { name: string; confirmedAt: number } | undefined;
  for (const c of input.caches) if (oldest === undefined || c.confirmedAt < oldest.confirmedAt) oldest = c;
  const viewAgeMs = oldest === undefined || oldest.confirmedAt === 0 ? Infinity : Math.max(0, input.now - oldest.confirmedAt);
  return { current: input.synced && viewAgeMs <= input.maxStalenessMs, viewAgeMs, oldest: oldest?.name };
}

/** Decides readiness and freshness. */
export function assessHealth(input: HealthInput): Health {
  const { current, viewAgeMs, oldest } = assessView(input);
  const sinceOk = input.now - input.apiserver.lastOkAt;
  const reachable = input.apiserver.lastError === undefined && sinceOk <= input.maxStalenessMs;
  const checks: Check[] = [
    { name: 'caches-synced', ok: input.synced, detail: input.synced ? 'every cache has been filled' : 'the first list of a cache has not completed' },
    {
      name: 'caches-current',
      ok: current,
      detail:
        viewAgeMs === Infinity
          ? 'no cache has heard from the apiserver yet'
          : `the oldest cache (${oldest}) was current ${seconds(viewAgeMs)} ago (bound ${seconds(input.maxStalenessMs)})`,
    },
    {
      name: 'apiserver',
      ok: reachable,
      detail: reachable
        ? 'the apiserver answers ready'
        : `${input.apiserver.lastError ?? 'no answer'}; last answered ready ${input.apiserver.lastOkAt === 0 ? 'never' : `${seconds(sinceOk)} ago`}`,
    },
    { name: 'keys', ok: input.keysLoaded, detail: input.keysLoaded ? 'the key ring is loaded' : 'the key ring is not loaded yet' },
    // Not ready from the first moment of a stop, so no new traffic is sent here while the drain
    // still answers what arrives.
    {
      name: 'shutting-down',
      ok: input.stopping !== true,
      detail: input.stopping === true ? 'stopping: stepped down, answering resolves until the drain ends' : 'not stopping',
    },
  ];
  return { ready: checks.every((c) => c.ok), current, viewAgeMs, checks };
}

/** The /readyz body: one line per check, `[+]` passed or `[-]` failed, as the apiserver's own. */
export function formatHealth(health: Health): string {
  const lines = health.checks.map((c) => `[${c.ok ? '+' : '-'}]${c.name}: ${c.detail}`);
  return `${lines.join('\n')}\n${health.ready ? 'ready' : 'not ready'}\n`;
}
