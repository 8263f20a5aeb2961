/**
 * Live rows: rows the operator has not settled (Pending) are asked for again, with backoff, until
 * they settle, so a new or edited secret turns Ready (or says what was refused) without a reload.
 * Only the rows on screen and the ones the person just changed are asked for, one GET each, so a
 * tenant of 10,000 unsettled secrets costs at most MAX_LIVE requests per round.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SecretDetail, SecretRow } from '../api.js';
import { ApiError, getSecret } from './client.js';

/** Rows asked for per round, at most. */
export const MAX_LIVE = 50;
const FIRST_MS = 1_000;
const LAST_MS = 30_000;

/** The wait before round `attempt` (0-based): 1 s, doubling, at most 30 s. */
export function backoffMs(attempt: number): number {
  return Math.min(LAST_MS, FIRST_MS * 2 ** Math.max(0, attempt));
}

/** The names to ask for this round: unsettled rows the person changed first, then those on screen. */
export function liveNames(watched: Iterable<string>, visible: readonly SecretRow[], byName: ReadonlyMap<string, SecretRow>): string[] {
  const names = new Set<string>();
  for (const name of watched) if (byName.get(name)?.status.settled === false) names.add(name);
  for (const r of visible) if (!r.status.settled) names.add(r.name);
  return [...names].slice(0, MAX_LIVE);
}

/** The row part of a detail answer (the list keeps rows only). */
export function rowOf(d: SecretDetail): SecretRow {
  return { name: d.name, description: d.description, created: d.created, ...(d.updated ? { updated: d.updated } : {}), reference: d.reference, status: d.status, ...(d.lastUsed ? { lastUsed: d.lastUsed } : {}), version: d.version };
}

/** One refreshed row: the new row, or undefined when it is gone (deleted elsewhere). */
export type Refreshed = [name: string, row: SecretRow | undefined];

/**
 * Asks for `names` in `namespace` after a backoff, hands the answers to `onRows`, and goes on while
 * any is unsettled. `kick` (a number that changes) starts again from the shortest wait: after a change.
 */
export function useLiveRows(namespace: string | undefined, names: string[], kick: number, onRows: (rows: Refreshed[]) => void): void {
  const attempt = useRef(0);
  const [round, setRound] = useState(0);
  useEffect(() => {
    attempt.current = 0;
  }, [kick, namespace]);
  const key = names.join('\n');
  useEffect(() => {
    if (namespace === undefined || names.length === 0) return;
    let stopped = false;
    const timer = setTimeout(() => {
      attempt.current++;
      void Promise.all(
        names.map((name) =>
          getSecret(namespace, name, false).then(
            (d): Refreshed | undefined => [name, rowOf(d)],
            (err: unknown): Refreshed | undefined => (err instanceof ApiError && err.code === 'SECRET_NOT_FOUND' ? [name, undefined] : undefined),
          ),
        ),
      ).then((answers) => {
        if (stopped) return;
        onRows(answers.filter((a): a is Refreshed => a !== undefined));
        setRound((r) => r + 1);
      });
    }, backoffMs(attempt.current));
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
    // names is keyed by its contents; onRows is the caller's latest.
  }, [namespace, key, kick, round]);
}
