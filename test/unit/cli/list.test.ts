import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { OrkaSecret } from '../../../src/api/resource.js';
import { asList, renderList } from '../../../src/cli/list.js';

const now = Date.parse('2026-01-10T00:00:00Z');
const secret = (name: string, namespace: string, extra: Partial<OrkaSecret> = {}): OrkaSecret => ({
  apiVersion: 'orka.io/v1alpha1',
  kind: 'OrkaSecret',
  metadata: { name, namespace, creationTimestamp: '2026-01-09T23:30:00Z', managedFields: [{ manager: 'orka-secrets-cli' }] } as unknown as OrkaSecret['metadata'],
  spec: { description: 'Payments', sealedValue: 'AAAA' },
  status: { reference: `{{secrets.${name.toUpperCase().replaceAll('-', '_')}}}`, version: 2, usage: { resolveCount: 7, lastResolvedAt: '2026-01-09T23:59:00Z' }, conditions: [{ type: 'Ready', status: 'True', reason: 'Stored', message: '', lastTransitionTime: '2026-01-09T23:30:00Z' }] },
  ...extra,
});
const items = [secret('stripe-api-key', 'acme'), secret('webhook-url', 'beta', { spec: { valueFrom: { secretKeyRef: { name: 'hooks', key: 'url' } } } })];

describe('renderList', () => {
  it('table: a header row and one row a secret; --no-headers drops only the header', () => {
    const text = renderList(items, { output: 'table', allNamespaces: false, headers: true, now });
    const [header, ...rows] = text.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'DESCRIPTION', 'CREATED', 'REFERENCE', 'READY', 'LAST USED']);
    expect(rows[0]?.split(/\s{2,}/)).toEqual(['STRIPE_API_KEY', 'Payments', '30m ago', '{{secrets.STRIPE_API_KEY}}', 'True', '60s ago']);
    expect(renderList(items, { output: 'table', allNamespaces: false, headers: false, now })).toBe(`${rows.join('\n')}\n`);
    expect(renderList([], { output: 'table', allNamespaces: false, headers: false, now })).toBe('');
  });

  it('wide: the namespace with -A, then version, resolutions and source', () => {
    const [header, , second] = renderList(items, { output: 'wide', allNamespaces: true, headers: true, now }).trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAMESPACE', 'NAME', 'DESCRIPTION', 'CREATED', 'REFERENCE', 'READY', 'LAST USED', 'VERSION', 'RESOLUTIONS', 'SOURCE']);
    expect(second?.split(/\s{2,}/)).toEqual(['beta', 'WEBHOOK_URL', '30m ago', '{{secrets.WEBHOOK_URL}}', 'True', '60s ago', '2', '7', 'secret/hooks:url']);
  });

  it('name: one secret name a line, as the other commands take it', () => {
    expect(renderList(items, { output: 'name', allNamespaces: false, headers: true })).toBe('STRIPE_API_KEY\nWEBHOOK_URL\n');
  });

  it.each(['json', 'yaml'] as const)('%s: a Kubernetes List of the objects, without managedFields', (output) => {
    const text = renderList(items, { output, allNamespaces: false, headers: true });
    const list = (output === 'json' ? JSON.parse(text) : parse(text)) as ReturnType<typeof asList>;
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' } });
    expect(list.items.map((o) => [o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name])).toEqual([
      ['orka.io/v1alpha1', 'OrkaSecret', 'acme', 'stripe-api-key'],
      ['orka.io/v1alpha1', 'OrkaSecret', 'beta', 'webhook-url'],
    ]);
    expect(list.items[0]?.status?.usage?.resolveCount).toBe(7);
    expect(text).not.toContain('managedFields');
    // The objects given are not changed.
    expect((items[0]?.metadata as { managedFields?: unknown }).managedFields).toBeDefined();
  });
});
