/**
 * The standalone binary's entry (hack/cli-binary.sh, a Node single executable). The CLI's
 * parts, `run`, the command line and the Kubernetes client, are separate scripts in the
 * executable (SEA assets `NAME.cjs`, each with a V8 code cache `NAME.cache` made at build time),
 * compiled only when a command needs one: `--version` and `run` neither parse nor keep the rest,
 * and only commands that talk to a cluster load the client (~8 MB of the ~9 MB of JavaScript). docs/design/startup.md has the measurements.
 */
import { getRawAsset } from 'node:sea';
import { Script } from 'node:vm';
import { dispatch, type Parts } from './dispatch.js';
import { fail } from './errors.js';
import { cliVersion } from './version.js';

// The binary's own require (built-in modules only): the parts are bundles that need nothing else.
declare const require: NodeJS.Require;

type Part = 'run' | 'program' | 'k8s';
const loaded = new Map<Part, unknown>();

/**
 * Compiles and runs one part, once. Each asset is a CommonJS bundle wrapped as a function
 * expression (hack/cli-binary.sh); its code cache was made from the same text by the same Node,
 * and V8 compiles it afresh if it refuses the cache (another Node, other V8 flags). The parts
 * require built-in modules, and the Kubernetes client, which is a part of its own.
 */
function part(name: Part): unknown {
  if (loaded.has(name)) return loaded.get(name);
  // The raw assets are the executable's own bytes (no copy): the string is the only copy of the
  // source. Decoded as the cache was made (UTF-8): a different text would make V8 refuse the cache.
  const source = Buffer.from(getRawAsset(`${name}.cjs`)).toString('utf8');
  const script = new Script(source, { filename: `orka-secrets/${name}.cjs`, cachedData: Buffer.from(getRawAsset(`${name}.cache`)) });
  const module = { exports: {} };
  const partRequire = (id: string): unknown => (id === '@kubernetes/client-node' ? part('k8s') : require(id));
  (script.runInThisContext() as (exports: object, req: (id: string) => unknown, mod: typeof module, filename: string) => void)(module.exports, partRequire, module, process.execPath);
  loaded.set(name, module.exports);
  return module.exports;
}

/** What a part exports besides its entry: its own fail(), which knows its own CliError. */
type Failing = { fail: typeof fail };
let failing: Failing = { fail };

dispatch(process.argv, {
  version: async () => cliVersion(),
  run: async () => (failing = part('run') as Awaited<ReturnType<Parts['run']>> & Failing),
  program: async () => (failing = part('program') as Awaited<ReturnType<Parts['program']>> & Failing),
}).catch((err: unknown) => failing.fail(err));
