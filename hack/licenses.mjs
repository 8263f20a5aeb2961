// The licence texts of the npm packages an esbuild bundle contains (from its metafile), as one
// file shipped next to the bundle: the image and the page carry copies of these packages without
// their node_modules folders, and most of their licences (MIT, ISC, BSD, Apache-2.0) ask that
// their notice travels with every copy.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Licences that ask for no notice with copies: a package under one may ship no licence file. */
const NO_NOTICE = new Set(['Unlicense', 'CC0-1.0', '0BSD']);

/** The package folder (node_modules/name or node_modules/@scope/name) of a bundled input path. */
function packageDir(input) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m?.[1];
}

/**
 * Writes `file` with the name, version, licence and licence text of every package in `metafile`'s
 * inputs, and next to it `bundled-packages.json` (name, version and licence of each: the list
 * `make release` turns into the CycloneDX SBOM of what ships). Fails when a package ships no
 * licence file (unless its licence asks for no notice): what cannot be shown to be allowed in the
 * image is not put there.
 */
export function writeLicenses(metafile, file) {
  const dirs = new Set(Object.keys(metafile.inputs).map(packageDir).filter(Boolean));
  const entries = [];
  const problems = [];
  const seen = new Set();
  const listed = [];
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'));
    // The same version installed twice (nested node_modules) is listed once.
    if (seen.has(`${pkg.name}@${pkg.version}`)) continue;
    seen.add(`${pkg.name}@${pkg.version}`);
    listed.push({ name: pkg.name, version: pkg.version, license: pkg.license ?? null });
    const text = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    if (text) entries.push(`${pkg.name}@${pkg.version} (${pkg.license})\n\n${readFileSync(`${dir}/${text}`, 'utf8').trim()}\n`);
    else if (NO_NOTICE.has(pkg.license)) entries.push(`${pkg.name}@${pkg.version} (${pkg.license}: the package ships no licence text, and its licence asks for none)\n`);
    else problems.push(`${pkg.name}@${pkg.version} (licence ${pkg.license ?? 'not named'}, no licence file)`);
  }
  if (problems.length > 0) throw new Error(`bundled packages without a licence to ship: ${problems.join('; ')}`);
  writeFileSync(join(dirname(file), 'bundled-packages.json'), `${JSON.stringify(listed, null, 1)}\n`);
  writeFileSync(file, `Third-party software in this bundle: ${entries.length} npm packages.\n\n${entries.join(`\n${'-'.repeat(72)}\n\n`)}`);
  return entries.length;
}
