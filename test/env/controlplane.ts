/**
 * A real Kubernetes control plane for tests and for a person: etcd + kube-apiserver 1.20 on free
 * loopback ports in a temporary directory, with RBAC, a service-account issuer and signing key
 * (TokenRequest and TokenReview work), and token authentication for an admin.
 *
 * Cleaning up even when interrupted: attached children run under `setpriv --pdeathsig SIGKILL`,
 * so the kernel kills them when the test process dies, however it dies; every directory records
 * its owner's pid, and the next start removes directories whose owner is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createCA, issueServingCert } from '../../src/core/pki.js';

/** What a test (or a person) needs to reach the control plane. */
export interface ControlPlaneInfo {
  dir: string;
  kubeconfigPath: string;
  server: string;
  adminToken: string;
  caPem: string;
  etcdUrl: string;
  /** Service-account signing key (PEM), for components that need it (controller-manager). */
  serviceAccountKeyPath: string;
  pids: number[];
  owner: number;
}

/** A running control plane. */
export interface ControlPlane extends ControlPlaneInfo {
  stop(): Promise<void>;
}

const PREFIX = 'orka-cp-';
const STATE = 'state.json';

/**
 * A port for a child process to listen on. Asking the kernel for port 0 and closing it would race:
 * the kernel hands the same port to the next bind(0) or outgoing connection of any process on the
 * machine before the child binds it. So ports come from below the kernel's ephemeral range, which
 * the kernel never assigns on its own; a lock file per port (holding the owner's pid) keeps the
 * processes using this helper apart, and a bind check skips ports something else listens on.
 */
