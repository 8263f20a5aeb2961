/**
 * The Secrets page ("Settings > Secrets"): a tenant picker, a filter box, the list (Name,
 * Description, Created, Updated, Reference with a copy button, Status, Last used; sortable, a
 * page of rows at a time), New Secret, a detail panel per secret, and per row an Actions menu with
 * Edit and Delete. Unsettled rows refresh themselves; outcomes are announced in a live region.
 * Loading, empty, error and signed-out states are screens of their own.
 */
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { SecretRow, SessionInfo, TenantList } from '../api.js';
import { isNamespaceName } from '../../core/names.js';
import { ApiError, getSession, getTenants, listSecrets, signOut, startSession } from './client.js';
import { DetailsDialog } from './details.js';
import { DeleteSecretDialog, EditSecretDialog, NewSecretDialog } from './dialogs.js';
import { filterRows, PAGE_SIZE, pageOf, sortRows, withPage, type Sort } from './list.js';
import { liveNames, useLiveRows, type Refreshed } from './live.js';
import { SecretsTable } from './table.js';

type Load<T> = { state: 'loading' } | { state: 'error'; error: ApiError } | { state: 'ready'; data: T };
type Open = { kind: 'new' } | { kind: 'edit'; row: SecretRow } | { kind: 'delete'; row: SecretRow } | { kind: 'details'; row: SecretRow } | undefined;
/** The list as loaded so far: rows in the apiserver's order, and whether more pages follow. */
type Rows = { rows: SecretRow[]; complete: boolean; remaining?: number };

/** Rows of the first page (small: drawn fast), then of each following one. */
const FIRST_PAGE = 250;
const NEXT_PAGE = 1000;

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'INTERNAL', (err as Error).message);
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

/** "Showing 1–50 of 1,234 (matching “x”)", and how many are still loading. */
function countText(matching: number, visible: { page: number; rows: unknown[] }, data: Rows, filter: string): string {
  const n = (x: number) => x.toLocaleString();
  const from = visible.page * PAGE_SIZE + 1;
  const range = matching === 0 ? 'None' : `Showing ${n(from)}–${n(from + visible.rows.length - 1)} of ${n(matching)}`;
  const more = data.complete ? '' : data.remaining !== undefined ? `; loading ${n(data.remaining)} more…` : '; loading more…';
  return `${range}${filter.trim() ? ` matching “${filter.trim()}”` : ''}${more}`;
}

/** When namespaces cannot be listed: the person opens their tenant's namespace by name. */
function OpenNamespace({ note, onOpen }: { note: string | undefined; onOpen: (namespace: string) => void }) {
  const [namespace, setNamespace] = useState('');
  const [problem, setProblem] = useState('');
  const open = (e: Event) => {
    e.preventDefault();
    const ns = namespace.trim();
    if (!isNamespaceName(ns)) return setProblem(`“${ns}” is not a namespace name: lower-case letters, digits and '-', at most 63 characters.`);
    setProblem('');
    onOpen(ns);
  };
  return (
    <form class="open-namespace" onSubmit={open}>
      <p id="open-namespace-note">{note}</p>
      <label for="open-namespace">Namespace</label>
      <input id="open-namespace" value={namespace} autocomplete="off" spellcheck={false} aria-invalid={problem !== ''} aria-describedby="open-namespace-note open-namespace-problem" onInput={(e) => setNamespace(e.currentTarget.value)} />
      <button type="submit" disabled={namespace.trim() === ''}>Open</button>
      <p id="open-namespace-problem" class="field-error" role="alert">{problem}</p>
    </form>
  );
}

