/**
 * The sidecar's Prometheus metrics, served on their own port in the text exposition format
 * (version 0.0.4). Labels: endpoint and status code only; never a name of a secret, never a value.
 *
 * Written here rather than with prom-client: a dozen series, and every runner pod pays for the
 * sidecar's memory (prom-client costs about 21 MiB of RSS; docs/design/sidecar-footprint.md). The
 * operator keeps prom-client.
 */

/** A counter without labels. */
export interface Count {
  inc(by?: number): void;
}

/** Every metric the sidecar exports. */
export interface SidecarMetrics {
  /** One request answered: its endpoint label, HTTP status and duration in seconds. */
  observe(endpoint: string, code: number, seconds: number): void;
  cacheHits: Count;
  cacheMisses: Count;
  upstreamErrors: Count;
  staleAnswers: Count;
  budgetEvictions: Count;
  streamUp: { set(value: number): void };
  /** The exposition text, for GET /metrics. */
  render(): string;
  contentType: string;
  /** Name and type of every metric (prom-client's registry shape, for tests and docs checks). */
  registry: { getMetricsAsJSON(): Promise<Array<{ name: string; type: string }>> };
}

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];
const PREFIX = 'orka_sidecar_';

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** Creates the metrics. */
export function createSidecarMetrics(): SidecarMetrics {
  const requests = new Map<string, number>();
  const durations = new Map<string, Histogram>();
  const counters: Array<{ name: string; help: string; value: number }> = [];
  const counter = (name: string, help: string): Count => {
    const c = { name, help, value: 0 };
    counters.push(c);
    return { inc: (by = 1) => void (c.value += by) };
  };
  let streamUp = 0;
  const startTime = Math.floor(Date.now() / 1000 - process.uptime());

  const render = (): string => {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => out.push(`# HELP ${PREFIX}${name} ${help}`, `# TYPE ${PREFIX}${name} ${type}`, ...lines);
    metric('requests_total', 'counter', 'Requests by endpoint and HTTP status.', [...requests].map(([key, n]) => `${PREFIX}requests_total{${key}} ${n}`));
    const hist: string[] = [];
    for (const [endpoint, h] of durations) {
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += h.counts[i] as number;
        hist.push(`${PREFIX}request_duration_seconds_bucket{le="${le}",endpoint="${endpoint}"} ${cumulative}`);
      });
      hist.push(`${PREFIX}request_duration_seconds_bucket{le="+Inf",endpoint="${endpoint}"} ${h.count}`, `${PREFIX}request_duration_seconds_sum{endpoint="${endpoint}"} ${h.sum}`, `${PREFIX}request_duration_seconds_count{endpoint="${endpoint}"} ${h.count}`);
    }
    metric('request_duration_seconds', 'histogram', 'Request duration by endpoint.', hist);
    for (const c of counters) metric(c.name.slice(PREFIX.length), 'counter', c.help, [`${c.name} ${c.value}`]);
    metric('change_stream_up', 'gauge', '1 while the change stream to the operator is connected.', [`${PREFIX}change_stream_up ${streamUp}`]);
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [`${PREFIX}process_resident_memory_bytes ${memory.rss}`]);
    metric('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [`${PREFIX}process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`]);
    metric('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', [`${PREFIX}process_start_time_seconds ${startTime}`]);
    metric('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.', [`${PREFIX}nodejs_heap_size_used_bytes ${memory.heapUsed}`]);
    metric('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.', [`${PREFIX}nodejs_heap_size_total_bytes ${memory.heapTotal}`]);
    metric('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.', [`${PREFIX}nodejs_external_memory_bytes ${memory.external}`]);
    return `${out.join('\n')}\n`;
  };

  return {
    observe(endpoint, code, seconds) {
      const key = `endpoint="${endpoint}",code="${code}"`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      let h = durations.get(endpoint);
      if (h === undefined) durations.set(endpoint, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
      const i = BUCKETS.findIndex((le) => seconds <= le);
      if (i >= 0) h.counts[i] = (h.counts[i] as number) + 1;
      h.sum += seconds;
      h.count++;
    },
    cacheHits: counter(`${PREFIX}cache_hits_total`, 'Names answered from memory.'),
    cacheMisses: counter(`${PREFIX}cache_misses_total`, 'Names fetched from the operator.'),
    upstreamErrors: counter(`${PREFIX}upstream_errors_total`, 'Failed calls to the operator.'),
    staleAnswers: counter(`${PREFIX}stale_answers_total`, 'Names the operator answered with a state older than a change or a view already seen (asked again).'),
    budgetEvictions: counter(`${PREFIX}cache_budget_evictions_total`, 'Values dropped from memory to stay within ORKA_CACHE_MAX_BYTES (fetched again when needed).'),
    streamUp: { set: (v) => void (streamUp = v) },
    render,
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    registry: {
      getMetricsAsJSON: async () =>
        render()
          .split('\n')
          .filter((line) => line.startsWith('# TYPE '))
          .map((line) => {
            const [, , name, type] = line.split(' ');
            return { name: name as string, type: type as string };
          }),
    },
  };
}
