/**
 * Parsing rendered manifests for the chart tests: a YAML error in any document fails the render,
 * as Helm (and kubectl) would refuse the release. The yaml package keeps going past an error and
 * hands back what it could read, so a renderer helper that looked only at `toJS()` saw a broken
 * chart as a valid one.
 */
import { parseAllDocuments } from 'yaml';

/** The documents of a multi-document YAML stream, without empty ones; throws on any YAML error, naming the document. */
export function parseManifests<T = Record<string, unknown>>(text: string): T[] {
  const docs = parseAllDocuments(text);
  // A stream with nothing in it parses as an EmptyStream, not a list of documents.
  if (!Array.isArray(docs)) return [];
  const problems = docs.flatMap((doc, i) => doc.errors.map((e) => `document ${i + 1}: ${e.message}`));
  if (problems.length > 0) throw new Error(`the rendered manifests are not valid YAML:\n${problems.join('\n')}`);
  return docs.map((d) => d.toJS() as T).filter((d) => d !== null);
}
