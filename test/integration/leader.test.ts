/**
 * The lease election (src/operator/kube/leader.ts), and what the operator starts and stops with a
 * leadership term (src/operator/operator.ts), against the real apiserver. Where an
 * interleaving must be staged, the elector's own client is wrapped so that one request waits for
 * another; every request still goes to the apiserver.
 */
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { KeyRing } from '../../src/core/keyring.js';
import { createLogger } from '../../src/core/logger.js';
import type { PooledKubeConfig } from '../../src/operator/kube/client.js';
import { ClusterCache } from '../../src/operator/kube/cache.js';
import { LeaderElector } from '../../src/operator/kube/leader.js';
import { loadOperatorConfig } from '../../src/operator/config.js';
import { createOperatorMetrics } from '../../src/operator/metrics.js';
import { Operator } from '../../src/operator/operator.js';
import { adminKubeConfig, createNamespace } from '../env/kube.js';
import { eventually } from '../env/operator.js';

const cp = inject('controlPlane');
let kc: KubeConfig;

beforeAll(() => {
  kc = adminKubeConfig(cp);
});

/** A point in a staged order: `reached` marks it, `passed` resolves once it is marked. */
function moment(): { reached: () => void; passed: Promise<void> } {
  let reached!: () => void;
  const passed = new Promise<void>((r) => (reached = r));
  return { reached, passed };
}

/** How long a staged step may wait for the one before it: generous; the test then asserts the order. */
const STAGE_CEILING_MS = 20_000;

/** Resolves after `ms`, or when `p` does, whichever is first (a staged order that may not come). */
function orAfter(p: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([p, new Promise((r) => setTimeout(r, ms))]);
}

const log = createLogger({ name: 'test', level: 'silent' });

/**
 * An elector that leads a lease of its own (renewing every 0.2 s, never expiring in a test), its
 * client (to stage the order of its requests), and how many times it stepped down.
 */
async function leading(): Promise<{ namespace: string; elector: LeaderElector; api: CoordinationV1Api; stepDowns: () => number }> {
  const namespace = await createNamespace(kc, { prefix: 'lease' });
  let stepDowns = 0;
  const elector = new LeaderElector(
    kc as PooledKubeConfig,
    { namespace, name: 'the-lease', identity: 'replica-a', timing: { leaseDuration: 600, renewDeadline: 500, retryPeriod: 0.2 }, log },
    { onStartedLeading: () => undefined, onStoppedLeading: () => void stepDowns++ },
  );
  elector.start();
  await eventually(() => elector.isLeader || undefined);
  return { namespace, elector, api: (elector as unknown as { api: CoordinationV1Api }).api, stepDowns: () => stepDowns };
}

describe('the leader election', () => {
  it('releases the lease on stop even when a renewal lands between its read and its write', async () => {
    const { namespace, elector, api, stepDowns } = await leading();
    // The order staged: a renewal reads the lease; stop() reads it too; the renewal writes; then
    // stop() writes, with the version it read, which is no longer the lease's.
    const read = api.readNamespacedLease.bind(api);
    const replace = api.replaceNamespacedLease.bind(api);
    let stopping = false;
    const [renewalWaiting, stopHasRead, renewalDone] = [moment(), moment(), moment()];
    let writes = 0;
    // What happened, in order: the test asserts the staged order really came about (a ceiling,
    // not the order, would otherwise decide what the test saw).
    const order: string[] = [];
    api.readNamespacedLease = async (...args: Parameters<typeof read>) => {
      const lease = await read(...args);
      if (stopping) {
        order.push('stop read');
        stopHasRead.reached();
      }
      return lease;
    };
    api.replaceNamespacedLease = async (...args: Parameters<typeof replace>) => {
      const n = ++writes;
      if (n === 1) {
        renewalWaiting.reached();
        await orAfter(stopHasRead.passed, STAGE_CEILING_MS);
        try {
          order.push('renewal write');
          return await replace(...args);
        } finally {
          renewalDone.reached();
        }
      }
      if (n === 2) await orAfter(renewalDone.passed, STAGE_CEILING_MS);
      order.push('stop write');
      return await replace(...args);
    };
    await renewalWaiting.passed;
    stopping = true;
    await elector.stop();

    expect(order.slice(0, 3), 'the staged order').toEqual(['stop read', 'renewal write', 'stop write']);
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'the-lease', namespace });
    expect(lease.spec?.holderIdentity ?? '').toBe('');
    expect(elector.isLeader).toBe(false);
    expect(stepDowns()).toBe(1);
  });

  it('does not take the lease back with an attempt that was in flight when it stopped', async () => {
    const { namespace, elector, api } = await leading();
    // The order staged: a renewal is about to read the lease; stop() reads and frees it; then the
    // renewal reads it, free, and would acquire it again.
    const read = api.readNamespacedLease.bind(api);
    const replace = api.replaceNamespacedLease.bind(api);
    let reads = 0;
    const [renewalWaiting, stopDone, lateReadReturned] = [moment(), moment(), moment()];
    let late = false;
    let lateWrites = 0;
    api.readNamespacedLease = async (...args: Parameters<typeof read>) => {
      if (++reads !== 1) return await read(...args);
      renewalWaiting.reached();
      await stopDone.passed;
      late = true;
      try {
        return await read(...args);
      } finally {
        lateReadReturned.reached();
      }
    };
    api.replaceNamespacedLease = async (...args: Parameters<typeof replace>) => {
      if (late) lateWrites++;
      return await replace(...args);
    };
    await renewalWaiting.passed;
    await elector.stop();
    stopDone.reached();
    // The attempt decides from the late read without any other I/O: once the read has returned
    // and the microtasks after it have run, a write it were to make has been sent.
    await lateReadReturned.passed;
    await new Promise((r) => setImmediate(r));
    expect(lateWrites, 'a write after the late read').toBe(0);

    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'the-lease', namespace });
    expect(lease.spec?.holderIdentity ?? '').toBe('');
  });

  it('starts no reconcile workers for a term that ended while the keys were loading', async () => {
    const opNamespace = await createNamespace(kc, { prefix: 'orka-term' });
    const cache = new ClusterCache(kc, { operatorNamespace: opNamespace, namespaces: [opNamespace] }, log);
    try {
      const operator = new Operator(kc as PooledKubeConfig, cache, loadOperatorConfig({ ORKA_NAMESPACE: opNamespace, ORKA_POD_NAME: 'replica-a' }), log, createOperatorMetrics());
      // The elector's callbacks, called in the order staged: leadership begins, the keys take a
      // while to load (a first start makes RSA key pairs), and leadership ends meanwhile.
      const callbacks = operator as unknown as { lead: () => Promise<void>; follow: (reason: string) => Promise<void> };
      const keysLoaded = moment();
      operator.keyRing.ensure = async () => {
        await keysLoaded.passed;
        return operator.keyRing.current() as KeyRing;
      };
      const leading = callbacks.lead();
      await callbacks.follow('deadline');
      keysLoaded.reached();
      await leading;
      expect((operator.controller as unknown as { running: boolean }).running).toBe(false);
      await Promise.all([operator.controller.stopWorkers(), operator.reencryptor.stop()]);
    } finally {
      await cache.stop();
    }
  });
});
