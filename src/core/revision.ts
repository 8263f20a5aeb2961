/**
 * Kubernetes resourceVersions as numbers, and the sidecar's floor of operator views (pure).
 *
 * The one assumption: a resourceVersion is the decimal text of etcd3's store revision, one counter
 * for every object of the cluster, so two of them compare as integers whatever object or kind
 * they come from. Kubernetes documents resourceVersions as opaque; every apiserver backed by
 * etcd3 (every release since 1.13) gives them this form, and the operator's caches, the resolver's
 * answers and the sidecar's cache all rely on it. Anything else (absent, not a decimal counter,
 * past 2^53) is NO_REVISION: older than every revision, never newer.
 *
 * A replica's *view revision* is the newest resourceVersion its caches have processed (see
 * src/operator/kube/informers.ts): every change up to it is in what the replica answers. The
 * sidecar keeps the highest view it has heard from any replica, its *floor*; an answer from a
 * view below the floor may lack a change the sidecar already knows happened, so it is asked
 * again elsewhere; an answer from a view at the floor or above is authoritative, a name it says
 * is missing included.
 */

/** No revision (absent, or not a decimal counter): older than any revision. */
export const NO_REVISION = -1;

/** A resourceVersion as a number; NO_REVISION when absent or not a decimal counter. */
export function parseRevision(revision: unknown): number {
  if (typeof revision !== 'string' || !/^[0-9]{1,15}$/.test(revision)) return NO_REVISION;
  return Number(revision);
}

/** The highest operator view a sidecar has heard, and how an answer's view compares with it. */
export class ViewFloor {
  private highest = NO_REVISION;

  /** The floor now (NO_REVISION before any view was heard). */
  get value(): number {
    return this.highest;
  }

  /** A replica said its view is `view` (a frame or an answer): the floor rises to it. */
  hear(view: number): void {
    if (view > this.highest) this.highest = view;
  }

  /**
   * Whether an answer from `view` is older than what this sidecar has heard, so it may lack a
   * change: asked again. An answer without a view (an operator from before views) is not judged
   * here; the per-name revisions still order it.
   */
  behind(view: number): boolean {
    return view !== NO_REVISION && view < this.highest;
  }
}
