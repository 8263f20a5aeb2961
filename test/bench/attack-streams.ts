/**
 * A tenant taking every change stream: one tenant (the attacker) opens as many streams as it can
 * on a replica, from BENCH_ATTACK_PODS pods (default 30, 4 streams each: the per-identity cap) against
 * ORKA_MAX_STREAMS = BENCH_ATTACK_MAX_STREAMS (default 100, the default 1,000 scaled down ten times:
 * 250 pods there), and opens each stream the operator closes again at once. Then another tenant's
 * sidecar (real process) starts: does it get its stream, and how long does a deleted secret take to
 * reach it (ORKA_CACHE_STALE_AFTER at its default, 30 s: without the stream, a value is served until
 * it expires)? The attack lasts ATTACK_MS in every row; the operator's audit lines of refused streams
 * are counted over it. Real operator and sidecar processes (compiled) on the real control plane.
 *
 * Rows: the code before (BENCH_BASE_DIR, a checkout of main with `make build` run: the baseline)
 * and this checkout's, both under attack, and this checkout's without an attacker (control).
 *   BENCH_BASE_DIR=/tmp/base-fair ORKA_K8S_BIN=... npx tsx test/bench/attack-streams.ts
 */
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { OrkaSecretsClient } from '../../src/client/index.js';
import { isOrkaError } from '../../src/core/errors.js';
import { TLS_SECRET } from '../../src/operator/keys/tls.js';
import { osecCoords } from '../env/canary.js';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, createServiceAccount, installCrd, podBoundToken, waitForReady } from '../env/kube.js';
import { eventually, sealWithPublishedCert, startOperator, type OperatorProcess } from '../env/operator.js';
import { startSidecar, type SidecarProcess } from '../env/sidecar.js';
import { pool } from './pool.js';
import { printTable } from './table.js';

const PODS = Number(process.env.BENCH_ATTACK_PODS ?? 30);
const MAX_STREAMS = Number(process.env.BENCH_ATTACK_MAX_STREAMS ?? 100);
const PER_POD = 4; // the default ORKA_MAX_STREAMS_PER_IDENTITY
const BASE_DIR = process.env.BENCH_BASE_DIR;
/** How long the other tenant's sidecar is given to get its stream. */
const STREAM_WAIT_MS = 20_000;
/** Longest a delete is waited for at the sidecar (twice its stale limit). */
const DELETE_WAIT_MS = 60_000;
/** The attack lasts this long from its start in every row, so its counts compare. */
const ATTACK_MS = 60_000;
const progress = (line: string) => process.stderr.write(`[bench attack-streams] ${line}\n`);

/** Opens a change stream on its own connection: the request once answered 200, or the refusal status. */
function openStream(port: number, ca: string, token: string): Promise<{ req: ClientRequest; ended: Promise<void> } | { status: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/changes', ca, agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({ status: res.statusCode ?? 0 });
      }
      res.resume();
      resolve({ req, ended: new Promise((done) => res.on('close', () => done())) });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The attacker: PER_POD streams per pod, each opened again 200 ms after the operator closes it or
 * refuses it, until stopped. `held()` counts the streams it holds now.
 */
