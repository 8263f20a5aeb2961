/**
 * Loaded into a measured process with `--import` (compiled: dist/test/bench/memory-probe.js): on
 * SIGUSR2 it writes one line `orka-bench-memory {...}` with process.memoryUsage() to stderr, so a
 * benchmark reads the V8 heap, `external` and `arrayBuffers` of a process it did not write. When
 * the process runs with --expose-gc, a full GC runs first (the heap then holds what is reachable).
 */
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  process.stderr.write(`orka-bench-memory ${JSON.stringify(process.memoryUsage())}\n`);
});
