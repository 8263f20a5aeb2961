/**
 * `refs PATH...`: where is each secret used? Reads workflow files (JSON, YAML or any text;
 * directories recursively, like `grep -r`: symbolic links met inside a directory are not
 * followed, and `.git` is skipped), lists every `{{secrets.NAME}}` with file and line, marks the
 * references to secrets the tenant does not have (exit 3 when any; 2 for a malformed reference), and lists the tenant's
 * secrets no file references. Only names, files and line numbers are printed, never the rest of a
 * line; a malformed reference is shown as written up to the first character no name has (so
 * whatever stands between `{{secrets.` and `}}` in name characters is repeated, value or not).
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { secretNamesOf } from '../core/names.js';
import { findReferences, mayHoldReferences } from '../core/template.js';
import { GROUP, PLURAL, VERSION, type OrkaSecret } from '../api/resource.js';
import { checkNamespace, connect, type GlobalOptions } from './cluster.js';
import { CliError, EXIT } from './errors.js';
import { clean } from './clean.js';
import { print, table } from './output.js';

/** One reference: where, and to what. */
export interface FileReference {
  file: string;
  line: number;
  name: string;
}

/** What scanning the paths found. */
export interface Scan {
  files: number;
  /** Files skipped as binary (a NUL byte, as grep -I). */
  binary: number;
  references: FileReference[];
  /** Malformed references: the rule broken, what was written (cut before a character no name has), the reference it probably means. */
  malformed: Array<{ file: string; line: number; rule: string; written: string; suggestion?: string }>;
}

const SKIPPED_DIRECTORIES = new Set(['.git']);
const NUL = 0;

/** 1-based line numbers of ascending offsets, counting newlines once over the text. */
export function linesOf(text: string, offsets: number[]): number[] {
  const lines: number[] = [];
  let line = 1;
  let at = 0;
  for (const offset of offsets) {
    for (let nl = text.indexOf('\n', at); nl !== -1 && nl < offset; nl = text.indexOf('\n', nl + 1)) line++;
    at = offset;
    lines.push(line);
  }
  return lines;
}

// One buffer for every file (grown when a file is larger): no allocation and no fstat per file.
let buffer = Buffer.allocUnsafe(64 * 1024);

/** A file's bytes, in the shared buffer (valid until the next read). */
function readWhole(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger);
        buffer = bigger;
      }
      const wanted = buffer.length - length;
      const n = readSync(fd, buffer, length, wanted, null);
      length += n;
      // A regular file's read returns less than asked only at its end: no further read to see 0.
      if (n < wanted) return buffer.subarray(0, length);
    }
  } finally {
    closeSync(fd);
  }
}

function scanFile(file: string, into: Scan): void {
  const bytes = readWhole(file);
  into.files++;
  if (bytes.indexOf(NUL) !== -1) {
    into.binary++;
    return;
  }
  // Most files hold no expression, or none that can be a reference: they are not decoded.
  if (bytes.indexOf('{{') === -1 || !mayHoldReferences(bytes)) return;
  const text = bytes.toString('utf8');
  const found = findReferences(text);
  const lines = linesOf(
    text,
    found.map((f) => f.offset),
  );
  found.forEach((f, i) => {
    const line = lines[i] as number;
    if ('name' in f) into.references.push({ file, line, name: f.name });
    else into.malformed.push({ file, line, rule: f.malformed, written: f.written, ...(f.suggestion === undefined ? {} : { suggestion: f.suggestion }) });
  });
}

function walk(path: string, into: Scan, top: boolean): void {
  const stat = top ? statSync(path) : statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return;
  if (stat.isFile()) return scanFile(path, into);
  if (!stat.isDirectory()) return;
  walkDirectory(path.endsWith('/') ? path : `${path}/`, into);
}

/** A directory's files (named `dir` + name, as grep names them), in name order, and its subdirectories. */
function walkDirectory(dir: string, into: Scan): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.isSymbolicLink()) continue; // as grep -r: only links named on the command line are followed
    if (e.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.has(e.name)) walkDirectory(`${dir}${e.name}/`, into);
    } else if (e.isFile()) scanFile(`${dir}${e.name}`, into);
  }
}

