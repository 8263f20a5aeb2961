/**
 * The end of a suite's leak scan, shared: each search first shows that it sees (a control canary
 * put where it must be found), then that no planted value is there, in any encoded form.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { etcdText, findLeaks, osecCoords } from './canary.js';

/** `text` holds the control canary (put there on purpose) and none of the planted values. */
export function expectControlOnly(where: string, text: string, planted: readonly string[], control: string): void {
  expect(findLeaks(text, [control]), `self-check: the control canary is in ${where}`).toHaveLength(1);
  expect(findLeaks(text, planted), `in ${where}`).toEqual([]);
}

/** etcd holds the control canary (a description, stored escaped as the apiserver writes it) and none of the planted values. */
export function expectEtcdControlOnly(etcdUrl: string, planted: readonly string[], control: string): void {
  const etcd = etcdText(etcdUrl);
  expect(etcd.includes(control), 'the control canary is stored escaped, not as it is').toBe(false);
  expectControlOnly('etcd', etcd, planted, control);
}

/** What the operator reports in `namespaces`, as JSON: every OrkaSecret's status (its conditions) and every Event. */
export async function statusesAndEvents(kc: KubeConfig, namespaces: readonly string[]): Promise<string> {
  const parts: unknown[] = [];
  for (const namespace of namespaces) {
    const list = (await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject(osecCoords(namespace))) as { items: Array<{ metadata?: { name?: string }; status?: unknown }> };
    parts.push(...list.items.map((o) => ({ name: o.metadata?.name, status: o.status })));
    parts.push(...(await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items.map((e) => ({ reason: e.reason, message: e.message, note: (e as { note?: string }).note })));
  }
  return JSON.stringify(parts);
}

/**
 * The end of a suite that planted values: none is in the processes' logs, the OrkaSecrets'
 * conditions or the Events of `namespaces`, in any encoded form (self-check: a control canary put
 * in as a JSON-escaped log line is seen).
 */
export async function expectNoValueReported(args: { kc: KubeConfig; namespaces: readonly string[]; logs: readonly string[]; planted: readonly string[]; control: string }): Promise<void> {
  const reported = await statusesAndEvents(args.kc, args.namespaces);
  expect(reported, 'the operator reported something to search').toMatch(/"conditions"/);
  expectControlOnly('the logs, conditions and Events', [...args.logs, reported, JSON.stringify({ msg: args.control })].join('\n'), args.planted, args.control);
}
