import { Argument, Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { completionScript } from '../../../src/cli/completion.js';

function program(): Command {
  const cli = new Command('orka-secrets').option('--kubeconfig <path>', 'kubeconfig file');
  cli.command('list').description('list them').addOption(new Option('-o, --output <format>', 'format').choices(['table', 'json']));
  cli.command('completion').addArgument(new Argument('<shell>').choices(['bash', 'fish']));
  return cli;
}

describe('completionScript', () => {
  it('bash: commands, per-command options and their choices, files for path options', () => {
    const script = completionScript('bash', program());
    expect(script).toContain('complete -o default -F _orka_secrets_complete orka-secrets kubectl-orka');
    expect(script).toContain('list|completion) path=');
    expect(script).toContain('"list:-o"|"list:--output") COMPREPLY=($(compgen -W "table json" -- "$cur")); return;;');
    expect(script).toContain('*:--kubeconfig) COMPREPLY=($(compgen -f -- "$cur")); return;;');
    expect(script).toContain('"completion") opts="bash fish --kubeconfig";;');
  });

  it('zsh: the bash script through bashcompinit', () => {
    const script = completionScript('zsh', program());
    expect(script).toContain('autoload -U +X bashcompinit && bashcompinit');
    expect(script).toContain(completionScript('bash', program()));
  });

  it('fish: one line per command and option, descriptions quoted', () => {
    const script = completionScript('fish', program());
    expect(script).toContain("complete -c orka-secrets -n '__fish_use_subcommand' -a list -d 'list them'");
    expect(script).toContain("complete -c orka-secrets -n '__fish_seen_subcommand_from list' -s o -l output -x -a 'table json' -d 'format'");
    expect(script).toContain("complete -c orka-secrets -l kubeconfig -r -F -d 'kubeconfig file'");
  });
});
