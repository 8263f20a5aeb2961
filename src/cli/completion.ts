/**
 * `completion bash|zsh|fish`: shell completion scripts generated from the program's own commands
 * and options, so they never drift from the CLI. Static for commands, options and choices (no
 * Node start on those Tabs); only what lives in the cluster, the secret names of describe, delete
 * and update and the namespaces of -n, is asked of the CLI itself (`__complete`, src/cli/complete.ts),
 * which answers nothing when there is no cluster. zsh uses the bash script through bashcompinit.
 */
import type { Command, Option } from 'commander';
import { COMPLETE, SECRET_NAME_COMMANDS } from './complete.js';

/** The shells `completion` writes scripts for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;

const FILE_ARGUMENT = /file|path|kubeconfig|cert/i;

interface Flag {
  short?: string;
  long?: string;
  takesValue: boolean;
  choices: string[];
  files: boolean;
  /** Values come from the cluster (-n: the tenant namespaces). */
  dynamic: boolean;
  description: string;
}

function flagOf(o: Option): Flag {
  return {
    ...(o.short ? { short: o.short } : {}),
    ...(o.long ? { long: o.long } : {}),
    takesValue: o.required || o.optional,
    choices: o.argChoices ?? [],
    files: (o.required || o.optional) && FILE_ARGUMENT.test(o.flags),
    dynamic: o.long === '--namespace',
    description: o.description,
  };
}

interface Tree {
  name: string;
  description: string;
  flags: Flag[];
  commands: Tree[];
  /** Values a positional argument takes (e.g. the shells of `completion`). */
  choices: string[];
}

function treeOf(c: Command): Tree {
  return {
    name: c.name(),
    description: c.description(),
    flags: c.options.filter((o) => !o.hidden).map(flagOf),
    choices: c.registeredArguments.flatMap((a) => a.argChoices ?? []),
    commands: c.commands.filter((s) => !(s as unknown as { _hidden?: boolean })._hidden).map(treeOf),
  };
}

const words = (flags: Flag[]) => flags.flatMap((f) => [f.short, f.long].filter((x): x is string => x !== undefined));

function bash(root: Tree, bin: string): string {
  const fn = `_${bin.replaceAll('-', '_')}_complete`;
  // The command path (e.g. "keys backup") selects the words and the value completions.
  const paths: Array<{ path: string; node: Tree }> = [];
  const walk = (node: Tree, path: string) => {
    paths.push({ path, node });
    for (const child of node.commands) walk(child, path ? `${path} ${child.name}` : child.name);
  };
  walk(root, '');
  const globalFlags = root.flags;
  const commandNames = new Set(paths.flatMap((p) => p.node.commands.map((c) => c.name)));
  const dynamic = `${fn}_ask`;
  const valueCase = (f: Flag, pattern: (w: string) => string) => {
    const reply = f.choices.length
      ? `COMPREPLY=($(compgen -W "${f.choices.join(' ')}" -- "$cur"))`
      : f.dynamic
        ? `COMPREPLY=($(compgen -W "$(${dynamic})" -- "$cur"))`
        : f.files
          ? 'COMPREPLY=($(compgen -f -- "$cur"))'
          : 'COMPREPLY=()';
    return `      ${words([f]).map(pattern).join('|')}) ${reply}; return;;`;
  };
  const valueCases = [
    ...paths.flatMap(({ path, node }) => (path === '' ? [] : node.flags.filter((f) => f.takesValue).map((f) => valueCase(f, (w) => `"${path}:${w}"`)))),
    ...globalFlags.filter((f) => f.takesValue).map((f) => valueCase(f, (w) => `*:${w}`)),
  ];
  // Each flag once: the program's own flags are the global ones.
  const wordCases = paths.map(({ path, node }) => `      "${path}") opts="${[...new Set([...node.commands.map((c) => c.name), ...node.choices, ...words(node.flags), ...words(globalFlags)])].join(' ')}";;`);
  return `# ${bin} completion for bash: source <(${bin} completion bash)
# What the cluster holds (secret names, namespaces): asked of the CLI with the words typed so far.
${dynamic}() {
  "\${COMP_WORDS[0]}" ${COMPLETE} "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null | grep -v '^:'
}
${fn}() {
  local cur prev path="" i opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${[...commandNames].join('|')}) path="\${path:+$path }\${COMP_WORDS[i]}";;
    esac
  done
  case "$path:$prev" in
${[...new Set(valueCases)].join('\n')}
  esac
  if [[ "$cur" != -* ]]; then
    case "$path" in
      ${SECRET_NAME_COMMANDS.join('|')}) COMPREPLY=($(compgen -W "$(${dynamic})" -- "$cur")); return;;
    esac
  fi
  case "$path" in
${wordCases.join('\n')}
      *) opts="";;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F ${fn} ${bin} kubectl-orka
`;
}

