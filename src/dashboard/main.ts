/**
 * The Secrets page in a cluster (the image's `dashboard` program; the chart's `dashboard.enabled`):
 * people sign in with a Kubernetes bearer token, or sit behind an auth proxy that sets
 * `Authorization: Bearer <OIDC token>`. Every Kubernetes call is made with that person's token,
 * never the dashboard's own ServiceAccount (which only reviews a person's token, to show who is
 * signed in): RBAC alone decides what they see and do.
 */
import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { logLevel, parseEnv, port } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { Cluster, personKubeConfig } from './cluster.js';
import { assetsDir } from './command.js';
import { createDashboardApp } from './server.js';
import { Sessions } from './sessions.js';

/** Every variable the in-cluster dashboard reads. */
export const dashboardEnv = z.object({
  ORKA_LOG_LEVEL: logLevel().describe('Log level.'),
  ORKA_DASHBOARD_ADDRESS: z.string().default('0.0.0.0').describe('Address to listen on.'),
  ORKA_DASHBOARD_PORT: port(8080).describe('Port to listen on.'),
  ORKA_DASHBOARD_HOSTS: z
    .string()
    .min(1)
    .transform((v) => v.split(',').map((h) => h.trim()).filter((h) => h.length > 0))
    .describe('Host header values the page is served under (for example secrets.example.com), comma-separated: the DNS-rebinding guard.'),
  ORKA_DASHBOARD_AUTH: z.enum(['token', 'proxy']).default('token').describe('token: people paste a Kubernetes bearer token; proxy: an auth proxy in front sets Authorization: Bearer on every request.'),
  ORKA_DASHBOARD_SECURE_COOKIE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true').describe('Mark the session cookie Secure (the page is reached over HTTPS, as it must be).'),
  ORKA_DASHBOARD_SESSION_TTL_HOURS: z.coerce.number().int().min(1).max(24).default(8).describe('How long a session lasts.'),
  ORKA_NAMESPACE: z.string().default('orka-system').describe("The operator's namespace (where the sealing certificate is published)."),
});

/** The parsed configuration. */
export type DashboardConfig = z.output<typeof dashboardEnv>;

async function main(): Promise<void> {
  const config = parseEnv(dashboardEnv, process.env);
  const log = createLogger({ name: 'orka-dashboard', level: config.ORKA_LOG_LEVEL });
  // The cluster's address and CA for every person's calls; this pod's own ServiceAccount token
  // only reviews a person's token to show who they are (TokenReview, its only right).
  const base = new KubeConfig();
  base.loadFromCluster();
  const clusterFor = (token: string) => new Cluster(personKubeConfig(base, token), { operatorNamespace: config.ORKA_NAMESPACE, fallbackNamespaces: [], tokenReviewer: base });
  const scheme = config.ORKA_DASHBOARD_SECURE_COOKIE ? 'https' : 'http';
  const app = createDashboardApp<string>({
    sessions: new Sessions<string>({ sessionTtlMs: config.ORKA_DASHBOARD_SESSION_TTL_HOURS * 3_600_000, loginTtlMs: 60_000 }),
    clusterFor,
    assetsDir: assetsDir(),
    hosts: config.ORKA_DASHBOARD_HOSTS,
    origins: config.ORKA_DASHBOARD_HOSTS.map((h) => `${scheme}://${h}`),
    secureCookie: config.ORKA_DASHBOARD_SECURE_COOKIE,
    log,
    bearer: {
      mode: config.ORKA_DASHBOARD_AUTH,
      verifyToken: async (token) => {
        await clusterFor(token).verify();
        return token;
      },
    },
  });
  const server = createServer(app).listen(config.ORKA_DASHBOARD_PORT, config.ORKA_DASHBOARD_ADDRESS, () =>
    log.info({ address: config.ORKA_DASHBOARD_ADDRESS, port: config.ORKA_DASHBOARD_PORT, auth: config.ORKA_DASHBOARD_AUTH, hosts: config.ORKA_DASHBOARD_HOSTS }, 'dashboard listening'),
  );
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

await main().catch((err: unknown) => {
  process.stderr.write(`orka-dashboard: ${(err as Error).message}\n`);
  process.exit(1);
});
