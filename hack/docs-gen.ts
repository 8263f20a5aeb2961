/**
 * Generates the reference tables of the docs from their single sources, so they cannot drift:
 *   docs/configuration.md  the ORKA_* variables of the operator and the sidecar, from the schemas
 *                          the programs parse (their descriptions are the documentation);
 *   docs/values.md         every chart value with its default and its `# --` comment in
 *                          charts/orka-secrets/values.yaml (as helm-docs does);
 *   docs/crd.md            every field of the OrkaSecret resource and its printer columns, from
 *                          the descriptions in crds/orkasecret.yaml.
 * `npx tsx hack/docs-gen.ts` writes them; `--check` exits 1 and names the stale files (a unit test
 * runs it, so CI fails on a table that was not regenerated).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, parse, parseDocument, type Node, type Pair } from 'yaml';
import { configDocs } from '../src/core/config.js';
import { operatorEnv } from '../src/operator/config.js';
import { sidecarEnv } from '../src/sidecar/config.js';

/** A Markdown table cell: one line, pipes escaped. */
const cell = (text: string) => text.replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();

function table(rows: Array<[string, string, string]>, head: [string, string, string]): string {
  return [`| ${head.join(' | ')} |`, '|---|---|---|', ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** The operator's variables, as parsed by src/operator/config.ts. */
function operatorTable(): string {
  const rows = configDocs(operatorEnv, { ORKA_POD_NAME: 'the host name' }).map((d): [string, string, string] => [`\`${d.variable}\``, d.fallback, d.description]);
  return table(rows, ['variable', 'default', 'meaning']);
}

/** The sidecar's variables, as parsed by src/sidecar/config.ts (the injector sets them). */
function sidecarTable(): string {
  const rows = Object.entries(sidecarEnv).map(([variable, spec]): [string, string, string] => {
    const s = spec as { fallback?: string; optional?: boolean; doc: string };
    return [`\`${variable}\``, s.fallback ?? (s.optional ? '(unset)' : '(required)'), s.doc];
  });
  return table(rows, ['variable', 'default', 'meaning']);
}

/** Every documented value of values.yaml: `# --` comments on a key document it (and what is under it). */
function valuesTable(): string {
  const doc = parseDocument(readFileSync('charts/orka-secrets/values.yaml', 'utf8'));
  const rows: Array<[string, string, string]> = [];
  const walk = (node: unknown, path: string, mapComment: string | undefined) => {
    if (!isMap(node)) return;
    node.items.forEach((pair: Pair, i: number) => {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      // The comment of a map's first key is kept on the map itself by the parser.
      const comment = (pair.key as Node | null)?.commentBefore ?? (i === 0 ? mapComment : undefined);
      const at = path ? `${path}.${key}` : key;
      const value = pair.value as Node | null;
      const docText = comment?.split(/\n(?=\s*--)/).pop();
      if (docText !== undefined && /^\s*--/.test(docText)) {
        const json = JSON.stringify(value === null ? null : (value as Node).toJSON());
        rows.push([`\`${at}\``, `\`${json}\``, docText.replace(/^\s*--\s*/, '').replace(/\n\s*/g, ' ')]);
        if (isMap(value) && value.items.some((p) => (p.key as Node | null)?.commentBefore)) walk(value, at, value.commentBefore ?? undefined);
      } else if (isMap(value) || isSeq(value)) {
        walk(value, at, isMap(value) ? (value.commentBefore ?? undefined) : undefined);
      }
    });
  };
  walk(doc.contents, '', (doc.contents as Node | null)?.commentBefore ?? undefined);
  return table(rows, ['value', 'default', 'meaning']);
}

/** An OpenAPI schema node of the CRD, as far as the docs read it. */
interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
  enum?: string[];
  maxLength?: number;
  not?: object;
}

/** Every field of the CRD's spec and status: path, type (with its limits), description. */
function crdTables(): { fields: string; columns: string } {
  const crd = parse(readFileSync('crds/orkasecret.yaml', 'utf8')) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: SchemaNode }; additionalPrinterColumns?: Array<{ name: string; jsonPath: string; description?: string; priority?: number }> }> } };
  const version = crd.spec.versions[0] as (typeof crd.spec.versions)[number];
  const rows: Array<[string, string, string]> = [];
  const walk = (node: SchemaNode, path: string, required: boolean) => {
    const kind = node.not ? 'refused' : node.type === 'array' ? `array of ${node.items?.type ?? 'any'}` : (node.type ?? 'any');
    const limits = [required ? 'required' : '', node.maxLength ? `at most ${node.maxLength} characters` : '', node.enum ? node.enum.join(' / ') : ''].filter(Boolean).join(', ');
    rows.push([`\`${path}\``, limits ? `${kind} (${limits})` : kind, node.description ?? '']);
    for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, `${path}.${key}`, node.required?.includes(key) ?? false);
    if (node.items?.properties) for (const [key, child] of Object.entries(node.items.properties)) walk(child, `${path}[].${key}`, node.items.required?.includes(key) ?? false);
  };
  const root = version.schema.openAPIV3Schema;
  for (const top of ['spec', 'status']) walk(root.properties?.[top] as SchemaNode, top, false);
  const columns = (version.additionalPrinterColumns ?? []).map((c): [string, string, string] => [c.name + (c.priority ? ' (`-o wide`)' : ''), `\`${c.jsonPath}\``, c.description ?? '']);
  return { fields: table(rows, ['field', 'type', 'meaning']), columns: table(columns, ['column', 'from', 'meaning']) };
}

/** Replaces what stands between `<!-- generated: NAME -->` and `<!-- end: NAME -->` in a file. */
function fill(file: string, parts: Record<string, string>): string {
  let text = readFileSync(file, 'utf8');
  for (const [name, body] of Object.entries(parts)) {
    const start = `<!-- generated: ${name} (npx tsx hack/docs-gen.ts) -->`;
    const end = `<!-- end: ${name} -->`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`${file} has no ${start} ... ${end} section`);
    text = `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
  }
  return text;
}

const outputs: Record<string, string> = {
  'docs/configuration.md': fill('docs/configuration.md', { operator: operatorTable(), sidecar: sidecarTable() }),
  'docs/values.md': fill('docs/values.md', { values: valuesTable() }),
  'docs/crd.md': fill('docs/crd.md', { fields: crdTables().fields, columns: crdTables().columns }),
};
const check = process.argv.includes('--check');
const stale = Object.entries(outputs).filter(([file, text]) => readFileSync(file, 'utf8') !== text);
if (check) {
  if (stale.length > 0) {
    console.error(`out of date (run npx tsx hack/docs-gen.ts): ${stale.map(([f]) => f).join(', ')}`);
    process.exit(1);
  }
} else {
  for (const [file, text] of stale) writeFileSync(file, text);
  console.log(stale.length ? `wrote ${stale.map(([f]) => f).join(', ')}` : 'docs tables are current');
}
