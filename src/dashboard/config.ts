/**
 * The in-cluster dashboard's configuration: the environment variables the chart's dashboard values
 * become (apart from main.ts, so the chart tests parse what the chart renders).
 */
import { z } from 'zod';
import { logLevel, port } from '../core/config.js';

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
