/**
 * A single-node cluster on top of the test control plane: kube-controller-manager,
 * kube-scheduler, a kubelet running pods in the local Docker engine, and kube-proxy (iptables).
 * Recipe and pitfalls: CONTRIBUTING.md, "A real cluster on one machine". Every process dies with the test
 * process (setpriv --pdeathsig), like the control plane's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from './controlplane.js';
import { freePort } from './controlplane.js';
import { eventually } from './operator.js';

/** The running node. */
export interface Node {
  name: string;
  stop(): Promise<void>;
  /** The last lines of a component's log, for failure messages. */
  tail(component: string, lines?: number): string;
}

export const NODE_NAME = 'node1';

function launch(binDir: string, dir: string, name: string, args: string[]): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', join(binDir, name), ...args], { stdio: ['ignore', log, log] });
  closeSync(log);
  return child;
}

/** Starts the node components and waits until the node is Ready and schedulable. */
export async function startNode(cp: ControlPlane, kc: KubeConfig, options: { binDir: string; log?: (line: string) => void }): Promise<Node> {
  const log = options.log ?? (() => {});
  const dir = join(cp.dir, 'node');
  mkdirSync(join(dir, 'kubelet', 'pki'), { recursive: true });
  const kubeconfig = cp.kubeconfigPath;
  const [kcmPort, schedPort, kubeletPort, proxyMetrics, proxyHealth] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  const start = (name: string, args: string[]) => {
    log(`starting ${name}`);
    children.push(launch(options.binDir, dir, name, args));
  };
  start('kube-controller-manager', [
    `--kubeconfig=${kubeconfig}`, `--service-account-private-key-file=${cp.serviceAccountKeyPath}`, `--root-ca-file=${join(cp.dir, 'ca.crt')}`,
    '--controllers=*,-nodeipam,-nodelifecycle', '--leader-elect=false', '--port=0', `--secure-port=${kcmPort}`, '--bind-address=127.0.0.1',
    '--use-service-account-credentials=false',
  ]);
  start('kube-scheduler', [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--port=0', `--secure-port=${schedPort}`, '--bind-address=127.0.0.1']);
  start('kubelet', [
    `--kubeconfig=${kubeconfig}`, '--container-runtime=docker', '--pod-infra-container-image=k8s.gcr.io/pause:3.2',
    '--cgroup-driver=cgroupfs', '--fail-swap-on=false', '--cgroups-per-qos=false', '--enforce-node-allocatable=',
    `--root-dir=${join(dir, 'kubelet')}`, `--hostname-override=${NODE_NAME}`, '--node-ip=127.0.0.1', '--anonymous-auth=false',
    '--authorization-mode=AlwaysAllow', `--port=${kubeletPort}`, '--address=127.0.0.1', '--read-only-port=0',
    `--cert-dir=${join(dir, 'kubelet', 'pki')}`, '--image-gc-high-threshold=100', '--eviction-hard=', '--healthz-port=0',
  ]);
  start('kube-proxy', [
    `--kubeconfig=${kubeconfig}`, `--hostname-override=${NODE_NAME}`, '--proxy-mode=iptables', '--cluster-cidr=172.17.0.0/16',
    '--conntrack-max-per-core=0', `--metrics-bind-address=127.0.0.1:${proxyMetrics}`, `--healthz-bind-address=127.0.0.1:${proxyHealth}`,
  ]);
  const tail = (component: string, lines = 20) => {
    try {
      return readFileSync(join(dir, `${component}.log`), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const core = kc.makeApiClient(CoreV1Api);
  await eventually(async () => {
    const node = await core.readNode({ name: NODE_NAME });
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  }, 90_000, 500).catch((err: Error) => {
    throw new Error(`${err.message}\nkubelet:\n${tail('kubelet')}`);
  });
  // With the node-lifecycle controller off, nobody lifts the not-ready taint.
  const node = await core.readNode({ name: NODE_NAME });
  const taints = (node.spec?.taints ?? []).filter((t) => t.key !== 'node.kubernetes.io/not-ready');
  await core.replaceNode({ name: NODE_NAME, body: { ...node, spec: { ...node.spec, taints } } });
  log(`node ${NODE_NAME} ready`);
  return {
    name: NODE_NAME,
    tail,
    stop: async () => {
      for (const c of children.reverse()) c.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1000));
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      // Pod containers outlive the kubelet: remove them (the kubelet names them k8s_*).
      const ids = spawnSync('docker', ['ps', '-aq', '--filter', 'name=k8s_'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids]);
      // The kubelet mounts volumes (tmpfs for tokens) under its root directory.
      const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir)).sort().reverse();
      for (const m of mounts) spawnSync('umount', ['-l', m]);
    },
  };
}
