import { defineConfig } from 'vitest/config';

// Projects: `unit` (pure code, no I/O beyond the process), `integration` (a real kube-apiserver
// started once per run by the global setup), `browser` (the Secrets page in Chromium), `package`
// (the CLI as installed, one to two minutes) and `image` (the Dockerfile, with testcontainers).
// `make test` runs them all.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The Secrets page in Debian's Chromium (Playwright) against the same kind of control
          // plane as the integration suite, with a real operator and sidecar.
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 90_000,
          // beforeAll starts an operator (first key ring: RSA key generation) and a sidecar.
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          // The CLI as installed: npm pack into an empty prefix, and the standalone binary; and
          // make release's artifacts.
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          // One file at a time: each compiles (npm pack's prepack) and builds the x64 binary in dist/.
          fileParallelism: false,
          environment: 'node',
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'image',
          include: ['test/e2e/image.test.ts'],
          environment: 'node',
          // No registry is reachable, so testcontainers must not try to pull its Ryuk reaper;
          // the tests stop what they start.
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'e2e',
          // Every e2e file but the image's, which has its own project: a new file runs without a list to update.
          include: ['test/e2e/**/*.test.ts'],
          exclude: ['test/e2e/image.test.ts'],
          // One file at a time: each starts its own kubelet on the one Docker engine, and two
          // kubelets remove each other's containers.
          fileParallelism: false,
          environment: 'node',
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
          testTimeout: 240_000,
          hookTimeout: 1_200_000,
        },
      },
    ],
  },
});
