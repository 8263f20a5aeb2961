/**
 * The contract between the dashboard server and its page: JSON shapes of the `/api/` routes and
 * the words the page shows for a status. Pure (types and one table), imported by both sides.
 *
 * No shape here can carry a value: the page submits a sealed value, and nothing a route answers
 * has a field for one (not even the sealed value: the list projects each OrkaSecret to a row).
 */

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
}

/** One row of the list: what `kubectl get osec` shows, never a value. */
export interface SecretRow {
  name: string;
  description: string;
  created: string;
  reference: string;
  /** `Ready`, or the Ready condition's reason in words. */
  status: string;
  ready: boolean;
  /** The condition's message, for a tooltip/description (never holds a value). */
  statusMessage?: string;
  lastUsed?: string;
  version: number;
}

/** GET /api/tenants/:namespace/secrets. */
export interface SecretList {
  namespace: string;
  secrets: SecretRow[];
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

const REASON_WORDS: Record<string, string> = {
  Stored: 'Ready',
  InvalidName: 'Invalid name',
  NotATenant: 'Namespace is not a tenant',
  NoValue: 'No value given',
  SealedForAnotherSecret: 'Sealed for another secret',
  SealedForAnotherTenant: 'Sealed for another tenant',
  NamespaceBoundSealedValue: 'Sealed in an old format: seal again',
  SourceNotFound: 'Source Secret not found',
  DecryptFailed: 'Sealed value could not be opened',
  ValueTooLarge: 'Value too large',
  ConflictingSources: 'Two value sources given',
  StorageDeleted: 'Storage deleted, restoring',
};

/** The words for a Ready condition's reason (`Pending` before the operator has looked at it). */
export function statusWords(reason: string | undefined): string {
  if (reason === undefined) return 'Pending';
  return REASON_WORDS[reason] ?? reason.replace(/([a-z])([A-Z])/g, '$1 $2');
}