/** Scans files and directories (recursively) for references. */
export function scanPaths(paths: string[]): Scan {
  const scan: Scan = { files: 0, binary: 0, references: [], malformed: [] };
  for (const path of paths) {
    try {
      walk(path, scan, true);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CliError(`cannot read ${path}: ${code ?? (err as Error).message}`, EXIT.input);
    }
  }
  return scan;
}

/** The report: references marked missing or not, and the tenant's unreferenced secrets. */
export function report(scan: Scan, existing: ReadonlySet<string> | undefined) {
  const referenced = new Set(scan.references.map((r) => r.name));
  return {
    files: scan.files,
    references: scan.references.map((r) => ({ ...r, ...(existing ? { exists: existing.has(r.name) } : {}) })),
    malformed: scan.malformed,
    missing: existing ? [...referenced].filter((n) => !existing.has(n)).sort() : [],
    unreferenced: existing ? [...existing].filter((n) => !referenced.has(n)).sort() : [],
  };
}

/** The secrets of the namespace to check against; without a cluster, the error says how to list without one. */
async function tenantSecrets(g: GlobalOptions): Promise<{ namespace: string; existing: Set<string> }> {
  try {
    const c = await connect(g);
    await checkNamespace(c, c.namespace, 'exists');
    const list = (await c.call(`secrets in ${c.namespace}`, () => c.kc.makeApiClient(c.k8s.CustomObjectsApi).listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: c.namespace }))) as { items: OrkaSecret[] };
    const existing = new Set(secretNamesOf(list.items.map((o) => o.metadata.name)));
    return { namespace: c.namespace, existing };
  } catch (err) {
    if (!(err instanceof CliError) || err.exitCode !== EXIT.cluster) throw err;
    throw new CliError(`${err.message} (to list the references without a cluster: refs --no-check)`, EXIT.cluster);
  }
}

/** Registers `refs`. */
export function registerRefs(cli: Command, g: () => GlobalOptions): void {
  cli
    .command('refs <path...>')
    .description('list every {{secrets.NAME}} in workflow files (directories recursively) with file and line; mark references to secrets the namespace lacks (exit 3) and list its unreferenced secrets')
    .option('--no-check', 'only list the references; do not compare with the secrets of the cluster')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'yaml', 'json']).default('text'))
    .action(async (paths: string[], opts: { check: boolean; output: string }) => {
      const scan = scanPaths(paths);
      const { namespace, existing } = opts.check ? await tenantSecrets(g()) : {};
      const r = report(scan, existing);
      if (opts.output !== 'text') print({ ...(namespace ? { namespace } : {}), ...r }, opts.output);
      else {
        const rows = r.references.map((x) => [x.name, `${x.file}:${x.line}`, x.exists === undefined ? '' : x.exists ? 'ok' : 'MISSING']);
        const malformed = r.malformed.map((m) => [m.written, `${m.file}:${m.line}`, `malformed (${m.rule})${m.suggestion ? `: did you mean ${m.suggestion}?` : ''}`]);
        // table() cleans every cell (file names are text too); the summary lines are cleaned here.
        const summary: string[] = [];
        summary.push(`${r.references.length} reference${r.references.length === 1 ? '' : 's'} to ${new Set(r.references.map((x) => x.name)).size} secret(s) in ${r.files} file(s)${r.malformed.length ? `, ${r.malformed.length} malformed` : ''}`);
        if (existing) {
          summary.push(r.missing.length ? `missing in ${namespace}: ${r.missing.join(', ')}` : `every referenced secret exists in ${namespace}`);
          summary.push(r.unreferenced.length ? `not referenced by any file: ${r.unreferenced.join(', ')}` : 'every secret is referenced');
        }
        const listed = rows.length + malformed.length > 0 ? table([['SECRET', 'WHERE', existing || malformed.length > 0 ? 'STATUS' : ''], ...rows, ...malformed]) : '';
        process.stdout.write(`${listed}${summary.map(clean).join('\n')}\n`);
      }
      // A missing secret fails the workflow at run time (3); a malformed reference fails it too (2).
      if (r.missing.length > 0) process.exitCode = EXIT.notFound;
      else if (r.malformed.length > 0) process.exitCode = EXIT.input;
    });
}
