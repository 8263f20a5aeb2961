/**
 * The Secrets page ("Settings > Secrets"): a tenant picker, the list (Name, Description, Created,
 * Reference with a copy button, Status, Last used), New Secret, and per row an Actions menu with
 * Edit and Delete. Loading, empty, error and signed-out states are screens of their own.
 */
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { SecretRow, SessionInfo, TenantList } from '../api.js';
import { ApiError, getSession, getTenants, listSecrets, signOut, startSession } from './client.js';
import { DeleteSecretDialog, EditSecretDialog, NewSecretDialog } from './dialogs.js';

type Load<T> = { state: 'loading' } | { state: 'error'; error: ApiError } | { state: 'ready'; data: T };
type Open = { kind: 'new' } | { kind: 'edit'; row: SecretRow } | { kind: 'delete'; row: SecretRow } | undefined;

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', (err as Error).message);
}

function ago(iso: string | undefined): string {
  if (!iso) return 'Never';
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return 'Just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

// One formatter for every row: toLocaleDateString with options builds a new one per call, which
// costs about a millisecond each, a second for a list of 1,000.
const DATE = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

function date(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : DATE.format(d);
}

/** The per-row menu: a button named "Actions" opening Edit and Delete; arrow keys move, Escape closes. */
function ActionsMenu({ row, onEdit, onDelete }: { row: SecretRow; onEdit: () => void; onDelete: () => void }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  const items = () => Array.from(menu.current?.querySelectorAll<HTMLButtonElement>('[role="menuitem"]') ?? []);
  useEffect(() => {
    if (!open) return;
    items()[0]?.focus();
    const outside = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', outside);
    return () => document.removeEventListener('mousedown', outside);
  }, [open]);
  const close = (focusButton: boolean) => {
    setOpen(false);
    if (focusButton) button.current?.focus();
  };
  const onKey = (e: KeyboardEvent) => {
    const all = items();
    const at = all.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      all[(at + (e.key === 'ArrowDown' ? 1 : all.length - 1)) % all.length]?.focus();
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      all[e.key === 'Home' ? 0 : all.length - 1]?.focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      close(true);
    } else if (e.key === 'Tab') close(false);
  };
  const menuId = `menu-${row.name}`;
  return (
    <div class="menu-wrap">
      <button
        ref={button}
        type="button"
        class="icon"
        aria-label="Actions"
        aria-describedby={`name-${row.name}`}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen(!open)}
      >
        <span aria-hidden="true">⋯</span>
      </button>
      {open ? (
        <ul ref={menu} id={menuId} role="menu" aria-label={`Actions for ${row.name}`} onKeyDown={onKey}>
          <li role="none">
            <button type="button" role="menuitem" tabIndex={-1} onClick={() => { close(false); onEdit(); }}>Edit</button>
          </li>
          <li role="none">
            <button type="button" role="menuitem" tabIndex={-1} class="danger-text" onClick={() => { close(false); onDelete(); }}>Delete</button>
          </li>
        </ul>
      ) : null}
    </div>
  );
}

function SecretsTable({ rows, onEdit, onDelete, onCopied }: { rows: SecretRow[]; onEdit: (r: SecretRow) => void; onDelete: (r: SecretRow) => void; onCopied: (text: string) => void }) {
  const copy = async (reference: string) => {
    try {
      await navigator.clipboard.writeText(reference);
      onCopied(`Copied ${reference}`);
    } catch {
      onCopied('Could not copy: select the reference and copy it by hand');
    }
  };
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Description</th>
          <th scope="col">Created</th>
          <th scope="col">Reference</th>
          <th scope="col">Status</th>
          <th scope="col">Last used</th>
          <th scope="col"><span class="visually-hidden">Row actions</span></th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.name}>
            <th scope="row" id={`name-${r.name}`} class="name">{r.name}</th>
            <td class="description">{r.description}</td>
            <td><time dateTime={r.created} title={r.created}>{date(r.created)}</time></td>
            <td class="reference">
              <code>{r.reference}</code>
              <button type="button" class="icon copy" aria-label={`Copy reference ${r.reference}`} onClick={() => void copy(r.reference)}>
                <svg aria-hidden="true" viewBox="0 0 16 16" width="14" height="14"><rect x="5" y="5" width="9" height="9" rx="1.5" /><path d="M11 5V3.5A1.5 1.5 0 0 0 9.5 2h-6A1.5 1.5 0 0 0 2 3.5v6A1.5 1.5 0 0 0 3.5 11H5" /></svg>
              </button>
            </td>
            <td>
              <span class={r.ready ? 'badge ok' : 'badge warn'} title={r.statusMessage}>{r.status}</span>
            </td>
            <td>{r.lastUsed ? <time dateTime={r.lastUsed} title={r.lastUsed}>{ago(r.lastUsed)}</time> : 'Never'}</td>
            <td class="actions"><ActionsMenu row={r} onEdit={() => onEdit(r)} onDelete={() => onDelete(r)} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ErrorState({ error, onRetry }: { error: ApiError; onRetry: () => void }) {
  return (
    <div class="state error" role="alert">
      <h2>{error.code === 'FORBIDDEN' ? 'Not allowed' : error.code === 'UPSTREAM_UNAVAILABLE' ? 'Cluster unreachable' : 'Something went wrong'}</h2>
      <p>{error.message}</p>
      <button type="button" onClick={onRetry}>Try again</button>
    </div>
  );
}

