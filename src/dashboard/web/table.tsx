/**
 * The list's table: sortable column headers, one row per secret with its status pill (the same
 * READY and REASON as `kubectl get osec`, the message and a troubleshooting link inline), and the
 * per-row Actions menu. Rows are keyed by name, so a row refreshed in place keeps the focus.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SecretRow } from '../api.js';
import { troubleshootingLink, type RowStatus } from '../status.js';
import type { Sort, SortKey } from './list.js';
import { ago } from './relative-time.js';

// One formatter for every row: toLocaleDateString with options builds a new one per call, which
// costs about a millisecond each, a second for a list of 1,000.
const DATE = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

function date(iso: string | undefined): string {
  const d = new Date(iso ?? '');
  return Number.isNaN(d.getTime()) ? '' : DATE.format(d);
}

/** A date cell: the date (or how long ago), the exact time on hover; `none` when there is none. */
function When({ iso, relative, none }: { iso: string | undefined; relative?: boolean; none: string }) {
  if (!iso) return <span class="muted">{none}</span>;
  return <time dateTime={iso} title={iso}>{relative ? ago(iso) : date(iso)}</time>;
}

/** The status pill; for anything but Ready, kubectl's READY and REASON, the message and a link to what to do. */
export function StatusPill({ status, id }: { status: RowStatus; id?: string }) {
  return (
    <div class="status" id={id}>
      <span class={`badge ${status.tone}`}>{status.label}</span>
      {status.tone === 'ok' ? null : (
        <p class="status-detail">
          {status.reason ? <><span class="kubectl">Ready {status.ready || '–'} · {status.reason}</span>{status.message ? ': ' : ''}</> : null}
          {status.message}
          {status.tone === 'warn' || status.tone === 'error' ? <> <a href={troubleshootingLink(status.reason)} target="_blank" rel="noopener">What to do<span class="visually-hidden"> about {status.reason}</span></a></> : null}
        </p>
      )}
    </div>
  );
}

/** The per-row menu: a button named "Actions" opening Edit and Delete; arrow keys move, Escape closes. */
export function ActionsMenu({ row, onEdit, onDelete }: { row: SecretRow; onEdit: () => void; onDelete: () => void }) {
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

const COLUMNS: { key: SortKey; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'created', label: 'Created' },
  { key: 'updated', label: 'Updated' },
  { key: 'lastUsed', label: 'Last used' },
];

/** A column header that sorts by its column (aria-sort says the current order). */
function SortHeader({ column, sort, onSort }: { column: { key: SortKey; label: string }; sort: Sort; onSort: (s: Sort) => void }) {
  const active = sort.key === column.key;
  return (
    <th scope="col" aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : undefined}>
      <button type="button" class="sort" onClick={() => onSort({ key: column.key, descending: active ? !sort.descending : column.key !== 'name' })}>
        {column.label}
        <span aria-hidden="true" class="arrow">{active ? (sort.descending ? '▼' : '▲') : ''}</span>
      </button>
    </th>
  );
}

interface TableProps {
  rows: SecretRow[];
  sort: Sort;
  onSort: (s: Sort) => void;
  onEdit: (r: SecretRow) => void;
  onDelete: (r: SecretRow) => void;
  onDetails: (r: SecretRow) => void;
  onCopied: (text: string) => void;
}

/** The table of one page of rows. */
export function SecretsTable({ rows, sort, onSort, onEdit, onDelete, onDetails, onCopied }: TableProps) {
  const copy = async (reference: string) => {
    try {
      await navigator.clipboard.writeText(reference);
      onCopied(`Copied ${reference}`);
    } catch {
      onCopied('Could not copy: select the reference and copy it by hand');
    }
  };
  const [name, created, updated, lastUsed] = COLUMNS.map((c) => <SortHeader key={c.key} column={c} sort={sort} onSort={onSort} />);
  return (
    <table>
      <thead>
        <tr>
          {name}
          <th scope="col">Description</th>
          {created}
          {updated}
          <th scope="col">Reference</th>
          <th scope="col">Status</th>
          {lastUsed}
          <th scope="col"><span class="visually-hidden">Row actions</span></th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.name}>
            <th scope="row" id={`name-${r.name}`} class="name">
              <button type="button" class="link name-button" aria-haspopup="dialog" onClick={() => onDetails(r)}>{r.name}</button>
            </th>
            <td class="description">{r.description}</td>
            <td><When iso={r.created} none="" /></td>
            <td><When iso={r.updated} none="Not yet" /></td>
            <td class="reference">
              <code>{r.reference}</code>
              <button type="button" class="icon copy" aria-label={`Copy reference ${r.reference}`} onClick={() => void copy(r.reference)}>
                <svg aria-hidden="true" viewBox="0 0 16 16" width="14" height="14"><rect x="5" y="5" width="9" height="9" rx="1.5" /><path d="M11 5V3.5A1.5 1.5 0 0 0 9.5 2h-6A1.5 1.5 0 0 0 2 3.5v6A1.5 1.5 0 0 0 3.5 11H5" /></svg>
              </button>
            </td>
            <td class="status-cell"><StatusPill status={r.status} /></td>
            <td><When iso={r.lastUsed} relative none="Never" /></td>
            <td class="actions"><ActionsMenu row={r} onEdit={() => onEdit(r)} onDelete={() => onDelete(r)} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