function attack(port: number, ca: string, tokens: readonly string[]): { held: () => number; refused: () => string; opened: Promise<void>; stop: () => void } {
  let stopped = false;
  let held = 0;
  /** Refusals by status (0: the connection failed). */
  const refused = new Map<number, number>();
  const open: ClientRequest[] = [];
  const hold = async (token: string, first: () => void) => {
    let told = false;
    while (!stopped) {
      const stream = await openStream(port, ca, token).catch(() => ({ status: 0 }));
      if (!told) {
        told = true;
        first();
      }
      if ('req' in stream) {
        held++;
        open.push(stream.req);
        await stream.ended;
        held--;
      } else refused.set(stream.status, (refused.get(stream.status) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let pending = tokens.length * PER_POD;
  let done!: () => void;
  const opened = new Promise<void>((r) => (done = r));
  for (const token of tokens) for (let i = 0; i < PER_POD; i++) void hold(token, () => --pending === 0 && done());
  return {
    held: () => held,
    refused: () => [...refused].map(([status, n]) => `${n} x ${status}`).join(', ') || '0',
    opened,
    stop: () => {
      stopped = true;
      for (const req of open) req.destroy();
    },
  };
}

/** One row: an operator of `code` (a checkout), attacked or not; the other tenant's sidecar started after the attack. */
async function scenario(kc: KubeConfig, cp: { kubeconfigPath: string }, dir: string, code: { name: string; cwd: string | undefined }, attacked: boolean): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const opNamespace = await createNamespace(kc, { prefix: 'orka-attack' });
  const attacker = await createNamespace(kc, { prefix: 'attacker', tenant: 'attacker' });
  const victim = await createNamespace(kc, { prefix: 'victim', tenant: 'victim' });
  for (const ns of [attacker, victim]) await createServiceAccount(kc, ns, 'runner');
  let operator: OperatorProcess | undefined;
  let sidecar: SidecarProcess | undefined;
  let attacking: ReturnType<typeof attack> | undefined;
  let attackStarted = 0;
  try {
    operator = await startOperator({
      kubeconfigPath: cp.kubeconfigPath,
      namespace: opNamespace,
      identity: 'attack',
      build: 'dist',
      ...(code.cwd === undefined ? {} : { cwd: code.cwd }),
      // Loaded machine: the staleness bound would end the streams being measured.
      env: { ORKA_WATCH_NAMESPACES: [attacker, victim].join(','), ORKA_LOG_LEVEL: 'info', ORKA_MAX_STREAMS: String(MAX_STREAMS), ORKA_MAX_STALENESS: '5m' },
    });
    const op = operator;
    await op.waitForLog(/resolver API and webhooks listening/);
    const tls = await core.readNamespacedSecret({ name: TLS_SECRET, namespace: opNamespace });
    const ca = Buffer.from(tls.data?.['ca.crt'] ?? '', 'base64').toString();
    if (attacked) {
      progress(`${code.name}: the attacker opens ${PODS * PER_POD} streams from ${PODS} pods against a cap of ${MAX_STREAMS}`);
      const tokens = (await pool(Array.from({ length: PODS }), 8, () => podBoundToken(kc, { namespace: attacker, serviceAccount: 'runner' }))).map((t) => t.token);
      attackStarted = performance.now();
      attacking = attack(op.resolverPort, ca, tokens);
      await attacking.opened;
      // Its first attempts answered, some (a loaded apiserver's token reviews) may still be refused: it keeps at them.
      await eventually(() => (attacking?.held() === MAX_STREAMS ? true : undefined), 30_000, 100).catch(() => undefined);
      progress(`${code.name}: the attacker holds ${attacking.held()}`);
    }
    const heldBefore = attacking?.held() ?? 0;

    const value = `attack-bench-${Date.now()}`;
    await custom.createNamespacedCustomObject({
      ...osecCoords(victim),
      body: { apiVersion: 'orka.io/v1alpha1', kind: 'OrkaSecret', metadata: { name: 'api-key' }, spec: { sealedValue: await sealWithPublishedCert(kc, opNamespace, victim, 'API_KEY', value) } },
    });
    await waitForReady(kc, victim, 'api-key', 'Stored');
    const tokenFile = join(dir, `${victim}.token`);
    writeFileSync(tokenFile, (await podBoundToken(kc, { namespace: victim, serviceAccount: 'runner' })).token);
    const caFile = join(dir, `${victim}.ca`);
    writeFileSync(caFile, ca);
    const started = performance.now();
    sidecar = await startSidecar({ operatorUrl: `https://127.0.0.1:${op.resolverPort}`, tokenFile, caFile, ...(code.cwd === undefined ? {} : { cwd: code.cwd }) });
    const sc = sidecar;
    const streamUp = await eventually(async () => ((await (await fetch(`${sc.url}/readyz`)).json()) as { changeStream: string }).changeStream === 'up' || undefined, STREAM_WAIT_MS, 50).then(
      () => (performance.now() - started) / 1000,
      () => undefined,
    );
    progress(`${code.name}: the other tenant's stream ${streamUp === undefined ? `not up in ${STREAM_WAIT_MS / 1000} s` : `up after ${streamUp.toFixed(1)} s`}`);
    const client = new OrkaSecretsClient({ baseUrl: sc.url });
    if ((await client.get('API_KEY')) !== value) throw new Error('the sidecar served another value');
    const deleted = performance.now();
    await custom.deleteNamespacedCustomObject({ ...osecCoords(victim), name: 'api-key' });
    const gone = await eventually(
      async () => {
        try {
          await client.get('API_KEY');
          return undefined;
        } catch (err) {
          return isOrkaError(err, 'SECRET_NOT_FOUND') ? (performance.now() - deleted) / 1000 : undefined;
        }
      },
      DELETE_WAIT_MS,
      100,
    ).catch(() => undefined);
    progress(`${code.name}: the delete reached the other tenant's sidecar ${gone === undefined ? 'never' : `after ${gone.toFixed(1)} s`}`);
    if (attacked) await new Promise((r) => setTimeout(r, Math.max(0, attackStarted + ATTACK_MS - performance.now())));
    const refusalLines = op.logs.filter((l) => l.includes('"msg":"change stream refused"')).length;
    return {
      code: code.name,
      attacker: attacked ? `${PODS} pods x ${PER_POD}, reopening at once` : 'none',
      'attacker held (before / after)': attacked ? `${heldBefore} / ${attacking?.held() ?? 0} of ${MAX_STREAMS}` : '-',
      [`attacker refused in ${ATTACK_MS / 1000} s (by status)`]: attacked ? (attacking?.refused() ?? '0') : '-',
      'refusal audit lines (all callers)': String(refusalLines),
      "other tenant's stream": streamUp === undefined ? `none in ${STREAM_WAIT_MS / 1000} s` : `up after ${streamUp.toFixed(1)} s`,
      'delete reaches its sidecar': gone === undefined ? `not in ${DELETE_WAIT_MS / 1000} s` : `${gone.toFixed(1)} s`,
    };
  } finally {
    attacking?.stop();
    await sidecar?.stop('SIGKILL');
    await operator?.stop();
  }
}

if (BASE_DIR === undefined) throw new Error('BENCH_BASE_DIR: a checkout of the code before (git worktree add /tmp/base-fair main; make build there)');
const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const dir = mkdtempSync(join(tmpdir(), 'orka-attack-'));
try {
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const rows = [];
  rows.push(await scenario(kc, cp, dir, { name: `before (${BASE_DIR}): baseline`, cwd: BASE_DIR }, true));
  rows.push(await scenario(kc, cp, dir, { name: 'after (this checkout)', cwd: undefined }, true));
  rows.push(await scenario(kc, cp, dir, { name: 'after, no attacker (control)', cwd: undefined }, false));
  console.log(`a tenant taking every change stream: ORKA_MAX_STREAMS=${MAX_STREAMS}, the other tenant's ORKA_CACHE_STALE_AFTER 30 s (default), Node ${process.version}`);
  printTable(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await cp.stop();
}