/** In a cluster: sign in with a Kubernetes bearer token; the page reloads into the list. */
function TokenSignIn() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await startSession(token);
      setToken('');
      location.assign('/');
    } catch (err) {
      setError(asApiError(err).message);
      setBusy(false);
    }
  };
  return (
    <form class="signin" onSubmit={submit}>
      {error ? <p class="alert" role="alert">{error}</p> : null}
      <div class="field">
        <label for="token">Kubernetes token</label>
        <input id="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} aria-describedby="token-hint" />
        <p id="token-hint" class="hint">Every action runs with this token's own Kubernetes permissions. It is kept by the dashboard for this session only.</p>
      </div>
      <button type="submit" class="primary" disabled={busy || token === ''}>Sign in</button>
    </form>
  );
}

function SignedOut({ reason, signIn }: { reason: string; signIn: string | undefined }) {
  return (
    <main class="signed-out">
      <h1>Secrets</h1>
      <div class="state">
        <h2>You are signed out</h2>
        <p>{reason}</p>
        {signIn === 'token' ? <TokenSignIn /> : signIn === 'proxy' ? <p>Reload the page to sign in through your organisation's sign-in.</p> : (
          <p>To sign in, open the sign-in page that <code>orka-secrets dashboard</code> printed in your terminal (each works once, within a minute; press Enter there for a new one).</p>
        )}
      </div>
    </main>
  );
}

