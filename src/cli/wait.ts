/**
 * `--wait`: after a create or update, wait until the operator has reconciled the new generation,
 * then exit by the Ready condition's reason, so a pipeline can tell bad input from a missing
 * source from a cluster problem without parsing text.
 */
import { parseDuration } from '../core/duration.js';
import { toObjectName } from '../core/names.js';
import { GROUP, PLURAL, Reason, VERSION, type OrkaSecret } from '../api/resource.js';
import type { Cluster } from './cluster.js';
import { CliError, EXIT } from './errors.js';
import { clean } from './clean.js';

/** Reasons caused by what was submitted (fix the input): exit 2. */
const INPUT_REASONS: readonly string[] = [
  Reason.InvalidName,
  Reason.NotATenant,
  Reason.NoValue,
  Reason.SealedForAnotherSecret,
  Reason.SealedForAnotherTenant,
  Reason.NamespaceBoundSealedValue,
  Reason.ValueTooLarge,
  Reason.ValueNotUTF8,
  Reason.ConflictingSources,
  Reason.InvalidSource,
  Reason.SourceRefused,
];
/** Reasons that name something missing: exit 3. */
const NOT_FOUND_REASONS: readonly string[] = [Reason.SourceNotFound];

/** The exit code for a Ready condition that is not True, by its reason (any other reason: 6). */
export function exitCodeOf(reason: string): number {
  if (INPUT_REASONS.includes(reason)) return EXIT.input;
  if (NOT_FOUND_REASONS.includes(reason)) return EXIT.notFound;
  return EXIT.notReady;
}

/** What --help says about --wait. */
export const WAIT_HELP = `With --wait: exit 0 when Ready, 2 when not Ready because of the input (${INPUT_REASONS.join(', ')}), 3 when the value's source is missing (${NOT_FOUND_REASONS.join(', ')}), 6 when not Ready for another reason, 7 when --timeout passed first.`;

/** The outcome once the object's generation is reconciled; undefined while it is not yet. */
export function outcome(o: OrkaSecret, generation: number): { ready: boolean; reason: string; message: string } | undefined {
  if ((o.status?.observedGeneration ?? 0) < generation) return undefined;
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  if (c === undefined) return undefined;
  // Ready stays True when a new value is refused while the previous one is still served (the reason
  // names the refusal): for the person who just submitted that value, only Stored is success.
  return { ready: c.status === 'True' && c.reason === Reason.Stored, reason: c.reason, message: c.message };
}

/** Parses --timeout (30s, 2m, or seconds) into milliseconds. */
export function parseTimeout(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) throw new CliError(`--timeout ${JSON.stringify(text)} is not a duration such as 30s or 2m`, EXIT.input);
  return seconds * 1000;
}

/** Waits for Ready; returns the line to print when Ready, throws CliError (exit by reason) otherwise. */
export async function waitForReady(c: Cluster, namespace: string, name: string, generation: number, timeoutMs: number): Promise<string> {
  const api = c.kc.makeApiClient(c.k8s.CustomObjectsApi);
  const deadline = Date.now() + timeoutMs;
  let last: OrkaSecret | undefined;
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    last = (await c.call(`secret ${name} in ${namespace}`, () => api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name: toObjectName(name) }))) as OrkaSecret;
    const result = outcome(last, generation);
    if (result?.ready) return `${name} is Ready (${clean(result.reason)}${last.status?.version !== undefined ? `, version ${last.status.version}` : ''})`;
    if (result !== undefined) throw new CliError(`${name} is not Ready: ${clean(result.reason)}: ${clean(result.message)}`, exitCodeOf(result.reason));
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
  }
  const seen = last?.status?.observedGeneration ?? 0;
  throw new CliError(`${name} was not reconciled within ${Math.round(timeoutMs / 1000)}s (generation ${generation}, the operator has seen ${seen}): is the operator running?`, EXIT.timeout);
}
