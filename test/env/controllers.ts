/**
 * kube-controller-manager running only the controllers a test names (the integration control
 * plane runs none): `clusterrole-aggregation` for roles that aggregate into admin/edit/view,
 * `namespace` to finish namespace deletions. It dies with the test process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { freePort } from './controlplane.js';
import { eventually } from './operator.js';
import type { ProvidedControlPlane } from './global-setup.js';

/** Running controllers. */
export interface Controllers {
  stop(): Promise<void>;
}

/** Starts the named controllers against the control plane. */
export async function startControllers(cp: Pick<ProvidedControlPlane, 'kubeconfigPath' | 'binDir'>, controllers: string[]): Promise<Controllers> {
  const port = await freePort();
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig', 'SIGKILL', '--', join(cp.binDir, 'kube-controller-manager'),
      `--kubeconfig=${cp.kubeconfigPath}`, `--controllers=${controllers.join(',')}`, '--leader-elect=false',
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

/**
 * Deletes a namespace and waits (up to a minute) until it is gone: the namespace controller, run
 * meanwhile, empties it first. `whileDeleting` waits for more in the same window.
 */
export async function deleteNamespace(cp: Pick<ProvidedControlPlane, 'kubeconfigPath' | 'binDir'>, kc: KubeConfig, name: string, whileDeleting?: () => Promise<void>): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const controllers = await startControllers(cp, ['namespace']);
  try {
    await core.deleteNamespace({ name });
    await whileDeleting?.();
    await eventually(async () => {
      try {
        await core.readNamespace({ name });
        return undefined;
      } catch (err) {
        return (err as { code?: number }).code === 404 ? true : undefined;
      }
    }, 60_000, 250);
  } finally {
    await controllers.stop();
  }
}
