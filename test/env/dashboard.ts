/**
 * Runs `orka-secrets dashboard` as a real process (the compiled CLI, as installed) for one
 * person's kubeconfig, and launches Debian's Chromium for Playwright (no browser download).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { chromium, type Browser } from 'playwright-core';

/** A running dashboard. */
export interface DashboardProcess {
  /** The one-time sign-in link, read from the sign-in page it wrote (it lives 60 s). */
  signInUrl: string;
  /** The sign-in page it printed the path of (a 0600 file that sends the browser to the link). */
  signInFile: string;
  /** The page's address without the token. */
  url: string;
  proc: ChildProcess;
  /** Every line of stdout and stderr so far. */
  logs: string[];
  stop(): Promise<number | null>;
}

const ENTRY = 'dist/src/cli/main.js';

/** The one-time link a sign-in page sends the browser to. */
export function linkOfSignInPage(file: string): string {
  const link = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(readFileSync(file, 'utf8'))?.[1];
  if (link === undefined) throw new Error(`${file} is not a sign-in page`);
  return link.replaceAll('&amp;', '&');
}

/** Starts the dashboard and waits for its sign-in page. */
export async function startDashboard(args: {
  kubeconfigPath: string;
  operatorNamespace: string;
  namespace?: string;
  extraArgs?: string[];
  /** A directory put first on PATH holding a stand-in browser opener (xdg-open); without it, --no-browser. */
  openerDir?: string;
}): Promise<DashboardProcess> {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run make build (make test-browser does)`);
  const cli = [ENTRY, '--kubeconfig', args.kubeconfigPath, '--operator-namespace', args.operatorNamespace, ...(args.namespace ? ['-n', args.namespace] : []), 'dashboard', ...(args.openerDir ? [] : ['--no-browser']), ...(args.extraArgs ?? [])];
  const path = args.openerDir ? `${args.openerDir}:${process.env.PATH ?? ''}` : process.env.PATH;
  const proc = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...cli], { env: { PATH: path, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  let stdout = '';
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => logs.push(...chunk.split('\n').filter((l) => l.length > 0)));
  const signInFile = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the dashboard printed no sign-in page in 30 s; output:\n${stdout}\n${logs.join('\n')}`)), 30_000);
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      logs.push(...chunk.split('\n').filter((l) => l.length > 0));
      const file = /^Sign-in page: (\S+)$/m.exec(stdout)?.[1];
      if (file) {
        clearTimeout(timer);
        resolve(file);
      }
    });
    void exited.then((code) => reject(new Error(`the dashboard exited (${code}):\n${stdout}\n${logs.join('\n')}`)));
  });
  const signInUrl = linkOfSignInPage(signInFile);
  return {
    signInUrl,
    signInFile,
    url: new URL('/', signInUrl).toString(),
    proc,
    logs,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return await exited;
    },
  };
}

/** Writes a kubeconfig for a bearer token (a person who is not the admin). */
export function writeTokenKubeconfig(path: string, args: { server: string; caPem: string; token: string; user: string; namespace?: string }): string {
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: args.server, 'certificate-authority-data': Buffer.from(args.caPem).toString('base64') } }],
      users: [{ name: args.user, user: { token: args.token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: args.user, ...(args.namespace ? { namespace: args.namespace } : {}) } }],
      'current-context': 'test',
    }),
    { mode: 0o600 },
  );
  return path;
}

/** Debian's Chromium (apt-get install chromium; make test-browser installs it). */
export const CHROMIUM = process.env.ORKA_CHROMIUM ?? '/usr/bin/chromium';

/** Launches Chromium headless for Playwright (`args` added to its command line); --no-sandbox because tests run as root. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (make test-browser and make test-e2e do)`);
  return await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', ...args] });
}
