/**
 * Runs the operator as a real process (node + tsx on src/operator/main.ts, or the image's bundle)
 * against the test control plane, capturing every log line so tests can wait on them and search them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { request } from 'node:https';
import { createPublicKey } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { seal } from '../../src/core/envelope.js';
import { sealingKeyIdOf } from '../../src/core/sealing-cert.js';
import { CERT_CONFIGMAP } from '../../src/api/resource.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { freePort } from './controlplane.js';
import { podBoundToken } from './kube.js';

/** What the image runs (hack/build-bundle.mjs): the entrypoint, whose first argument picks the program. */
export const BUNDLE = 'dist/bundle/entrypoint.mjs';

/** A running operator process. */
export interface OperatorProcess {
  identity: string;
  port: number;
  /** Port of the resolver API (HTTPS) on 127.0.0.1. */
  resolverPort: number;
  /** Port of the admission webhooks (HTTPS, their own listener) on 127.0.0.1: what a webhook configuration's URL names. */
  webhookPort: number;
  proc: ChildProcess;
  /** Every line written to stdout and stderr so far. */
  logs: string[];
  exited: Promise<number | null>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (graceful) or SIGKILL; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the operator with the given extra environment. */
export async function startOperator(args: {
  kubeconfigPath: string;
  namespace: string;
  identity: string;
  env?: Record<string, string>;
  /**
   * `dist`: the image's bundle, as in production (run `make build` first); `tsc`: tsc's files with
   * node_modules (what the image ran before the bundle: the start-up bench's baseline); default:
   * the sources through tsx.
   */
  build?: 'src' | 'dist' | 'tsc';
  /** Where the sources (or builds) are: another checkout (a bench's "before"); default: this one. */
  cwd?: string;
  nodeOptions?: string[];
  /** Listen on these ports (a restart on the same address, as a pod's Service would give); default: free ones. */
  ports?: { port: number; resolverPort: number; webhookPort?: number };
}): Promise<OperatorProcess> {
  const port = args.ports?.port ?? (await freePort());
  const resolverPort = args.ports?.resolverPort ?? (await freePort());
  const webhookPort = args.ports?.webhookPort ?? (await freePort());
  const entry = { dist: [BUNDLE, 'operator'], tsc: ['dist/src/operator/main.js'], src: ['--import', 'tsx', 'src/operator/main.ts'] }[args.build ?? 'src'];
  if (args.build !== undefined && args.build !== 'src' && !existsSync(join(args.cwd ?? '.', entry[0] as string))) throw new Error(`${entry[0]} is missing: run make build`);
  const proc = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...(args.nodeOptions ?? []), ...entry], {
    ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ORKA_KUBECONFIG: args.kubeconfigPath,
      ORKA_NAMESPACE: args.namespace,
      ORKA_POD_NAME: args.identity,
      ORKA_HTTP_ADDRESS: '127.0.0.1',
      ORKA_HTTP_PORT: String(port),
      ORKA_RESOLVER_ADDRESS: '127.0.0.1',
      ORKA_RESOLVER_PORT: String(resolverPort),
      ORKA_WEBHOOK_ADDRESS: '127.0.0.1',
      ORKA_WEBHOOK_PORT: String(webhookPort),
      ORKA_LOG_LEVEL: 'debug',
      ORKA_LEASE_DURATION: '4s',
      ORKA_LEASE_RENEW_DEADLINE: '3s',
      ORKA_LEASE_RETRY_PERIOD: '500ms',
      // No Service routes here: nothing to drain (rollout.test.ts sets one).
      ORKA_SHUTDOWN_DRAIN: '0s',
      ...args.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
  });
  const logs: string[] = [];
  const listeners = new Set<() => void>();
  for (const stream of [proc.stdout, proc.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      logs.push(...lines.filter((l) => l.length > 0));
      for (const l of listeners) l();
    });
  }
  // 'close', not 'exit': it comes once stdout and stderr are drained, so every log line is in.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const waitForLog = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = logs.find((l) => pattern.test(l));
        if (hit === undefined) return false;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`operator ${args.identity}: no log line matching ${pattern} in ${timeoutMs} ms; last lines:\n${logs.slice(-15).join('\n')}`));
      }, timeoutMs);
      if (!check()) listeners.add(check);
    });
  return {
    identity: args.identity,
    port,
    resolverPort,
    webhookPort,
    proc,
    logs,
    exited,
    waitForLog,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return await exited;
    },
  };
}

/**
 * Polls until `fn` returns a value that is not undefined (or throws the last error). Bounded by
 * the clock and by a count of rounds, so a clock that stands still (fake timers) cannot make it
 * spin forever.
 */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  const maxRounds = Math.ceil(timeoutMs / Math.max(1, intervalMs)) + 1;
  let last: unknown;
  for (let round = 0; ; round++) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until || round >= maxRounds) throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Seals a value for a namespace and secret name with the certificate the operator published, for
 * the namespace's tenant id as it is now (its orka.io/tenant label), or `tenantId` when given.
 */
export async function sealWithPublishedCert(kc: KubeConfig, operatorNamespace: string, namespace: string, name: string, value: string, tenantId?: string): Promise<string> {
  // The leader publishes the certificate just after it wins the election: wait for it.
  const cm = await eventually(() => kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: CERT_CONFIGMAP, namespace: operatorNamespace }));
  const certPem = cm.data?.['cert.pem'] as string;
  const tenant = tenantId ?? (await kc.makeApiClient(CoreV1Api).readNamespace({ name: namespace })).metadata?.labels?.['orka.io/tenant'];
  if (tenant === undefined) throw new Error(`namespace ${namespace} has no tenant label to seal for`);
  return seal({ publicKey: createPublicKey(certPem), keyId: sealingKeyIdOf(certPem), tenantId: tenant, namespace, name, value: Buffer.from(value) }).toString('base64');
}

/** POST /v1/resolve on a running operator, as a pod of `namespace` (service account `runner`, which must exist). */
export async function resolveAsPod(
  kc: KubeConfig,
  operator: Pick<OperatorProcess, 'resolverPort'>,
  operatorNamespace: string,
  namespace: string,
  names: string[],
): Promise<{ values?: Record<string, string>; missing?: string[] }> {
  return (await resolveExchange(await podCredentials(kc, operatorNamespace, namespace), operator, names)).body;
}

/** What a pod of `namespace` (service account `runner`) calls the resolver with: its token, and the operator's CA. */
export async function podCredentials(kc: KubeConfig, operatorNamespace: string, namespace: string): Promise<{ token: string; ca: string }> {
  const { token } = await podBoundToken(kc, { namespace, serviceAccount: 'runner', audience: 'orka-secrets' });
  // The leader writes the serving certificate as it starts, maybe after a value is already stored.
  const tls = await eventually(async () => await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: TLS_SECRET, namespace: operatorNamespace }), 30_000);
  return { token, ca: Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString() };
}

/** POST /v1/resolve with `credentials`, on a connection of its own: the answer's status, headers and body. */
export async function resolveExchange(
  credentials: { token: string; ca: string },
  operator: Pick<OperatorProcess, 'resolverPort'>,
  names: string[],
): Promise<{ status: number; headers: IncomingHttpHeaders; body: { values?: Record<string, string>; missing?: string[] } }> {
  return await new Promise((done, fail) => {
    const headers = { authorization: `Bearer ${credentials.token}`, 'content-type': 'application/json' };
    const req = request({ host: '127.0.0.1', port: operator.resolverPort, path: '/v1/resolve', method: 'POST', ca: credentials.ca, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as never }));
    });
    req.on('error', fail);
    req.end(JSON.stringify({ names }));
  });
}
