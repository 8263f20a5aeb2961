/**
 * The image's entrypoint: one image, four programs. `operator` (the default), `sidecar`,
 * `dashboard` (the Secrets page in a cluster) or `cli` (the orka-secrets command line, for runner
 * images that copy it from this one: `entrypoint.mjs cli run -- COMMAND`, docs/script-nodes.md).
 */
const program = process.argv[2] ?? 'operator';
if (program === 'operator') await import('./operator/main.js');
else if (program === 'sidecar') await import('./sidecar/main.js');
else if (program === 'dashboard') await import('./dashboard/main.js');
else if (program === 'cli') {
  // The command line reads its arguments from argv[2] on.
  process.argv.splice(2, 1);
  await import('./cli/main.js');
} else {
  process.stderr.write(`usage: entrypoint operator|sidecar|dashboard|cli (got ${JSON.stringify(program)})\n`);
  process.exit(2);
}
export {};
