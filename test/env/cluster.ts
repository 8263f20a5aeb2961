/**
 * `make cluster-up` / `make cluster-down`: the tests' control plane for a person.
 *   tsx test/env/cluster.ts up     starts it (detached) and prints the kubeconfig to use
 *   tsx test/env/cluster.ts down   stops it and removes its directory
 * The running one is remembered in ~/.cache/orka-secrets/cluster-dir.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { readState, startControlPlane, stopControlPlane } from './controlplane.js';
import { kubernetesBinDir } from './global-setup.js';

const cache = process.env.ORKA_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'orka-secrets');
const pointer = join(cache, 'cluster-dir');

function running(): string | undefined {
  if (!existsSync(pointer)) return undefined;
  const dir = readFileSync(pointer, 'utf8').trim();
  return existsSync(join(dir, 'state.json')) ? dir : undefined;
}

async function up(): Promise<void> {
  const existing = running();
  if (existing) {
    console.log(`a control plane is already running; kubeconfig: ${join(existing, 'kubeconfig')}`);
    return;
  }
  const binDir = kubernetesBinDir();
  const started = Date.now();
  const cp = await startControlPlane({ binDir, detached: true, log: (line) => console.log(`cluster-up: ${line}`) });
  mkdirSync(dirname(pointer), { recursive: true });
  writeFileSync(pointer, cp.dir);
  console.log(`cluster-up: ready in ${((Date.now() - started) / 1000).toFixed(1)} s (etcd ${cp.etcdUrl}, apiserver ${cp.server})`);
  console.log(`\n  export KUBECONFIG=${cp.kubeconfigPath}\n  kubectl get ns\n\nStop it with: make cluster-down`);
}

async function down(): Promise<void> {
  const dir = running();
  if (!dir) {
    console.log('cluster-down: no control plane is running');
    rmSync(pointer, { force: true });
    return;
  }
  await stopControlPlane(readState(dir));
  rmSync(pointer, { force: true });
  console.log(`cluster-down: stopped and removed ${dir}`);
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') await down();
else {
  console.error('usage: tsx test/env/cluster.ts up|down');
  process.exit(2);
}
