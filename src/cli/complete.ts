/**
 * `__complete WORDS...` (not a command: src/cli/program.ts hands it the words before commander parses): what may come next on a command line, for the shells and kubectl.
 * The words are the arguments after the program's name, the last one being the word under the
 * cursor (possibly empty). Prints one candidate a line, then Cobra's `:DIRECTIVE` line, the
 * protocol kubectl speaks to a plugin's `kubectl_complete-orka` (so `kubectl orka <TAB>` works).
 * Commands, options and choices come from the program itself; secret names (for describe, delete
 * and update) and tenant namespaces (for -n) come from the cluster, with the command line's own
 * -n, --context and --kubeconfig, bounded in time and silent on any failure: a Tab never prints
 * an error or hangs. The static shell scripts (src/cli/completion.ts) call this only for those two.
 */
import type { Command, Option } from 'commander';
import { GROUP, PLURAL, TENANT_LABEL, VERSION, type OrkaSecret } from '../api/resource.js';
import { secretNamesOf } from '../core/names.js';
import { connect, type GlobalOptions } from './cluster.js';
import { commandPath } from './help.js';

/** The first argument that asks for completions. */
export const COMPLETE = '__complete';

/** Cobra's directives: 0 lets the shell complete file names, 4 (NoFileComp) does not. */
export const DIRECTIVE = { files: 0, noFiles: 4 } as const;

/** Commands whose first argument is an existing secret. */
export const SECRET_NAME_COMMANDS: readonly string[] = ['describe', 'delete', 'update'];

/** What the cluster is asked for while completing (a stand-in in unit tests). */
export interface Lookups {
  secrets(g: Partial<GlobalOptions>): Promise<string[]>;
  namespaces(g: Partial<GlobalOptions>): Promise<string[]>;
}

/** The candidates for the last word, and whether the shell may add file names. */
export interface Completion {
  items: string[];
  directive: number;
}

const FILE_VALUE = /file|path|kubeconfig|cert/i;
const takesValue = (o: Option) => o.required || o.optional;
const visible = (o: Option) => !o.hidden;
const flagsOf = (o: Option) => [o.short, o.long].filter((f): f is string => f !== undefined);
const GLOBAL_KEYS: Record<string, keyof GlobalOptions> = { '--namespace': 'namespace', '--context': 'context', '--kubeconfig': 'kubeconfig', '--operator-namespace': 'operatorNamespace' };

/** Completes `words` (after the program name; the last is the word being typed) against `root`. */
export async function completeWords(root: Command, words: string[], lookups: Lookups): Promise<Completion> {
  const cur = words.at(-1) ?? '';
  let node = root;
  let positionals = 0;
  let pending: Option | undefined;
  const globals: Partial<GlobalOptions> = {};
  const optionOf = (flag: string) => [...node.options, ...root.options].find((o) => o.short === flag || o.long === flag);
  const remember = (o: Option, value: string) => {
    const key = o.long === undefined ? undefined : GLOBAL_KEYS[o.long];
    if (key !== undefined && root.options.includes(o)) globals[key] = value;
  };
  for (const w of words.slice(0, -1)) {
    if (pending !== undefined) {
      remember(pending, w);
      pending = undefined;
    } else if (w.startsWith('-') && w !== '-') {
      const [flag, value] = w.includes('=') ? [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] : [w, undefined];
      const o = optionOf(flag as string);
      if (o !== undefined && takesValue(o)) {
        if (value === undefined) pending = o;
        else remember(o, value);
      }
    } else {
      const child = positionals === 0 ? node.commands.find((c) => c.name() === w || c.aliases().includes(w)) : undefined;
      if (child !== undefined) node = child;
      else positionals++;
    }
  }
  const matching = (items: string[]) => [...new Set(items)].filter((i) => i.startsWith(cur));
  if (pending !== undefined) {
    if (pending.argChoices) return { items: matching(pending.argChoices), directive: DIRECTIVE.noFiles };
    if (pending.long === '--namespace') return { items: matching(await lookups.namespaces(globals)), directive: DIRECTIVE.noFiles };
    return { items: [], directive: FILE_VALUE.test(pending.flags) ? DIRECTIVE.files : DIRECTIVE.noFiles };
  }
  if (cur.startsWith('-')) {
    const own = node.options.filter(visible);
    const inherited = node === root ? [] : root.options.filter(visible);
    return { items: matching([...own, ...inherited].flatMap(flagsOf)), directive: DIRECTIVE.noFiles };
  }
  const path = commandPath(node);
  const argument = node.registeredArguments[positionals];
  const items = [
    ...(positionals === 0 ? node.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => c.name()) : []),
    ...(argument?.argChoices ?? []),
    ...(positionals === 0 && SECRET_NAME_COMMANDS.includes(path) ? await lookups.secrets(globals) : []),
  ];
  const files = argument !== undefined && argument.argChoices === undefined && /path|file/i.test(argument.name());
  return { items: matching(items), directive: files ? DIRECTIVE.files : DIRECTIVE.noFiles };
}

/** Gives up on the cluster after this long: a Tab must not hang on an unreachable server. */
const LOOKUP_BUDGET_MS = 3000;

async function quietly(fn: () => Promise<string[]>): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), LOOKUP_BUDGET_MS)));
  try {
    return await Promise.race([fn().catch(() => []), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The cluster's answers: the namespace's secret names, and the tenant namespaces. */
export const clusterLookups: Lookups = {
  secrets: (g) =>
    quietly(async () => {
      const c = await connect({ operatorNamespace: 'orka-system', ...g });
      const list = (await c.kc.makeApiClient(c.k8s.CustomObjectsApi).listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: c.namespace })) as { items: OrkaSecret[] };
      return secretNamesOf(list.items.map((o) => o.metadata.name));
    }),
  namespaces: (g) =>
    quietly(async () => {
      const c = await connect({ operatorNamespace: 'orka-system', ...g });
      const list = await c.kc.makeApiClient(c.k8s.CoreV1Api).listNamespace({ labelSelector: TENANT_LABEL });
      return list.items.map((n) => n.metadata?.name ?? '').filter((n) => n !== '');
    }),
};

/** `__complete WORDS...`: prints the completions in Cobra's format and exits (a lookup given up on may still hold a socket open). */
export async function completeMain(root: Command, words: string[], lookups: Lookups = clusterLookups): Promise<never> {
  const { items, directive } = await completeWords(root, words.length ? words : [''], lookups);
  process.stdout.write(`${[...items, `:${directive}`].join('\n')}\n`);
  process.exit(0);
}
