/**
 * Runs the sidecar as a real process from the image's bundle (as in the image: no tsx, whose
 * transpile cache would write to disk), optionally under strace, capturing its log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './controlplane.js';
import { SIDECAR_NODE_FLAGS } from '../../src/sidecar/node-flags.js';
import { BUNDLE, eventually } from './operator.js';

/** A running sidecar. */
export interface SidecarProcess {
  port: number;
  metricsPort: number;
  url: string;
  proc: ChildProcess;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}


/** Starts a sidecar for a token file and CA file; waits until it listens. `cwd`: another checkout whose build to run (a bench's baseline); `nodeFlags`: instead of the injected ones (a bench's comparison). */
export async function startSidecar(args: { operatorUrl: string; tokenFile: string; caFile: string; env?: Record<string, string>; straceOutput?: string; cwd?: string; nodeFlags?: readonly string[] }): Promise<SidecarProcess> {
  if (!existsSync(join(args.cwd ?? '.', BUNDLE))) throw new Error(`${BUNDLE} is missing: run make build (make test does)`);
  const port = await freePort();
  const metricsPort = await freePort();
  // With the flags the injector gives it, so tests and benches measure what runs in a pod.
  const node = [process.execPath, ...(args.nodeFlags ?? SIDECAR_NODE_FLAGS), BUNDLE, 'sidecar'];
  // strace -f follows threads and children; -qq keeps its own chatter out; file and rename
  // calls are all that the no-disk test needs.
  const command = args.straceOutput
    ? ['setpriv', '--pdeathsig', 'SIGKILL', '--', 'strace', '-f', '-qq', '-e', 'trace=%file,%desc', '-o', args.straceOutput, ...node]
    : ['setpriv', '--pdeathsig', 'SIGKILL', '--', ...node];
  const proc = spawn(command[0] as string, command.slice(1), {
    ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
    env: {
      PATH: process.env.PATH,
      ORKA_OPERATOR_URL: args.operatorUrl,
      ORKA_TOKEN_FILE: args.tokenFile,
      ORKA_CA_FILE: args.caFile,
      ORKA_SIDECAR_PORT: String(port),
      ORKA_SIDECAR_METRICS_PORT: String(metricsPort),
      ORKA_LOG_LEVEL: 'debug',
      ...args.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => logs.push(...chunk.split('\n').filter((l) => l.length > 0)));
  }
  // 'close', not 'exit': it comes once stdout and stderr are drained, so every log line is in.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\nsidecar logs:\n${logs.join('\n')}`);
  });
  return {
    port,
    metricsPort,
    url,
    proc,
    logs,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return await exited;
      // Under strace the sidecar is strace's child: signal it, and strace ends with it.
      const child = args.straceOutput ? Number(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(' ')[0]) : 0;
      if (child > 0) process.kill(child, signal);
      else proc.kill(signal);
      return await exited;
    },
  };
}