export async function freePort(): Promise<number> {
  const [min, max] = portRange();
  mkdirSync(PORT_LOCKS, { recursive: true });
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = min + randomInt(max - min + 1);
    if (reservePort(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port in ${min}-${max} after 500 attempts`);
}

/** Where port reservations live: one file per port, holding the pid of the process that took it. */
const PORT_LOCKS = join(tmpdir(), 'orka-ports');

/** Below the ephemeral range and below the NodePort range (30000-32767), where kube-proxy listens. */
function portRange(): [number, number] {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual default
  }
  const max = Math.min(low, 30000) - 1;
  return [Math.max(1024, max - 10_000), max];
}

/** Takes the reservation of `port` for this process, unless a live process (this one included) holds it. */
function reservePort(port: number): boolean {
  const path = join(PORT_LOCKS, String(port));
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: number;
    try {
      owner = Number(readFileSync(path, 'utf8')) || 0;
    } catch {
      continue; // removed meanwhile: try to take it again
    }
    if (owner === process.pid || alive(owner)) return false;
    rmSync(path, { force: true }); // its owner is gone; two takers race on the 'wx' write above
  }
  return false;
}

/** Whether nothing listens on `port` on any address (a listener on 127.0.0.1 makes 0.0.0.0 fail too). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function alive(pid: number): boolean {
  if (pid <= 0) return false; // kill(0 or -1) would address process groups, not one process
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes control-plane directories (and their processes) whose owning process has died. */
export function reapStale(base = tmpdir()): void {
  for (const name of readdirSync(base)) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(base, name);
    let info: Partial<ControlPlaneInfo> = {};
    try {
      info = JSON.parse(readFileSync(join(dir, STATE), 'utf8')) as ControlPlaneInfo;
    } catch {
      // A directory without state is a start that died early; its owner is unknown, so only
      // remove it once it is old enough that no start can still be writing it.
      if (Date.now() - createdMs(dir) < 10 * 60_000) continue;
    }
    // Owner 0: started by a person with `make cluster-up`; only `make cluster-down` removes it.
    if (info.owner === 0 || (info.owner !== undefined && alive(info.owner))) continue;
    for (const pid of info.pids ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function createdMs(dir: string): number {
  try {
    return Number(readFileSync(join(dir, 'created'), 'utf8')) || 0;
  } catch {
    return 0;
  }
}

function launch(binary: string, args: string[], logPath: string, detached: boolean): ChildProcess {
  const log = openSync(logPath, 'a');
  // Attached: the kernel kills the child when this process dies (SIGKILL included).
  const [command, argv] = detached ? [binary, args] : ['setpriv', ['--pdeathsig', 'SIGKILL', '--', binary, ...args]];
  const child = spawn(command, argv, { stdio: ['ignore', log, log], detached });
  closeSync(log);
  if (detached) child.unref();
  return child;
}

function tail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function get(url: string, token: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, ca: caPem, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, deadlineMs: number, check: () => Promise<boolean>, onFail: () => string): Promise<void> {
  const until = Date.now() + deadlineMs;
  // Bounded by rounds too (200 ms each), should the clock stand still.
  for (let round = 0; ; round++) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until || round > deadlineMs / 200) throw new Error(`${what} did not become ready in ${deadlineMs / 1000} s\n${onFail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Kills the processes of a control plane and removes its directory. */
export async function stopControlPlane(info: Pick<ControlPlaneInfo, 'dir' | 'pids'>): Promise<void> {
  for (const pid of [...info.pids].reverse()) {
    if (alive(pid)) process.kill(pid, 'SIGTERM');
  }
  const until = Date.now() + 5000;
  while (info.pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const pid of info.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(info.dir, { recursive: true, force: true });
}

/** Reads the state of a control plane started earlier (for `make cluster-down`). */
export function readState(dir: string): ControlPlaneInfo {
  return JSON.parse(readFileSync(join(dir, STATE), 'utf8')) as ControlPlaneInfo;
}

/**
 * Starts etcd and kube-apiserver. `binDir` holds kube-apiserver (see hack/k8s-binaries.sh).
 * `detached` leaves them running after this process exits (for `make cluster-up`).
 */
export async function startControlPlane(options: {
  binDir: string;
  detached?: boolean;
  log?: (line: string) => void;
  base?: string;
  /** For a cluster with pods: the address pods reach the apiserver on (the docker bridge), listened on too. */
  podReachableAddress?: string;
}): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const detached = options.detached ?? false;
  // etcd's fsyncs dominate start time on a disk; tmpfs makes them free and nothing here must survive.
  const base = options.base ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  reapStale(base);
  const dir = mkdtempSync(join(base, PREFIX));
  writeFileSync(join(dir, 'created'), String(Date.now()));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const adminToken = randomBytes(24).toString('hex');
  const now = new Date();
  const ca = createCA({ commonName: 'orka-test-apiserver-ca', now, validDays: 7 });
  const extra = options.podReachableAddress ? [options.podReachableAddress] : [];
  const serving = issueServingCert({ ca, hosts: ['localhost', '127.0.0.1', 'kubernetes.default.svc', 'kubernetes.default', 'kubernetes', '10.0.0.1', ...extra], now, validDays: 7 });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const file = (name: string, content: string) => {
    writeFileSync(join(dir, name), content, { mode: 0o600 });
    return join(dir, name);
  };
  const paths = {
    ca: file('ca.crt', ca.certPem),
    cert: file('apiserver.crt', serving.certPem),
    key: file('apiserver.key', serving.keyPem),
    saKey: file('sa.key', sa.privateKey),
    saPub: file('sa.pub', sa.publicKey),
    tokens: file('tokens.csv', `${adminToken},admin,admin,system:masters\n`),
  };
  const server = `https://127.0.0.1:${apiPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const kubeconfigPath = file(
    'kubeconfig',
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'orka-local', cluster: { server, 'certificate-authority-data': Buffer.from(ca.certPem).toString('base64') } }],
      users: [{ name: 'admin', user: { token: adminToken } }],
      contexts: [{ name: 'orka-local', context: { cluster: 'orka-local', user: 'admin', namespace: 'default' } }],
      'current-context': 'orka-local',
    }),
  );

  const pids: number[] = [];
  const info: ControlPlaneInfo = { dir, kubeconfigPath, server, adminToken, caPem: ca.certPem, etcdUrl, serviceAccountKeyPath: paths.saKey, pids, owner: detached ? 0 : process.pid };
  const saveState = () => writeFileSync(join(dir, STATE), JSON.stringify(info, null, 2));
  saveState();
  const stop = () => stopControlPlane(info);
  try {
    log(`starting etcd on ${etcdUrl}`);
    mkdirSync(join(dir, 'etcd'), { mode: 0o700 });
    const etcd = launch(
      'etcd',
      [
        '--name=orka', `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=orka=http://127.0.0.1:${peerPort}`, '--log-level=warn', '--logger=zap',
      ],
      join(dir, 'etcd.log'),
      detached,
    );
    pids.push(etcd.pid ?? -1);
    saveState();
    await waitFor('etcd', 20_000, async () => {
      const res = await fetch(`${etcdUrl}/health`);
      return res.ok;
    }, () => tail(join(dir, 'etcd.log')));

    log(`starting kube-apiserver on ${server}`);
    const apiserver = launch(
      join(options.binDir, 'kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        `--secure-port=${apiPort}`,
        // Pods reach the apiserver through the kubernetes Service, whose endpoint is the advertise
        // address: loopback would be the pod itself, so a cluster with pods uses the bridge.
        `--bind-address=${options.podReachableAddress ? '0.0.0.0' : '127.0.0.1'}`,
        `--advertise-address=${options.podReachableAddress ?? '127.0.0.1'}`,
        '--insecure-port=0',
        `--tls-cert-file=${paths.cert}`, `--tls-private-key-file=${paths.key}`,
        `--token-auth-file=${paths.tokens}`, '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${paths.saPub}`, `--service-account-signing-key-file=${paths.saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24', '--allow-privileged=true',
        `--cert-dir=${join(dir, 'certs')}`, '--profiling=false', '--v=1',
      ],
      join(dir, 'apiserver.log'),
      detached,
    );
    pids.push(apiserver.pid ?? -1);
    saveState();
    const exited = new Promise<never>((_, reject) => {
      apiserver.once('exit', (code) => reject(new Error(`kube-apiserver exited with ${code}\n${tail(join(dir, 'apiserver.log'))}`)));
    });
    await Promise.race([
      waitFor('kube-apiserver', 60_000, async () => (await get(`${server}/readyz`, adminToken, ca.certPem)).status === 200, () => tail(join(dir, 'apiserver.log'))),
      exited,
    ]);
    apiserver.removeAllListeners('exit');
    log(`control plane ready; kubeconfig: ${kubeconfigPath}`);
    return { ...info, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
