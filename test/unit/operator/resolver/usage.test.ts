import type { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/core/logger.js';
import type { OrkaSecret } from '../../../../src/api/resource.js';
import type { Watched } from '../../../../src/operator/kube/informers.js';
import { UsageTracker } from '../../../../src/operator/resolver/usage.js';

// The status writes go to a stand-in API (what is tested is the counting, not the client).
function setup(fail = new Set<string>()) {
  const patches: Array<{ namespace: string; name: string; usage: { lastResolvedAt: string; resolveCount: number } }> = [];
  const api = {
    patchNamespacedCustomObjectStatus: async (req: { namespace: string; name: string; body: { status: { usage: { lastResolvedAt: string; resolveCount: number } } } }) => {
      if (fail.has(req.name)) throw new Error('apiserver unavailable');
      patches.push({ namespace: req.namespace, name: req.name, usage: req.body.status.usage });
    },
  };
  const objects: Record<string, OrkaSecret> = {
    'acme/api-key': { metadata: { name: 'api-key', namespace: 'acme' }, status: { usage: { resolveCount: 10 } } } as unknown as OrkaSecret,
    'acme/db-password': { metadata: { name: 'db-password', namespace: 'acme' } } as unknown as OrkaSecret,
  };
  const orkaSecrets = { get: (name: string, namespace?: string) => objects[`${namespace}/${name}`] } as unknown as Watched<OrkaSecret>;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const tracker = new UsageTracker({ makeApiClient: () => api } as unknown as KubeConfig, orkaSecrets, { intervalSeconds: 60, log: createLogger({ name: 'test', level: 'silent' }), now: () => new Date((clock += 1000)) });
  return { tracker, patches, fail };
}

describe('UsageTracker', () => {
  it('adds the resolutions counted since the last flush to what the status says, with the last time', async () => {
    const { tracker, patches } = setup();
    tracker.record('acme', ['API_KEY', 'DB_PASSWORD']);
    tracker.record('acme', ['API_KEY']);
    tracker.record('other', ['GONE']);
    await tracker.flush();
    expect(patches).toEqual([
      { namespace: 'acme', name: 'api-key', usage: { lastResolvedAt: '2026-01-01T00:00:02.000Z', resolveCount: 12 } },
      { namespace: 'acme', name: 'db-password', usage: { lastResolvedAt: '2026-01-01T00:00:01.000Z', resolveCount: 1 } },
    ]);
    await tracker.flush();
    expect(patches).toHaveLength(2);
  });

  it('keeps the counts of a failed write for the next flush, with those counted since', async () => {
    const { tracker, patches, fail } = setup(new Set(['api-key']));
    tracker.record('acme', ['API_KEY']);
    await tracker.flush();
    expect(patches).toEqual([]);
    fail.clear();
    tracker.record('acme', ['API_KEY', 'API_KEY']);
    await tracker.flush();
    expect(patches).toEqual([{ namespace: 'acme', name: 'api-key', usage: { lastResolvedAt: '2026-01-01T00:00:02.000Z', resolveCount: 13 } }]);
  });
});
