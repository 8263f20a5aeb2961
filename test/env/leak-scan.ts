/**
 * The end of a suite's leak scan, shared: each search first shows that it sees (a control canary
 * put where it must be found), then that no planted value is there, in any encoded form.
 */
import { expect } from 'vitest';
import { etcdText, findLeaks } from './canary.js';

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
