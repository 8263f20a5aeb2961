/**
 * The unauthenticated webhook flood, before and after the listeners got their own limits
 * (src/operator/http/server.ts), in one run: 40 connections, each announcing a 3 MiB
 * AdmissionReview and sending all of it but its last byte, never finishing, from one client that
 * has no credentials at all. Two operators on the same control plane, one after the other, both
 * run from their sources with tsx (the same loader, so their idle memory compares):
 *   before: the code of BENCH_BEFORE_REF (default `main`), extracted with `git archive`, whose
 *           resolver port also served the webhooks (the flood goes there);
 *   after:  this checkout, flooded on its webhook port (the worst case: the resolver port refuses
 *           the same requests unread), and, another operator, on its resolver port.
 * Each flood is against its own operator's idle RSS (the baseline row before it, same run). RSS is the
 * highest of the samples taken while the flood is held; "open after 20 s" counts the flood's
 * connections the operator had not closed 20 s after the last byte was sent.
 *   npx tsx test/bench/attack-webhook-flood.ts      (ORKA_K8S_BIN as for the integration tests)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startControlPlane } from '../env/controlplane.js';
import { kubernetesBinDir } from '../env/global-setup.js';
import { adminKubeConfig, createNamespace, installCrd } from '../env/kube.js';
import { startOperator, type OperatorProcess } from '../env/operator.js';
import { printTable } from './table.js';

const CONNECTIONS = Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 40);
const MiB = 1024 * 1024;
const BODY = 3 * MiB;
const BEFORE_REF = process.env.BENCH_BEFORE_REF ?? 'main';
const progress = (line: string) => process.stderr.write(`[bench flood] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(op: OperatorProcess): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${op.proc.pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** RSS after the process has been quiet a while (the lowest of 10 samples, 1 s apart). */
async function idle(op: OperatorProcess): Promise<number> {
  let low = Infinity;
  for (let i = 0; i < 10; i++) {
    await sleep(1000);
    low = Math.min(low, rssMiB(op));
  }
  return low;
}

async function bodyBytesHeld(op: OperatorProcess, listener: string): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
  const m = new RegExp(`^orka_operator_http_body_bytes_in_flight\\{listener="${listener}"\\} (\\d+)`, 'm').exec(text);
  return m ? ((Number(m[1]) / MiB).toFixed(1)) : 'n/a';
}

/** Floods `port` (POST `path`); returns the peak RSS while held, and how many connections are still open 20 s after the last byte. */
async function flood(op: OperatorProcess, port: number, listener: string): Promise<{ peak: number; held: string; openAfter20s: number }> {
  const sockets: TLSSocket[] = [];
  const closed = new Set<TLSSocket>();
  const head = `POST /webhooks/mutate-pods HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`;
  const chunk = Buffer.alloc(BODY - 1, 'x');
  let peak = rssMiB(op);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(op))), 200);
  await Promise.all(
    Array.from({ length: CONNECTIONS }, () =>
      new Promise<void>((done) => {
        const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          socket.write(head);
          // Done when the last byte is in the kernel's hands, or the server closed the connection.
          socket.write(chunk, () => done());
        });
        sockets.push(socket);
        // Read (and drop) what the server sends, or its close would never be seen here.
        socket.resume();
        socket.on('error', () => undefined);
        socket.on('close', () => {
          closed.add(socket);
          done();
        });
      }),
    ),
  );
  await sleep(3000);
  const held = await bodyBytesHeld(op, listener);
  await sleep(17_000);
  clearInterval(sampler);
  peak = Math.max(peak, rssMiB(op));
  const openAfter20s = sockets.filter((s) => !closed.has(s)).length;
  for (const s of sockets) s.destroy();
  return { peak, held, openAfter20s };
}

const cp = await startControlPlane({ binDir: kubernetesBinDir(), log: progress });
const before = mkdtempSync(join(tmpdir(), 'orka-bench-before-'));
let operator: OperatorProcess | undefined;
try {
  execFileSync('sh', ['-c', `git archive ${BEFORE_REF} src package.json tsconfig.json | tar -x -C ${before}`]);
  symlinkSync(resolve('node_modules'), join(before, 'node_modules'));
  const beforeCommit = execFileSync('git', ['rev-parse', '--short', BEFORE_REF]).toString().trim();
  const kc = adminKubeConfig(cp);
  await installCrd(kc);
  const rows: Array<Record<string, string>> = [];
  // One operator per row pair, each against its own idle RSS: memory a flood took is not all
  // given back at once, so a second flood on the same process would start from the first's peak.
  const runs: Array<{ name: string; cwd?: string; phase: string; port: (op: OperatorProcess) => number; listener: string }> = [
    { name: `before (${BEFORE_REF} ${beforeCommit})`, cwd: before, phase: 'flood on the resolver port (webhooks served there)', port: (op) => op.resolverPort, listener: 'resolver' },
    { name: 'after (this checkout)', phase: 'flood on the webhook port', port: (op) => op.webhookPort, listener: 'webhooks' },
    { name: 'after (this checkout)', phase: 'flood on the resolver port (refused unread)', port: (op) => op.resolverPort, listener: 'resolver' },
  ];
  for (const run of runs) {
    progress(`operator ${run.name}`);
    const namespace = await createNamespace(kc, { prefix: 'orka-flood' });
    operator = await startOperator({
      kubeconfigPath: cp.kubeconfigPath,
      namespace,
      identity: 'flood',
      ...(run.cwd === undefined ? {} : { cwd: run.cwd }),
      // The chart's heap settings; the default listener limits (nothing set here).
      nodeOptions: ['--max-old-space-size=384', '--max-semi-space-size=4'],
      env: { ORKA_WATCH_NAMESPACES: namespace, ORKA_LOG_LEVEL: 'info', ORKA_MAX_STALENESS: '5m' },
    });
    const op = operator;
    await op.waitForLog(/resolver API and webhooks listening/, 120_000);
    const base = await idle(op);
    rows.push({ operator: run.name, phase: 'idle (baseline)', connections: '0', 'body MiB held (gauge)': '0', 'RSS MiB (peak)': base.toFixed(0), 'vs idle': '1.00x (baseline)', 'open after 20 s': '-' });
    progress(`${run.name}: ${run.phase}`);
    const r = await flood(op, run.port(op), run.listener);
    rows.push({
      operator: run.name,
      phase: run.phase,
      connections: String(CONNECTIONS),
      'body MiB held (gauge)': r.held,
      'RSS MiB (peak)': r.peak.toFixed(0),
      'vs idle': `${(r.peak / base).toFixed(2)}x (+${(r.peak - base).toFixed(0)} MiB)`,
      'open after 20 s': String(r.openAfter20s),
    });
    await op.stop();
    operator = undefined;
  }
  console.log(`unauthenticated webhook flood: ${CONNECTIONS} connections x an unfinished ${BODY / MiB} MiB body, one client, no credentials; Node ${process.version}`);
  printTable(rows);
} finally {
  await operator?.stop();
  await cp.stop();
  rmSync(before, { recursive: true, force: true });
}
