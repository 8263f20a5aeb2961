/**
 * Canary values: unique secret values a test plants, then searches for wherever a value must
 * never appear (etcd, logs, events, statuses, CLI output).
 */
import { randomBytes } from 'node:crypto';

/** Makes canaries and remembers every one made. */
export function canaries(prefix = 'CANARY'): { make: (label: string) => string; all: string[] } {
  const all: string[] = [];
  return {
    all,
    make: (label) => {
      const value = `${prefix}-${label}-${randomBytes(12).toString('hex')}`;
      all.push(value);
      return value;
    },
  };
}

/** The selector of OrkaSecret calls of the custom-objects API in a namespace. */
export const osecCoords = (namespace: string) => ({ group: 'orka.io', version: 'v1alpha1', namespace, plural: 'orkasecrets' });
