/**
 * kube-controller-manager running only the ClusterRole aggregation controller, for tests of roles
 * that aggregate into admin/edit/view (the integration control plane runs no controller-manager).
 * It touches nothing but ClusterRoles with an aggregationRule; it dies with the test process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './controlplane.js';
import type { ProvidedControlPlane } from './global-setup.js';

/** A running aggregation controller. */
export interface AggregationController {
  stop(): Promise<void>;
}

/** Starts the controller against the control plane. */
export async function startAggregationController(cp: Pick<ProvidedControlPlane, 'kubeconfigPath' | 'binDir'>): Promise<AggregationController> {
  const port = await freePort();
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig', 'SIGKILL', '--', join(cp.binDir, 'kube-controller-manager'),
      `--kubeconfig=${cp.kubeconfigPath}`, '--controllers=clusterrole-aggregation', '--leader-elect=false',
      '--port=0', `--secure-port=${port}`, '--bind-address=127.0.0.1', '--use-service-account-credentials=false',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