function App() {
  const [session, setSession] = useState<Load<SessionInfo>>({ state: 'loading' });
  const [tenants, setTenants] = useState<Load<TenantList>>({ state: 'loading' });
  const [tenant, setTenant] = useState<string>();
  const [secrets, setSecrets] = useState<Load<Rows>>({ state: 'loading' });
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<Sort>({ key: 'name', descending: false });
  const [page, setPage] = useState(0);
  const [open, setOpen] = useState<Open>();
  const [notice, setNotice] = useState('');
  const newButton = useRef<HTMLButtonElement>(null);
  // Focus goes back once a dialog is gone (while a modal dialog is open the rest of the page is
  // inert and cannot take it): to the row's Actions button after Edit, its name after Details,
  // else to New Secret.
  const previous = useRef<Open>(undefined);
  useEffect(() => {
    const was = previous.current;
    previous.current = open;
    if (open !== undefined || document.activeElement !== document.body) return;
    const row = was?.kind === 'edit' || was?.kind === 'details' ? document.getElementById(`name-${was.row.name}`)?.closest('tr') : undefined;
    const back = was?.kind === 'details' ? row?.querySelector<HTMLButtonElement>('th button') : row?.querySelector<HTMLButtonElement>('button[aria-label="Actions"]');
    (back ?? newButton.current)?.focus();
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

  // The tenant in the address (#tenant=NS) is also the namespace asked for by name when the
  // person may not list namespaces, so a link to a tenant's page works for them too.
  const loadTenants = useCallback((wanted: string | undefined = tenantFromHash()) => {
    setTenants({ state: 'loading' });
    getTenants(wanted)
      .then((data) => {
        setTenants({ state: 'ready', data });
        setTenant(data.tenants.find((t) => t.namespace === wanted)?.namespace ?? data.tenants[0]?.namespace);
      })
      .catch((err: unknown) => setTenants({ state: 'error', error: signedOutBy(err) }));
  }, []);
  useEffect(() => {
    if (session.state === 'ready') loadTenants();
  }, [session.state]);

  // Each load has a number: pages of an earlier load (another tenant) are dropped.
  const loadNumber = useRef(0);
  // Names deleted on the page while a load is still bringing pages: a later page (the list as it
  // was when the load began) must not bring them back.
  const removed = useRef(new Set<string>());
  const loadSecrets = useCallback((namespace: string) => {
    const load = ++loadNumber.current;
    removed.current = new Set();
    setSecrets({ state: 'loading' });
    // The first page is drawn as soon as it comes; the rest follow page by page (the server holds
    // one page at a time), and filter and sort apply to what has come so far. Each page is added
    // to the rows as they are then, so a row created, edited or deleted meanwhile stays as it is.
    const next = (token: string | undefined): void => {
      listSecrets(namespace, token === undefined ? FIRST_PAGE : NEXT_PAGE, token)
        .then((data) => {
          if (load !== loadNumber.current) return;
          setSecrets((s) => {
            const rows = withPage(s.state === 'ready' ? s.data.rows : [], data.secrets, removed.current);
            return { state: 'ready', data: { rows, complete: data.continue === undefined, ...(data.remaining !== undefined ? { remaining: data.remaining } : {}) } };
          });
          if (data.continue !== undefined) next(data.continue);
        })
        .catch((err: unknown) => {
          if (load === loadNumber.current) setSecrets({ state: 'error', error: signedOutBy(err) });
        });
    };
    next(undefined);
  }, []);
  useEffect(() => {
    if (tenant === undefined) return;
    history.replaceState(null, '', `#tenant=${tenant}`);
    setPage(0);
    loadSecrets(tenant);
  }, [tenant]);

  const all = secrets.state === 'ready' ? secrets.data.rows : undefined;
  const sorted = useMemo(() => (all ? sortRows(all, sort) : []), [all, sort]);
  const shown = useMemo(() => filterRows(sorted, filter), [sorted, filter]);
  const visible = pageOf(shown, page);
  const byName = useMemo(() => new Map((all ?? []).map((r) => [r.name, r])), [all]);

  /** Replaces (or adds, or with undefined removes) rows in place: keys stay, so focus stays. */
  const changeRows = (changes: Refreshed[]) => {
    setSecrets((s) => {
      if (s.state !== 'ready' || changes.length === 0) return s;
      const rows = s.data.rows.slice();
      for (const [name, row] of changes) {
        const at = rows.findIndex((r) => r.name === name);
        if (row === undefined) removed.current.add(name);
        else removed.current.delete(name);
        if (row === undefined) {
          if (at >= 0) rows.splice(at, 1);
        } else if (at >= 0) rows[at] = row;
        else rows.push(row);
      }
      return { state: 'ready', data: { ...s.data, rows } };
    });
  };
  // Rows the person changed here: their settling is announced.
  const watched = useRef(new Set<string>());
  const [kick, setKick] = useState(0);
  useLiveRows(tenant, liveNames(watched.current, visible.rows, byName), kick, (refreshed) => {
    for (const [name, row] of refreshed) {
      if (row === undefined || !row.status.settled || !watched.current.delete(name)) continue;
      const why = row.status.tone === 'ok' ? '' : ` (${row.status.reason}${row.status.message ? `: ${row.status.message}` : ''})`;
      setNotice(`${name}: ${row.status.label}${why}.`);
    }
    changeRows(refreshed);
  });

  if (session.state === 'loading') return <main><p class="state" aria-busy="true">Loading…</p></main>;
  if (session.state === 'error') {
    const refused = new URLSearchParams(location.search).get('signin') === 'refused';
    return <SignedOut signIn={session.error.signIn} reason={refused ? 'That sign-in link was already used or has expired.' : session.error.code === 'UNAUTHENTICATED' ? session.error.message : `The dashboard cannot be reached: ${session.error.message}`} />;
  }

  /** After a change: the dialog closes, the outcome is announced, the row changes in place and is watched until it settles. */
  const done = (message: string, change: Refreshed) => {
    setOpen(undefined);
    setNotice(message);
    if (change[1] === undefined) watched.current.delete(change[0]);
    else watched.current.add(change[0]);
    changeRows([change]);
    setKick((k) => k + 1);
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
        {tenants.state === 'ready' && tenants.data.askNamespace ? <OpenNamespace note={tenants.data.note} onOpen={(ns) => { history.replaceState(null, '', `#tenant=${ns}`); loadTenants(ns); }} /> : null}
        {tenants.state === 'ready' && tenantList.length === 0 && !tenants.data.askNamespace ? (
          <div class="state">
            <h2>No tenant to show</h2>
            <p>Kubernetes RBAC lets you list secrets in no tenant namespace (a namespace labelled <code>orka.io/tenant</code>). Ask your cluster admin for access.</p>
            {tenants.data.note ? <p>{tenants.data.note}</p> : null}
          </div>
        ) : null}
        {tenant !== undefined && secrets.state === 'loading' ? <p class="state" aria-busy="true">Loading secrets…</p> : null}
        {tenant !== undefined && secrets.state === 'error' ? <ErrorState error={secrets.error} onRetry={() => loadSecrets(tenant)} /> : null}
        {tenant !== undefined && secrets.state === 'ready' && secrets.data.rows.length === 0 && secrets.data.complete ? (
          <div class="state empty">
            <h2>No secrets in {tenant} yet</h2>
            <p>Create one with <strong>New Secret</strong>; workflows then reference it as <code>{'{{secrets.NAME}}'}</code>.</p>
          </div>
        ) : null}
        {tenant !== undefined && secrets.state === 'ready' && secrets.data.rows.length > 0 ? (
          <>
            <div class="find">
              <label for="filter">Filter</label>
              <input id="filter" type="search" value={filter} placeholder="Name or description" autocomplete="off" aria-describedby="count" onInput={(e) => { setFilter(e.currentTarget.value); setPage(0); }} />
              <p id="count" class="count">{countText(shown.length, visible, secrets.data, filter)}</p>
            </div>
            {shown.length === 0 ? <p class="state">No secret matches “{filter}”.</p> : (
              <SecretsTable
                rows={visible.rows}
                sort={sort}
                onSort={(s) => { setSort(s); setPage(0); }}
                onEdit={(row) => setOpen({ kind: 'edit', row })}
                onDelete={(row) => setOpen({ kind: 'delete', row })}
                onDetails={(row) => setOpen({ kind: 'details', row })}
                onCopied={setNotice}
              />
            )}
            {visible.pages > 1 ? (
              <nav class="pager" aria-label="Pages of secrets">
                <button type="button" disabled={visible.page === 0} onClick={() => setPage(visible.page - 1)}>Previous</button>
                <span>Page {visible.page + 1} of {visible.pages}</span>
                <button type="button" disabled={visible.page >= visible.pages - 1} onClick={() => setPage(visible.page + 1)}>Next</button>
              </nav>
            ) : null}
          </>
        ) : null}
      </main>
      {tenant !== undefined && open?.kind === 'new' ? <NewSecretDialog namespace={tenant} onClose={closeDialog} onDone={(r) => done(`Created ${r.name}. Reference it as ${r.reference}.`, [r.name, r])} /> : null}
      {tenant !== undefined && open?.kind === 'edit' ? <EditSecretDialog namespace={tenant} row={open.row} onClose={closeDialog} onDone={(r) => done(`Saved ${r.name}.`, [r.name, r])} /> : null}
      {tenant !== undefined && open?.kind === 'delete' ? <DeleteSecretDialog namespace={tenant} row={open.row} onClose={closeDialog} onDone={() => done(`Deleted ${open.row.name}.`, [open.row.name, undefined])} /> : null}
      {tenant !== undefined && open?.kind === 'details' ? <DetailsDialog namespace={tenant} row={open.row} onClose={closeDialog} /> : null}
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
