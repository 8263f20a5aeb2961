/**
 * The image's entrypoint: one image, three programs. `operator` (the default), `sidecar` or
 * `dashboard` (the Secrets page in a cluster).
 */
const program = process.argv[2] ?? 'operator';
if (program === 'operator') await import('./operator/main.js');
else if (program === 'sidecar') await import('./sidecar/main.js');
else if (program === 'dashboard') await import('./dashboard/main.js');
else {
  process.stderr.write(`usage: entrypoint operator|sidecar|dashboard (got ${JSON.stringify(program)})\n`);
  process.exit(2);
}
export {};
