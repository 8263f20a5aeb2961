/**
 * `completion bash|zsh|fish`: shell completion scripts generated from the program's own commands
 * and options, so they never drift from the CLI. Static (no call back into the CLI on each Tab,
 * which would start Node every time). zsh uses the bash script through bashcompinit.
 */
import type { Command, Option } from 'commander';

/** The shells `completion` writes scripts for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;

const FILE_ARGUMENT = /file|path|kubeconfig|cert/i;

interface Flag {
  short?: string;
  long?: string;
  takesValue: boolean;
  choices: string[];
  files: boolean;
  description: string;
}

function flagOf(o: Option): Flag {
  return {
    ...(o.short ? { short: o.short } : {}),
    ...(o.long ? { long: o.long } : {}),
    takesValue: o.required || o.optional,
    choices: o.argChoices ?? [],
    files: (o.required || o.optional) && FILE_ARGUMENT.test(o.flags),
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
    flags: c.options.map(flagOf),
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
  const valueCase = (f: Flag, pattern: (w: string) => string) => {
    const reply = f.choices.length ? `COMPREPLY=($(compgen -W "${f.choices.join(' ')}" -- "$cur"))` : f.files ? 'COMPREPLY=($(compgen -f -- "$cur"))' : 'COMPREPLY=()';
    return `      ${words([f]).map(pattern).join('|')}) ${reply}; return;;`;
  };
  const valueCases = [
    ...paths.flatMap(({ path, node }) => (path === '' ? [] : node.flags.filter((f) => f.takesValue).map((f) => valueCase(f, (w) => `"${path}:${w}"`)))),
    ...globalFlags.filter((f) => f.takesValue).map((f) => valueCase(f, (w) => `*:${w}`)),
  ];
  const wordCases = paths.map(({ path, node }) => `      "${path}") opts="${[...node.commands.map((c) => c.name), ...node.choices, ...words(node.flags), ...words(globalFlags)].join(' ')}";;`);
  return `# ${bin} completion for bash: source <(${bin} completion bash)
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
  const lines = [`# ${bin} completion for fish: ${bin} completion fish | source`, `complete -c ${bin} -f`];
  const flagLine = (f: Flag, condition: string | undefined) =>
    [
      `complete -c ${bin}`,
      condition ? `-n ${fishQuote(condition)}` : '',
      f.short ? `-s ${f.short.replace(/^-/, '')}` : '',
      f.long ? `-l ${f.long.replace(/^--/, '')}` : '',
      f.takesValue ? (f.files ? '-r -F' : '-x') : '',
      f.choices.length ? `-a ${fishQuote(f.choices.join(' '))}` : '',
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
