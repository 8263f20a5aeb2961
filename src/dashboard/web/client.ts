/**
 * The page's calls to its own server (same origin only; the CSP allows nothing else). Every
 * change carries the session's CSRF token. Values never pass here: only sealed envelopes.
 */
import { CSRF_HEADER, type CreateRequest, type ErrorAnswer, type SecretDetail, type SecretList, type SecretRow, type SessionInfo, type TenantList, type UpdateRequest } from '../api.js';
import type { NamespaceSealingKey } from './seal.js';

/** A refusal or failure, with the server's stable code and message for a person. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** On UNAUTHENTICATED: how this dashboard signs people in. */
    readonly signIn?: string,
  ) {
    super(message);
  }
}

let csrfToken = '';

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(method === 'GET' ? {} : { [CSRF_HEADER]: csrfToken }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'DASHBOARD_UNREACHABLE', 'the dashboard does not answer: is orka-secrets dashboard still running?');
  }
  if (res.status === 204) return undefined as T;
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    throw new ApiError(res.status, 'INTERNAL', `the dashboard answered HTTP ${res.status}`);
  }
  if (!res.ok) {
    const error = (parsed as ErrorAnswer).error ?? { code: 'INTERNAL', message: `HTTP ${res.status}` };
    throw new ApiError(res.status, error.code, error.message, error.field, error.signIn);
  }
  return parsed as T;
}

/** The session; remembers its CSRF token for later changes. */
export async function getSession(): Promise<SessionInfo> {
  const session = await call<SessionInfo>('GET', '/api/session');
  csrfToken = session.csrfToken;
  return session;
}

/** Signs in with a Kubernetes bearer token (in-cluster form). */
export const startSession = (token: string): Promise<void> => call('POST', '/api/session/start', { token });
/** Ends the session. */
export const signOut = (): Promise<void> => call('POST', '/api/session/end');
/** Tenants the person may list secrets in. */
export const getTenants = (namespace?: string): Promise<TenantList> => call('GET', namespace === undefined ? '/api/tenants' : `/api/tenants?namespace=${encodeURIComponent(namespace)}`);
/** The operator's public sealing key (from the cluster), with the tenant id of the namespace it seals for. */
export const getSealingKey = (namespace: string): Promise<NamespaceSealingKey> => call('GET', `/api/tenants/${encodeURIComponent(namespace)}/sealing-key`);

const secretsPath = (namespace: string) => `/api/tenants/${encodeURIComponent(namespace)}/secrets`;

/** One page of a tenant's secrets (`continueToken`: the previous page's `continue`). */
export const listSecrets = (namespace: string, limit: number, continueToken?: string): Promise<SecretList> =>
  call('GET', `${secretsPath(namespace)}?limit=${limit}${continueToken ? `&continue=${encodeURIComponent(continueToken)}` : ''}`);
/** One secret with its detail (source, conditions, Events, use). */
export const getSecret = (namespace: string, name: string, events = true): Promise<SecretDetail> =>
  call('GET', `${secretsPath(namespace)}/${encodeURIComponent(name)}${events ? '' : '?events=false'}`);
/** Creates a secret from a sealed value. */
export const createSecret = (namespace: string, body: CreateRequest): Promise<SecretRow> => call('POST', secretsPath(namespace), body);
/** Updates description and/or sealed value. */
export const updateSecret = (namespace: string, name: string, body: UpdateRequest): Promise<SecretRow> =>
  call('PATCH', `${secretsPath(namespace)}/${encodeURIComponent(name)}`, body);
/** Deletes a secret. */
export const deleteSecret = (namespace: string, name: string): Promise<void> => call('DELETE', `${secretsPath(namespace)}/${encodeURIComponent(name)}`);
