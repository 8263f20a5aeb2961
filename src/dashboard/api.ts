/**
 * The contract between the dashboard server and its page: JSON shapes of the `/api/` routes and
 * the words the page shows for a status. Pure (types only), imported by both sides.
 *
 * No shape here can carry a value: the page submits a sealed value, and nothing a route answers
 * has a field for one (not even the sealed value: the list projects each OrkaSecret to a row).
 */

import type { RowStatus } from './status.js';

/** Header that carries the session's CSRF token on every change (POST, PATCH, DELETE). */
export const CSRF_HEADER = 'x-csrf-token';

/** GET /api/session. */
export interface SessionInfo {
  csrfToken: string;
  /** Who the cluster says the person is, when it can tell (for the header). */
  user?: string;
  /** The cluster's address, for the "cluster unreachable" message and the header. */
  cluster: string;
  /** When the session ends (ISO 8601). */
  expiresAt: string;
}

/** One tenant namespace the person may list secrets in. */
export interface Tenant {
  namespace: string;
  /** The value of the namespace's `orka.io/tenant` label, when readable. */
  tenant?: string;
}

/** GET /api/tenants. */
export interface TenantList {
  tenants: Tenant[];
  /** Why the list may be incomplete (for example, namespaces cannot be listed), in words. */
  note?: string;
  /** Namespaces cannot be listed: the page asks for one by name (`GET /api/tenants?namespace=NS`). */
  askNamespace?: boolean;
}

/** One row of the list: what `kubectl get osec` shows, never a value. */
export interface SecretRow {
  name: string;
  description: string;
  created: string;
  /** When the value last changed (status.valueUpdatedAt), if the operator has stored one. */
  updated?: string;
  reference: string;
  /** The pill, with `kubectl get osec`'s READY and REASON (src/dashboard/status.ts). */
  status: RowStatus;
  lastUsed?: string;
  version: number;
}

/** GET /api/tenants/:namespace/secrets[?limit=N&continue=TOKEN]: one page of the apiserver's list. */
export interface SecretList {
  namespace: string;
  secrets: SecretRow[];
  /** The apiserver's continue token: more rows follow (ask again with it). */
  continue?: string;
  /** How many rows follow, when the apiserver says (its remainingItemCount). */
  remaining?: number;
}

/** Where the value comes from: never the value, not even sealed. */
export type SecretSource = { kind: 'sealed' } | { kind: 'valueFrom'; secret: string; key: string } | { kind: 'none' };

/** One Event about a secret (`kubectl describe osec`'s Events). */
export interface SecretEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  /** When it last happened (ISO 8601). */
  last: string;
}

/** GET /api/tenants/:namespace/secrets/:name: the row and what the detail panel shows. */
export interface SecretDetail extends SecretRow {
  source: SecretSource;
  conditions: { type: string; status: string; reason: string; message: string; lastTransitionTime: string }[];
  usage?: { lastResolvedAt?: string; resolveCount?: number };
  /** The most recent Events, newest first; or why they cannot be shown (RBAC). */
  events: SecretEvent[] | { unavailable: string };
}

/** POST /api/tenants/:namespace/secrets. */
export interface CreateRequest {
  name: string;
  description?: string;
  /** The value sealed in the browser (base64 envelope); the only form a value travels in. */
  sealedValue: string;
}

/** PATCH /api/tenants/:namespace/secrets/:name: absent fields are kept (an absent value keeps the stored one). */
export interface UpdateRequest {
  description?: string;
  sealedValue?: string;
}

/** Every error answer: a stable code and a message for a person. */
export interface ErrorAnswer {
  error: { code: string; message: string; verb?: string; field?: string; signIn?: 'link' | 'token' | 'proxy' };
}

/** Largest description, in characters (the CRD's limit). */
export const MAX_DESCRIPTION = 1024;