function tenantFromHash(): string | undefined {
  const m = /(?:^#|&)tenant=([a-z0-9-]+)/.exec(location.hash);
  return m?.[1];
}

function App() {
  const [session, setSession] = useState<Load<SessionInfo>>({ state: 'loading' });
  const [tenants, setTenants] = useState<Load<TenantList>>({ state: 'loading' });
  const [tenant, setTenant] = useState<string>();
  const [secrets, setSecrets] = useState<Load<SecretRow[]>>({ state: 'loading' });
  const [open, setOpen] = useState<Open>();
  const [notice, setNotice] = useState('');
  const newButton = useRef<HTMLButtonElement>(null);
  // Focus goes back once a dialog is gone (while a modal dialog is open the rest of the page is
  // inert and cannot take it): to the row's Actions button after Edit, else to New Secret.
  const previous = useRef<Open>(undefined);
  useEffect(() => {
    const was = previous.current;
    previous.current = open;
    if (open !== undefined || document.activeElement !== document.body) return;
    const actions = was?.kind === 'edit' ? document.getElementById(`name-${was.row.name}`)?.closest('tr')?.querySelector<HTMLButtonElement>('button[aria-label="Actions"]') : undefined;
    (actions ?? newButton.current)?.focus();
  }, [open]);

  const signedOutBy = (err: unknown) => {
    const e = asApiError(err);
    if (e.code === 'UNAUTHENTICATED') setSession({ state: 'error', error: e });
    return e;
  };

  useEffect(() => {
    getSession()
      .then((data) => setSession({ state: 'ready', data }))
      .catch((err: unknown) => setSession({ state: 'error', error: asApiError(err) }));
  }, []);

  const loadTenants = useCallback(() => {
    setTenants({ state: 'loading' });
    getTenants()
      .then((data) => {
        setTenants({ state: 'ready', data });
        const wanted = tenantFromHash();
        setTenant(data.tenants.find((t) => t.namespace === wanted)?.namespace ?? data.tenants[0]?.namespace);
      })
      .catch((err: unknown) => setTenants({ state: 'error', error: signedOutBy(err) }));
  }, []);
  useEffect(() => {
    if (session.state === 'ready') loadTenants();
  }, [session.state]);

  const loadSecrets = useCallback((namespace: string) => {
    setSecrets({ state: 'loading' });
    listSecrets(namespace)
      .then((data) => setSecrets({ state: 'ready', data: data.secrets }))
      .catch((err: unknown) => setSecrets({ state: 'error', error: signedOutBy(err) }));
  }, []);
  useEffect(() => {
    if (tenant === undefined) return;
    history.replaceState(null, '', `#tenant=${tenant}`);
    loadSecrets(tenant);
  }, [tenant]);

  if (session.state === 'loading') return <main><p class="state" aria-busy="true">Loading…</p></main>;
  if (session.state === 'error') {
    const refused = new URLSearchParams(location.search).get('signin') === 'refused';
    return <SignedOut signIn={session.error.signIn} reason={refused ? 'That sign-in link was already used or has expired.' : session.error.code === 'UNAUTHENTICATED' ? session.error.message : `The dashboard cannot be reached: ${session.error.message}`} />;
  }

  const done = (message: string) => {
    setOpen(undefined);
    setNotice(message);
    if (tenant) loadSecrets(tenant);
  };
  const closeDialog = () => setOpen(undefined);

  const tenantList = tenants.state === 'ready' ? tenants.data.tenants : [];
  return (
    <>
      <header class="topbar">
        <span class="brand">Orka</span>
        <nav aria-label="Breadcrumb">
          <ol>
            <li>Settings</li>
            <li aria-current="page">Secrets</li>
          </ol>
        </nav>
        <span class="who">{session.data.user ? `Signed in as ${session.data.user} · ` : ''}{session.data.cluster}</span>
        <button
          type="button"
          onClick={() => void signOut().finally(() => void getSession().catch((err: unknown) => setSession({ state: 'error', error: new ApiError(401, 'UNAUTHENTICATED', 'You signed out.', undefined, asApiError(err).signIn) })))}
        >
          Sign out
        </button>
      </header>
      <main>
        <div class="heading">
          <div>
            <h1>Secrets</h1>
            <p class="lead">Values are sealed in this browser for the tenant and name, and are never shown again. Workflows use them as <code>{'{{secrets.NAME}}'}</code>.</p>
          </div>
          <div class="toolbar">
            <label for="tenant">Tenant</label>
            <select id="tenant" value={tenant ?? ''} disabled={tenantList.length === 0} onChange={(e) => setTenant(e.currentTarget.value)}>
              {tenantList.map((t) => (
                <option key={t.namespace} value={t.namespace}>{t.tenant && t.tenant !== t.namespace ? `${t.namespace} (${t.tenant})` : t.namespace}</option>
              ))}
            </select>
            <button ref={newButton} type="button" class="primary" disabled={tenant === undefined} onClick={() => setOpen({ kind: 'new' })}>New Secret</button>
          </div>
        </div>
        <p class="notice" role="status" aria-live="polite">{notice}</p>
        {tenants.state === 'loading' ? <p class="state" aria-busy="true">Loading tenants…</p> : null}
        {tenants.state === 'error' ? <ErrorState error={tenants.error} onRetry={loadTenants} /> : null}
        {tenants.state === 'ready' && tenantList.length === 0 ? (
          <div class="state">
            <h2>No tenant to show</h2>
            <p>Kubernetes RBAC lets you list secrets in no tenant namespace (a namespace labelled <code>orka.io/tenant</code>). Ask your cluster admin for access.</p>
            {tenants.data.note ? <p>{tenants.data.note}</p> : null}
          </div>
        ) : null}
        {tenant !== undefined && secrets.state === 'loading' ? <p class="state" aria-busy="true">Loading secrets…</p> : null}
        {tenant !== undefined && secrets.state === 'error' ? <ErrorState error={secrets.error} onRetry={() => loadSecrets(tenant)} /> : null}
        {tenant !== undefined && secrets.state === 'ready' && secrets.data.length === 0 ? (
          <div class="state empty">
            <h2>No secrets in {tenant} yet</h2>
            <p>Create one with <strong>New Secret</strong>; workflows then reference it as <code>{'{{secrets.NAME}}'}</code>.</p>
          </div>
        ) : null}
        {tenant !== undefined && secrets.state === 'ready' && secrets.data.length > 0 ? (
          <SecretsTable rows={secrets.data} onEdit={(row) => setOpen({ kind: 'edit', row })} onDelete={(row) => setOpen({ kind: 'delete', row })} onCopied={setNotice} />
        ) : null}
      </main>
      {tenant !== undefined && open?.kind === 'new' ? <NewSecretDialog namespace={tenant} onClose={closeDialog} onDone={(r) => done(`Created ${r.name}. Reference it as ${r.reference}.`)} /> : null}
      {tenant !== undefined && open?.kind === 'edit' ? <EditSecretDialog namespace={tenant} row={open.row} onClose={closeDialog} onDone={(r) => done(`Saved ${r.name}.`)} /> : null}
      {tenant !== undefined && open?.kind === 'delete' ? <DeleteSecretDialog namespace={tenant} row={open.row} onClose={closeDialog} onDone={() => done(`Deleted ${open.row.name}.`)} /> : null}
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
