/**
 * `orka-secrets dashboard` (also `kubectl orka dashboard`): the Secrets page on 127.0.0.1, acting
 * with the caller's kubeconfig. Prints the page's address (the first http:// URL on stdout) and
 * the path of a sign-in page, and opens that page in a browser unless --no-browser. Logs go to
 * stderr.
 *
 * The one-time sign-in link never travels on a command line (another user can read any
 * process's arguments): it is written into a sign-in page, a 0600 file in a 0700 directory of
 * its own, that sends the browser on to the link; the browser is started with the file's path.
 * The link works once, within 60 s; the page is removed when it expires.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import type { Logger } from '../core/logger.js';

const HOUR_MS = 3_600_000;
/** How long a local sign-in link (and its page) lives. */
export const LOGIN_TTL_MS = 60_000;

/** The sign-in page: sends the browser on to the one-time link (no script: a refresh, and a link to click). */
export function signInPageHtml(link: string): string {
  const href = link.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${href}">
<title>Orka Secrets: signing in</title></head>
<body><p>Signing in to the Orka Secrets dashboard. If nothing happens, <a href="${href}">continue</a> (the link works once, within ${LOGIN_TTL_MS / 1000} s).</p></body></html>
`;
}

/** Where the page's bundle is: next to the compiled server, or (running from sources) in dist/. */
export function assetsDir(): string {
  if (process.env.ORKA_DASHBOARD_ASSETS) return process.env.ORKA_DASHBOARD_ASSETS;
  const compiled = fileURLToPath(new URL('./public/', import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL('../../dist/src/dashboard/public/', import.meta.url));
}

/** Options of the local dashboard. */
export interface LocalDashboardOptions {
  kubeconfig?: string;
  /** The kubeconfig context to act in (the CLI's --context). */
  context?: string;
  namespace?: string;
  operatorNamespace: string;
  port?: number;
  /** Called after a sign-out (the command writes a new sign-in page). */
  onSignOut?: () => void;
  log?: Logger;
  /** How long a session lasts. */
  sessionTtlMs?: number;
}

/** A running local dashboard. */
export interface LocalDashboard {
  /** The address of the page, without a token. */
  url: string;
  /** A fresh one-time sign-in link (lives 60 s; for a caller in this process: never put it on a command line). */
  signInLink(): string;
  /** Writes a fresh sign-in page (0600, in a 0700 directory of this process) and returns its path. */
  signInPage(): string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the page on 127.0.0.1 for the person of a kubeconfig; prints the sign-in link first. */
export async function startLocalDashboard(options: LocalDashboardOptions): Promise<LocalDashboard> {
  // Loaded here, not at the top: registering the command must stay cheap, since every CLI
  // command (refs, seal --cert, --version) loads this module at start-up.
  const [k8s, { pino }, { createLogger }, { Cluster }, { createDashboardApp }, { Sessions }, { loadKubeConfig }, { writeNewFile }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('pino'),
    import('../core/logger.js'),
    import('./cluster.js'),
    import('./server.js'),
    import('./sessions.js'),
    import('../cli/cluster.js'),
    import('../cli/files.js'),
  ]);
  // The CLI's loader: kubectl's search order, --context, and an error that names the files looked
  // for instead of the client library's silent fallback to localhost:8080.
  const kc = loadKubeConfig(k8s, {
    operatorNamespace: options.operatorNamespace,
    ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context !== undefined ? { context: options.context } : {}),
  });
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const fallback = [options.namespace ?? contextNamespace].filter((n): n is string => n !== undefined);
  // The person's own kubeconfig reviews their token when the cluster has no SelfSubjectReview (if RBAC lets them).
  const cluster = new Cluster(kc, { operatorNamespace: options.operatorNamespace, fallbackNamespaces: fallback, tokenReviewer: kc });
  const log = options.log ?? createLogger({ name: 'orka-dashboard', level: process.env.ORKA_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const sessions = new Sessions<null>({ sessionTtlMs: options.sessionTtlMs ?? 8 * HOUR_MS, loginTtlMs: LOGIN_TTL_MS });

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  const signInLink = () => `${url}login?token=${sessions.issueLoginToken(null)}`;
  let pagesDir: string | undefined;
  let pages = 0;
  const signInPage = (): string => {
    // mkdtemp makes the directory 0700: no other user can list it, let alone read the page.
    pagesDir ??= mkdtempSync(join(tmpdir(), 'orka-dashboard-'));
    const path = join(pagesDir, `sign-in-${++pages}.html`);
    writeNewFile(path, signInPageHtml(signInLink()), 'a sign-in page');
    setTimeout(() => rmSync(path, { force: true }), LOGIN_TTL_MS).unref();
    return path;
  };
  const app = createDashboardApp<null>({
    sessions,
    clusterFor: () => cluster,
    assetsDir: assetsDir(),
    hosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    origins: [`http://127.0.0.1:${port}`, `http://localhost:${port}`],
    secureCookie: false,
    // Cookies ignore the port: a name of this process's own keeps two local dashboards apart.
    cookieInstance: randomBytes(6).toString('hex'),
    log,
    ...(options.onSignOut ? { onSignOut: options.onSignOut } : {}),
  });
  server.on('request', app);
  return {
    url,
    signInLink,
    signInPage,
    server,
    close: () => new Promise<void>((resolve) => {
      if (pagesDir !== undefined) rmSync(pagesDir, { recursive: true, force: true });
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Opens a file (the sign-in page: its path, never a link with a token) in the person's browser; failures only mean they open it themselves. */
function openBrowser(path: string): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [path]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', path]] : ['xdg-open', [path]];
  try {
    const child = spawn(command as string, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // no opener on this machine: the link is printed
  }
}

/** Registers `dashboard` on the CLI; reads the global --kubeconfig, --context, -n and --operator-namespace. */
export function registerDashboard(cli: Command): void {
  cli
    .command('dashboard')
    .description('serve the Secrets page on 127.0.0.1, acting with your kubeconfig; values are sealed in the browser')
    .option('--port <port>', 'port on 127.0.0.1 (default: a free one)', (v) => {
      const port = Number(v);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`--port must be 1 to 65535, got ${v}`);
      return port;
    })
    .option('--no-browser', 'do not open a browser; just print the sign-in page\'s path')
    .action(async (opts: { port?: number; browser: boolean }, command: Command) => {
      const g = command.optsWithGlobals<{ kubeconfig?: string; context?: string; namespace?: string; operatorNamespace?: string }>();
      // On a terminal, Enter writes (and opens) a new sign-in page: a page lives 60 s only.
      const more = process.stdin.isTTY ? ' (or press Enter here for a new one)' : '';
      const dashboard = await startLocalDashboard({
        ...(g.kubeconfig ? { kubeconfig: g.kubeconfig } : {}),
        ...(g.context ? { context: g.context } : {}),
        ...(g.namespace ? { namespace: g.namespace } : {}),
        operatorNamespace: g.operatorNamespace ?? 'orka-system',
        ...(opts.port ? { port: opts.port } : {}),
        onSignOut: () => process.stdout.write(`Signed out. To sign in again, open ${dashboard.signInPage()}${more}\n`),
      });
      const page = dashboard.signInPage();
      process.stdout.write(`Orka Secrets dashboard: ${dashboard.url}\nSign-in page: ${page}\n(it signs in once, within ${LOGIN_TTL_MS / 1000} s${more}; Ctrl-C stops the dashboard)\n`);
      if (opts.browser) openBrowser(page);
      const onEnter = () => {
        const next = dashboard.signInPage();
        process.stdout.write(`Sign-in page: ${next}\n`);
        if (opts.browser) openBrowser(next);
      };
      if (process.stdin.isTTY) process.stdin.on('data', onEnter);
      await new Promise<void>((resolve) => {
        const stop = () => void dashboard.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      process.stdin.off('data', onEnter);
      process.stdin.pause();
    });
}
