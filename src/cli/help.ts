/**
 * What every command's `--help` and usage errors say beyond its options, in one place (the command
 * modules register options; this adds the rest to the finished tree): an Examples section per
 * command, as kubectl's help has, and the hint a usage error ends with. Examples are kept here,
 * by command path, so that every command gets them, also those registered by other modules.
 */
import type { Command } from 'commander';

/** Examples by command path (`keys backup`); the program's name is prefixed when printed. */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  seal: [
    '-n acme seal API_KEY --from-stdin > api-key.yaml  # a manifest, safe in Git',
    '-n acme seal API_KEY --cert cert.pem --tenant acme-id --from-file key.txt  # offline',
  ],
  create: ['-n acme create API_KEY --from-file key.txt -d "Payments API"', 'printf %s "$TOKEN" | orka-secrets -n acme create API_KEY --from-stdin --wait'],
  update: ['-n acme update API_KEY -d "new description"  # value kept', '-n acme update API_KEY --prompt  # new value'],
  'fetch-cert': ['fetch-cert > cert.pem  # then: seal --cert cert.pem, offline'],
  list: ['-n acme list', 'list -A -o wide --no-headers', '-n acme list -o name  # one NAME a line', '-n acme list -o json | jq \'.items[].metadata.name\'  # a Kubernetes List'],
  describe: ['-n acme describe API_KEY', '-n acme describe stripe-api-key -o yaml'],
  delete: ['-n acme delete API_KEY  # asks first', '-n acme delete API_KEY --yes'],
  usage: ['-n acme usage', '-n acme usage -o json'],
  refs: ['-n acme refs workflows/', '-n acme refs --no-check -o json workflows/'],
  keys: ['keys backup -f keys.yaml --encrypt', 'keys verify keys.yaml'],
  'keys backup': ['--operator-namespace orka-system keys backup -f keys.yaml', 'keys backup -f keys.yaml --encrypt --passphrase-file pass.txt'],
  'keys verify': ['keys verify keys.yaml'],
  'keys restore': ['keys restore keys.yaml'],
  completion: ['source <(orka-secrets completion bash)  # ~/.bashrc', 'orka-secrets completion fish | source  # ~/.config/fish/config.fish'],
  dashboard: ['-n acme dashboard', 'dashboard --port 8080 --no-browser'],
};

/** The path of a command below the program (`keys backup`). */
export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** Adds the Examples section and the usage-error hint to every command of `program`. */
export function finishHelp(program: Command): void {
  const bin = program.name();
  const walk = (c: Command): void => {
    const path = commandPath(c);
    const examples = EXAMPLES[path];
    if (examples !== undefined) {
      const line = (e: string) => `  ${e.startsWith('printf') || e.startsWith('source') || e.startsWith(`${bin} `) ? e : `${bin} ${e}`}`;
      c.addHelpText('after', `\nExamples:\n${examples.map(line).join('\n')}`);
    }
    c.showHelpAfterError(`See '${path === '' ? bin : `${bin} ${path}`} --help' for usage and examples.`);
    c.commands.forEach(walk);
  };
  walk(program);
}
