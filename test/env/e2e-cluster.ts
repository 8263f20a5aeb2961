/**
 * The e2e suite's cluster: the image built from the Dockerfile, a control plane and a single node
 * (kubelet + Docker), and the chart installed with two ready operator replicas, as `helm install`
 * would. Every e2e file starts its own (the project runs them one at a time: two kubelets on one
 * Docker engine would remove each other's containers).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { AppsV1Api, type KubeConfig, type V1Job, type V1PodSpec } from '@kubernetes/client-node';
import { GenericContainer } from 'testcontainers';
import { startControlPlane, type ControlPlane } from './controlplane.js';
import { kubernetesBinDir } from './global-setup.js';
import { adminKubeConfig, installCrd } from './kube.js';
import { startNode, type Node } from './node.js';
import { eventually } from './operator.js';

/** The tag the image is built with. */
export const IMAGE_TAG = 'e2e';
/** The chart's namespace. */
export const NS = 'orka-system';
const CLUSTER_IP = '10.0.0.200';

/** A running e2e cluster with the chart installed. */
export interface E2eCluster {
  cp: ControlPlane;
  node: Node;
  kc: KubeConfig;
  /** The local base image (Debian + Node), for images built on it. */
  base: string;
  /** kubectl against the cluster; throws with its stderr on failure. */
  kubectl(args: string[], input?: string): string;
  /** Installs (or upgrades) the chart with extra --set values. */
  install(sets: string[]): void;
  /** Waits until the operator's Deployment has `replicas` ready and updated replicas. */
  operatorReady(replicas: number): Promise<void>;
  /** The Docker container of a pod's container (running, or exited too with `all`). */
  containerId(pod: string, container: string, namespace: string, all?: boolean): string;
  stop(): Promise<void>;
}

/** Builds the image, starts the cluster and installs the chart; `timed` records how long each part took. */
export async function startE2eCluster(timed: (name: string, started: number) => void): Promise<E2eCluster> {
  const binDir = kubernetesBinDir();
  let t = Date.now();
  const base = execFileSync('hack/docker.sh', { env: { ...process.env, ORKA_K8S_BIN: binDir }, stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  await GenericContainer.fromDockerfile('.').withBuildArgs({ BASE: base }).build(`orka-secrets:${IMAGE_TAG}`, { deleteOnExit: false });
  timed('image build (s)', t);
  const renderer = execFileSync('hack/helm-render.sh', { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  t = Date.now();
  // The Docker bridge address (Docker's default when iproute2 is not there to ask).
  const ipAddr = spawnSync('ip', ['-4', 'addr', 'show', 'docker0'], { encoding: 'utf8' }).stdout ?? '';
  const bridge = /inet (\d+\.\d+\.\d+\.\d+)/.exec(ipAddr)?.[1] ?? '172.17.0.1';
  const cp = await startControlPlane({ binDir, podReachableAddress: bridge });
  const kc = adminKubeConfig(cp);
  const node = await startNode(cp, kc, { binDir });
  timed('cluster up (s)', t);
  const kubectl = (args: string[], input?: string): string => {
    const res = spawnSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], { input, encoding: 'utf8', timeout: 60_000 });
    if (res.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  };
  // As `helm install` does: the helm test hook pod is not part of it.
  const install = (sets: string[]): void => {
    const rendered = execFileSync(renderer, ['-chart', 'charts/orka-secrets', '-name', 'orka-secrets', '-namespace', NS, '-set', `image.tag=${IMAGE_TAG}`, '-set', 'image.pullPolicy=Never', '-set', `service.clusterIP=${CLUSTER_IP}`, '-set', 'helmTest.enabled=false', ...sets.flatMap((s) => ['-set', s])]).toString();
    kubectl(['apply', '-f', '-'], rendered);
  };
  const operatorReady = async (replicas: number): Promise<void> => {
    const apps = kc.makeApiClient(AppsV1Api);
    await eventually(async () => {
      const d = await apps.readNamespacedDeployment({ name: 'orka-secrets', namespace: NS });
      const s = d.status ?? {};
      return s.readyReplicas === replicas && s.updatedReplicas === replicas && (s.replicas ?? 0) === replicas && s.observedGeneration === d.metadata?.generation ? true : undefined;
    }, 180_000, 1000).catch((err: Error) => {
      throw new Error(`${err.message}\n${kubectl(['get', 'pods', '-A', '-o', 'wide'])}\nkubelet:\n${node.tail('kubelet', 10)}`);
    });
  };
  // kubectl exec and logs need node addresses this kubelet does not report: Docker is asked instead.
  const containerId = (pod: string, container: string, namespace: string, all = false): string => {
    const id = execFileSync('docker', ['ps', ...(all ? ['-a'] : []), '-q', '--filter', `name=^k8s_${container}_${pod}_${namespace}_`]).toString().trim().split('\n')[0] ?? '';
    if (!id) throw new Error(`no ${all ? '' : 'running '}container ${container} of ${namespace}/${pod}`);
    return id;
  };
  t = Date.now();
  await installCrd(kc);
  kubectl(['create', 'namespace', NS]);
  install([]);
  await operatorReady(2);
  timed('chart install to 2 ready replicas (s)', t);
  return {
    cp,
    node,
    kc,
    base,
    kubectl,
    install,
    operatorReady,
    containerId,
    stop: async () => {
      await node.stop();
      await cp.stop();
    },
  };
}

/** A Job of one try whose pod opts in to the sidecar and runs as the tenant's `runner` ServiceAccount. */
export function injectedJob(name: string, pod: Pick<V1PodSpec, 'containers' | 'volumes'>): V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { 'orka.io/inject': 'true' } },
        spec: { restartPolicy: 'Never', serviceAccountName: 'runner', ...pod },
      },
    },
  };
}
