/**
 * Vitest global setup of the integration suite: one real control plane per run, shared by every
 * test file (each test makes its own namespaces), with the OrkaSecret CRD installed. Its
 * coordinates reach tests via `inject`.
 */
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startControlPlane } from './controlplane.js';
import { adminKubeConfig, installCrd } from './kube.js';

/** What tests receive through `inject('controlPlane')`. */
export interface ProvidedControlPlane {
  kubeconfigPath: string;
  server: string;
  adminToken: string;
  caPem: string;
  etcdUrl: string;
  binDir: string;
  /** The service-account signing key, to make tokens the apiserver must refuse (expired ones). */
  serviceAccountKeyPath: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ProvidedControlPlane;
  }
}

/** The directory of the Kubernetes binaries, building them on first use (10 to 13 minutes, once). */
export function kubernetesBinDir(): string {
  if (process.env.ORKA_K8S_BIN) return process.env.ORKA_K8S_BIN;
  return execFileSync('hack/k8s-binaries.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binDir = kubernetesBinDir();
  const started = Date.now();
  const cp = await startControlPlane({ binDir, log: (line) => console.log(`[control plane] ${line}`) });
  console.log(`[control plane] up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // Once, before any test file starts: files running in parallel then never race to create it.
  await installCrd(adminKubeConfig(cp)).catch(async (err: unknown) => {
    await cp.stop();
    throw err;
  });
  project.provide('controlPlane', {
    kubeconfigPath: cp.kubeconfigPath,
    server: cp.server,
    adminToken: cp.adminToken,
    caPem: cp.caPem,
    etcdUrl: cp.etcdUrl,
    binDir,
    serviceAccountKeyPath: cp.serviceAccountKeyPath,
  });
  return async () => {
    await cp.stop();
    console.log('[control plane] stopped');
  };
}
