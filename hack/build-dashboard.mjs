/* global console, process */
// Bundles the Secrets page (src/dashboard/web) with esbuild into dist/src/dashboard/public/,
// next to the compiled dashboard server: one minified ES module, its CSS, index.html and the icon.
// Prints the gzipped size of the JavaScript against the 150 KB budget, and fails above it.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { writeLicenses } from './licenses.mjs';

const src = 'src/dashboard/web';
const out = 'dist/src/dashboard/public';
const BUDGET = 150 * 1024;

mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [`${src}/main.tsx`],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: `${src}/tsconfig.json`,
  outfile: `${out}/app.js`,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css', 'favicon.svg']) copyFileSync(`${src}/${file}`, `${out}/${file}`);
// The status pills link to what each reason means: served as /docs/troubleshooting.md.
copyFileSync('docs/troubleshooting.md', `${out}/troubleshooting.md`);
// The page carries minified copies of its packages (Preact): their licences go with it.
writeLicenses(result.metafile, `${out}/THIRD_PARTY_LICENSES.txt`);
const gzipped = gzipSync(readFileSync(`${out}/app.js`)).length;
console.log(`   dashboard page: ${out}/app.js, ${(gzipped / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (gzipped > BUDGET) {
  console.error(`the page's JavaScript is ${gzipped} bytes gzipped, over the ${BUDGET}-byte budget`);
  process.exit(1);
}
