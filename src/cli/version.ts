/** The CLI's version: the package's, or the one baked into the standalone binary. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Replaced by the bundler when the standalone binary is built (it carries no package.json).
declare const ORKA_CLI_VERSION: string | undefined;

/** The version in the nearest package.json named orka-secrets above this module. */
export function cliVersion(): string {
  if (typeof ORKA_CLI_VERSION === 'string') return ORKA_CLI_VERSION;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'orka-secrets' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}
