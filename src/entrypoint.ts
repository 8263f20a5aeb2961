/**
 * The image's entrypoint: one image, two programs. `operator` (the default) or `sidecar`.
 */
const program = process.argv[2] ?? 'operator';
if (program === 'operator') await import('./operator/main.js');
else if (program === 'sidecar') await import('./sidecar/main.js');
else {
  process.stderr.write(`usage: entrypoint operator|sidecar (got ${JSON.stringify(program)})\n`);
  process.exit(2);
}
export {};
