/**
 * Canary values: unique secret values a test plants, then searches for wherever a value must
 * never appear (etcd, logs, events, statuses, CLI output), in every form it could take there.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { valueForms } from '../../src/core/redact.js';

/**
 * Characters that every encoding writes differently (JSON and Go's JSON escape `"` and `&`, URL
 * encoding `/`, `+`, `"` and `&`), so a search for the raw text alone would miss the others.
 */
export const AWKWARD = '/+"&';

/** Makes canaries and remembers every one made. */
export function canaries(prefix = 'CANARY'): { make: (label: string) => string; all: string[] } {
  const all: string[] = [];
  return {
    all,
    make: (label) => {
      const value = `${prefix}-${label}-${randomBytes(8).toString('hex')}${AWKWARD}${randomBytes(8).toString('hex')}`;
      all.push(value);
      return value;
    },
  };
}

/**
 * Every form a value could take in text: the redactor's own list (raw, JSON-escaped, URL- and
 * form-encoded, base64 and base64url whole and at each byte alignment), plus Go's JSON escaping,
 * which also escapes `&`, `<` and `>` (how the apiserver writes custom resources to etcd).
 */
export function leakForms(value: string): string[] {
  const goJson = JSON.stringify(value).slice(1, -1).replaceAll('&', '\\u0026').replaceAll('<', '\\u003c').replaceAll('>', '\\u003e');
  return [...new Set([...valueForms(value), goJson])];
}

/** Where each value shows up in `text`, in any of its forms: one line per value found, empty if none. */
export function findLeaks(text: string, values: readonly string[]): string[] {
  const found: string[] = [];
  for (const value of values) {
    const form = leakForms(value).find((f) => text.includes(f));
    if (form !== undefined) found.push(`${value.slice(0, 32)}... found as ${JSON.stringify(form.slice(0, 48))}`);
  }
  return found;
}

/**
 * Everything under /registry, straight from etcd. This apiserver stores Secrets unencrypted, as
 * protobuf (their bytes as they are), and custom resources as JSON: a value written anywhere
 * shows up here in one of the forms `findLeaks` searches.
 */
export function etcdText(etcdUrl: string): string {
  return execFileSync('etcdctl', ['--endpoints', etcdUrl, 'get', '--prefix', '/registry'], { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 512 * 1024 * 1024 }).toString('latin1');
}

/** The selector of OrkaSecret calls of the custom-objects API in a namespace. */
export const osecCoords = (namespace: string) => ({ group: 'orka.io', version: 'v1alpha1', namespace, plural: 'orkasecrets' });
