/**
 * The Node (V8) flags the sidecar runs with. The injector puts them on the sidecar container's
 * command line (V8 refuses most of them in NODE_OPTIONS and ignores them once started), and the
 * tests and benches start the sidecar with them, so what is measured is what runs in a pod.
 * Each one measured in docs/design/sidecar-footprint.md, against a bare Node process.
 */

/** Where the image keeps Node (Dockerfile). */
export const IMAGE_NODE = '/usr/local/bin/node';
/** The image's entrypoint bundle (Dockerfile), which runs the sidecar given `sidecar`. */
export const IMAGE_ENTRYPOINT = '/app/dist/bundle/entrypoint.mjs';

/** The sidecar's V8 flags (why each: below). */
export const SIDECAR_NODE_FLAGS: readonly string[] = [
  // The young generation's two semi-spaces at most 1 MiB each (V8 grows them to 8 MiB under
  // load and does not give them back): about 6 MiB less after load. The sidecar's garbage is
  // short-lived request objects, which a small young generation collects just as well.
  '--max-semi-space-size=1',
  // Optimizing compiles on the main thread (a few, once, at the first load): on V8's background
  // threads each compile allocated in that thread's malloc arena, which kept about 10 MiB after
  // the load that nothing gave back. (--max-opt=2, Maglev as the top tier, saved 5 MiB more of
  // the node binary's pages, shared by every pod on a node, for more CPU per request: not taken.)
  '--no-concurrent-recompilation',
];
