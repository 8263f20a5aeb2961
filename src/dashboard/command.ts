/**
 * `orka-secrets dashboard` (also `kubectl orka dashboard`): the Secrets page on 127.0.0.1, acting
 * with the caller's kubeconfig. Prints the page's URL, with a one-time sign-in token, as the
 * first http:// URL on stdout, and opens a browser unless --no-browser. Logs go to stderr.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import type { Logger } from '../core/logger.js';

const HOUR_MS = 3_600_000;

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
  /** Where the sign-in link is written (stdout). */
  out: (line: string) => void;
  log?: Logger;
  /** How long a session lasts. */
  sessionTtlMs?: number;
}

/** A running local dashboard. */
export interface LocalDashboard {
  /** The address of the page, without a token. */
  url: string;
  /** A fresh one-time sign-in link. */
  signInLink(): string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the page on 127.0.0.1 for the person of a kubeconfig; prints the sign-in link first. */
export async function startLocalDashboard(options: LocalDashboardOptions): Promise<LocalDashboard> {
  // Loaded here, not at the top: registering the command must stay cheap, since every CLI
  // command (refs, seal --cert, --version) loads this module at start-up.
  const [k8s, { pino }, { createLogger }, { Cluster }, { createDashboardApp }, { Sessions }, { loadKubeConfig }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('pino'),
    import('../core/logger.js'),
    import('./cluster.js'),
    import('./server.js'),
    import('./sessions.js'),
    import('../cli/cluster.js'),
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
  const cluster = new Cluster(kc, { operatorNamespace: options.operatorNamespace, fallbackNamespaces: fallback });
  const log = options.log ?? createLogger({ name: 'orka-dashboard', level: process.env.ORKA_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const sessions = new Sessions<null>({ sessionTtlMs: options.sessionTtlMs ?? 8 * HOUR_MS, loginTtlMs: HOUR_MS });

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  const signInLink = () => `${url}login?token=${sessions.issueLoginToken(null)}`;
  const app = createDashboardApp<null>({
    sessions,
    clusterFor: () => cluster,
    assetsDir: assetsDir(),
    hosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    origins: [`http://127.0.0.1:${port}`, `http://localhost:${port}`],
    secureCookie: false,
    log,
    onSignOut: () => options.out(`Signed out. To sign in again, open ${signInLink()}`),
  });
  server.on('request', app);
  return {
    url,
    signInLink,
    server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Opens a URL in the person's browser; failures only mean they open it themselves. */
function openBrowser(url: string): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
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
    .option('--no-browser', 'do not open a browser; just print the link')
    .action(async (opts: { port?: number; browser: boolean }, command: Command) => {
      const g = command.optsWithGlobals<{ kubeconfig?: string; context?: string; namespace?: string; operatorNamespace?: string }>();
      const dashboard = await startLocalDashboard({
        ...(g.kubeconfig ? { kubeconfig: g.kubeconfig } : {}),
        ...(g.context ? { context: g.context } : {}),
        ...(g.namespace ? { namespace: g.namespace } : {}),
        operatorNamespace: g.operatorNamespace ?? 'orka-system',
        ...(opts.port ? { port: opts.port } : {}),
        out: (line) => process.stdout.write(`${line}\n`),
      });
      const link = dashboard.signInLink();
      process.stdout.write(`Orka Secrets dashboard: ${link}\n(the link signs in once; Ctrl-C stops the dashboard)\n`);
      if (opts.browser) openBrowser(link);
      await new Promise<void>((resolve) => {
        const stop = () => void dashboard.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