function fishQuote(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function fish(root: Tree, bin: string): string {
  const dynamic = `__${bin.replaceAll('-', '_')}_ask`;
  const lines = [
    `# ${bin} completion for fish: ${bin} completion fish | source`,
    `complete -c ${bin} -f`,
    '# What the cluster holds (secret names, namespaces): asked of the CLI with the words typed so far.',
    `function ${dynamic}`,
    '    set -l words (commandline -opc)',
    `    command $words[1] ${COMPLETE} $words[2..-1] (commandline -ct) 2>/dev/null | string match -rv '^:'`,
    'end',
  ];
  const flagLine = (f: Flag, condition: string | undefined) =>
    [
      `complete -c ${bin}`,
      condition ? `-n ${fishQuote(condition)}` : '',
      f.short ? `-s ${f.short.replace(/^-/, '')}` : '',
      f.long ? `-l ${f.long.replace(/^--/, '')}` : '',
      f.takesValue ? (f.files ? '-r -F' : '-x') : '',
      f.choices.length ? `-a ${fishQuote(f.choices.join(' '))}` : f.dynamic ? `-a ${fishQuote(`(${dynamic})`)}` : '',
      `-d ${fishQuote(f.description)}`,
    ]
      .filter(Boolean)
      .join(' ');
  for (const f of root.flags) lines.push(flagLine(f, undefined));
  const walk = (node: Tree, ancestors: string[]) => {
    for (const child of node.commands) {
      const seen = ancestors.length ? `__fish_seen_subcommand_from ${ancestors[ancestors.length - 1]}; and ` : '';
      const notYet = `not __fish_seen_subcommand_from ${node.commands.map((c) => c.name).join(' ')}`;
      lines.push(`complete -c ${bin} -n ${fishQuote(ancestors.length ? `${seen}${notYet}` : '__fish_use_subcommand')} -a ${child.name} -d ${fishQuote(child.description)}`);
      for (const f of child.flags) lines.push(flagLine(f, `__fish_seen_subcommand_from ${child.name}`));
      if (child.choices.length) lines.push(`complete -c ${bin} -n ${fishQuote(`__fish_seen_subcommand_from ${child.name}`)} -a ${fishQuote(child.choices.join(' '))}`);
      walk(child, [...ancestors, child.name]);
    }
  };
  walk(root, []);
  lines.push(`complete -c ${bin} -n ${fishQuote(`__fish_seen_subcommand_from ${SECRET_NAME_COMMANDS.join(' ')}`)} -a ${fishQuote(`(${dynamic})`)}`);
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`, generated from the program. */
export function completionScript(shell: (typeof SHELLS)[number], program: Command): string {
  const root = treeOf(program);
  const bin = program.name();
  if (shell === 'fish') return fish(root, bin);
  const script = bash(root, bin);
  if (shell === 'bash') return script;
  return `# ${bin} completion for zsh: source <(${bin} completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${script}`;
}
