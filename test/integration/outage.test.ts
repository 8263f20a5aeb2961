/**
 * etcd stopped and restarted under a running operator. This file starts a control plane of its
 * own: stopping the shared one's etcd would fail every other test file running beside it.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../env/controlplane.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { eventually, startOperator, type OperatorProcess } from '../env/operator.js';

const shared = inject('controlPlane');
let cp: ControlPlane;
let operator: OperatorProcess;

/** Kills etcd; returns a function that starts it again with the same arguments and data. */
function stopEtcd(): () => void {
  const pid = cp.pids[0] as number;
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
  process.kill(pid, 'SIGKILL');
  return () => {
    const log = openSync(join(cp.dir, 'etcd.log'), 'a');
    const etcd = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', ...args], { stdio: ['ignore', log, log] });
    closeSync(log);
    cp.pids[0] = etcd.pid ?? -1;
  };
}

async function readyz(): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${operator.port}/readyz`);
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  cp = await startControlPlane({ binDir: shared.binDir });
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const namespace = await createNamespace(kc, { prefix: 'orka-outage' });
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, namespace, identity: 'only' });
  await operator.waitForLog(/became leader/, 30_000);
});

afterAll(async () => {
  await operator?.stop('SIGKILL');
  await cp?.stop();
});

describe('etcd stopped, then started again', () => {
  it('/readyz turns 503 with the reason, the leader steps down within its renew deadline; both recover without a restart', { timeout: 180_000 }, async () => {
    await eventually(async () => ((await readyz()).status === 200 ? true : undefined), 30_000);
    const start = stopEtcd();
    const stoppedAt = Date.now();

    const down = await eventually(async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    }, 30_000);
    expect(down.body).toMatch(/\[-\]apiserver: /);
    // Its renewals cannot succeed: it stops leading within the renew deadline (3 s here) plus a
    // retry period, not whenever a hung request gives up.
    await operator.waitForLog(/stopped leading/, 30_000);
    const line = operator.logs.find((l) => l.includes('stopped leading')) as string;
    expect(line).toContain('"reason":"deadline"');
    // How soon is measured (test/bench/bounds.ts, leader step-down row), not asserted against the clock.
    console.log(`[outage] stepped down ${Date.parse((JSON.parse(line) as { time: string }).time) - stoppedAt} ms after etcd stopped`);

    start();
    await eventually(async () => ((await readyz()).status === 200 ? true : undefined), 90_000);
    expect((await readyz()).body).toContain('[+]apiserver: the apiserver answers ready');
    await eventually(() => (operator.logs.filter((l) => l.includes('became leader')).length === 2 ? true : undefined), 60_000);
  });
});
