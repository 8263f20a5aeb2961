/**
 * The Secrets page in a cluster (the image's `dashboard` program; the chart's `dashboard.enabled`):
 * people sign in with a Kubernetes bearer token, or sit behind an auth proxy that sets
 * `Authorization: Bearer <OIDC token>`. Every Kubernetes call is made with that person's token,
 * never the dashboard's own ServiceAccount (which only reviews a person's token, to show who is
 * signed in): RBAC alone decides what they see and do.
 */
import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { parseEnv } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { Cluster, personKubeConfig } from './cluster.js';
import { assetsDir } from './command.js';
import { dashboardEnv } from './config.js';
import { createDashboardApp } from './server.js';
import { Sessions } from './sessions.js';

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
