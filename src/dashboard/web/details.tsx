/**
 * A secret's detail panel (a modal dialog): version, where the value comes from (sealed or a
 * Secret's key, never the value), the conditions, recent Events and use. Fetched when opened.
 */
import { useEffect, useState } from 'preact/hooks';
import type { SecretDetail, SecretRow } from '../api.js';
import { ApiError, getSecret } from './client.js';
import { Dialog } from './dialogs.js';
import { ago } from './relative-time.js';
import { StatusPill } from './table.js';

function Source({ detail }: { detail: SecretDetail }) {
  const s = detail.source;
  if (s.kind === 'sealed') return <>Sealed value (spec.sealedValue)</>;
  if (s.kind === 'valueFrom') return <>Key <code>{s.key}</code> of Secret <code>{s.secret}</code> (spec.valueFrom)</>;
  return <>None given</>;
}

/** The detail panel of `row` in `namespace`. */
export function DetailsDialog({ namespace, row, onClose }: { namespace: string; row: SecretRow; onClose: () => void }) {
  const [detail, setDetail] = useState<SecretDetail>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    getSecret(namespace, row.name).then(setDetail, (err: unknown) => setError(err instanceof ApiError ? err.message : String(err)));
  }, [namespace, row.name]);
  const d = detail;
  return (
    <Dialog title={`Details of ${row.name}`} onClose={onClose}>
      {error ? <p class="alert" role="alert">{error}</p> : null}
      {d === undefined && error === undefined ? <p aria-busy="true">Loading…</p> : null}
      {d ? (
        <div class="details">
          <dl>
            <dt>Status</dt>
            <dd><StatusPill status={d.status} /></dd>
            <dt>Version</dt>
            <dd>{d.version > 0 ? d.version : 'Nothing stored yet'}</dd>
            <dt>Source</dt>
            <dd><Source detail={d} /></dd>
            <dt>Value updated</dt>
            <dd>{d.updated ? <time dateTime={d.updated} title={d.updated}>{ago(d.updated)}</time> : 'Not yet'}</dd>
            <dt>Used</dt>
            <dd>{d.usage?.lastResolvedAt ? <>last <time dateTime={d.usage.lastResolvedAt} title={d.usage.lastResolvedAt}>{ago(d.usage.lastResolvedAt)}</time>{d.usage.resolveCount !== undefined ? `, ${d.usage.resolveCount} times` : ''}</> : 'Never'}</dd>
          </dl>
          <h3>Conditions</h3>
          {d.conditions.length === 0 ? <p>None yet: the operator has not looked at it.</p> : (
            <table class="compact">
              <thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">Since</th></tr></thead>
              <tbody>
                {d.conditions.map((c) => (
                  <tr key={c.type}><th scope="row">{c.type}</th><td>{c.status}</td><td>{c.reason}</td><td>{c.message}</td><td><time dateTime={c.lastTransitionTime} title={c.lastTransitionTime}>{ago(c.lastTransitionTime)}</time></td></tr>
                ))}
              </tbody>
            </table>
          )}
          <h3>Recent events</h3>
          {'unavailable' in d.events ? <p>{d.events.unavailable}.</p> : d.events.length === 0 ? <p>No events (Kubernetes keeps them about an hour).</p> : (
            <table class="compact">
              <thead><tr><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">When</th></tr></thead>
              <tbody>
                {d.events.map((e, i) => (
                  <tr key={i}><td>{e.type}</td><td>{e.reason}</td><td>{e.message}{e.count > 1 ? ` (×${e.count})` : ''}</td><td><time dateTime={e.last} title={e.last}>{ago(e.last)}</time></td></tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ) : null}
      <div class="buttons">
        <button type="button" onClick={onClose}>Close</button>
      </div>
    </Dialog>
  );
}
