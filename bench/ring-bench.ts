// `xlts bench ring` (and `xlts demo`): shared-ring request/response round trips per second and
// notifications per round trip, for ring-buffer/ in one thread, two worker threads and two
// processes, beside Xen's own io/ring.h macros in C (one thread, two pthreads) measured in the
// same run. Repetitions are interleaved (C and TypeScript alternate) and the fastest of each is
// printed (report.ts says why), because on a shared 2-core machine only figures taken side by
// side, each as undisturbed as it got, mean anything.
//
// Direct use: npx tsx bench/ring-bench.ts [--requests N] [--repeat R]
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseRingBenchArgs } from './ring/args.ts';
import { formatTable, formatTargets, judgeTargets, summarise } from './ring/report.ts';
import { type RunResult, runC, runTsOneThread, runTsTwoProcesses, runTsTwoThreads } from './ring/runners.ts';
import { BENCH_ENTRY_SIZE, BENCH_RING_BYTES } from './ring/workload.ts';
import { ringSize } from '../ring-buffer/index.ts';
import { XEN_RING_HEADER } from '../test/c/build.ts';

/** Default round trips per run: a whole default benchmark takes about 12 s on this machine. */
export const DEFAULT_REQUESTS = 500_000;
export const DEFAULT_REPEAT = 3;

export { RingBenchUsageError, parseRingBenchArgs } from './ring/args.ts';

export interface RingBenchOptions {
  readonly out: NodeJS.WritableStream;
  /** Round trips per run (each configuration, each repetition). */
  readonly requests?: number;
  /** Repetitions of every configuration; the table shows medians. */
  readonly repeat?: number;
}

function commandOutput(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function loadAverage(): string {
  return os.loadavg()[0]?.toFixed(2) ?? '?';
}

function header(requests: number, repeat: number): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const slots = ringSize(BENCH_RING_BYTES, BENCH_ENTRY_SIZE);
  return [
    'xlts ring benchmark: request/response round trips over one shared ring',
    `  engines:  TypeScript ring-buffer on Node ${process.version} (V8 ${process.versions.v8});`,
    `            C: Xen io/ring.h macros (${XEN_RING_HEADER}, libxen-dev ${commandOutput('dpkg-query', ['-W', '-f=${Version}', 'libxen-dev'])}), gcc ${commandOutput('gcc', ['-dumpfullversion'])} -O2`,
    `  machine:  ${os.platform()} ${os.arch()}, ${os.availableParallelism()} cores (${model}), load average ${loadAverage()} at start`,
    `  workload: ${requests.toLocaleString('en-US')} numbered round trips per run, checked end to end; ${BENCH_ENTRY_SIZE}-byte entries (blkif),`,
    `            one ${BENCH_RING_BYTES}-byte ring = ${slots} slots; each push publishes every free slot (front) or every answer (back);`,
    `            an idle end arms its event (final check) and sleeps: Atomics.wait / futex (threads), eventfd (processes)`,
    `  runs:     ${repeat} interleaved repetitions per configuration; each row is the fastest of them`,
  ].join('\n');
}

export async function runRingBench(options: RingBenchOptions): Promise<void> {
  const { out } = options;
  const requests = options.requests ?? DEFAULT_REQUESTS;
  const repeat = options.repeat ?? DEFAULT_REPEAT;
  const started = process.hrtime.bigint();
  const startLoad = os.loadavg()[0] ?? 0;
  out.write(`${header(requests, repeat)}\n\n`);

  const results: RunResult[] = [];
  for (let rep = 1; rep <= repeat; rep++) {
    const t0 = process.hrtime.bigint();
    results.push(await runC('one thread', { requests }));
    results.push(runTsOneThread({ requests }));
    results.push(await runC('two threads', { requests }));
    results.push(await runTsTwoThreads({ requests }));
    results.push(await runTsTwoProcesses({ requests }));
    out.write(`  repetition ${rep}/${repeat} done in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s\n`);
  }

  const rows = summarise(results);
  out.write(`\n${formatTable(rows)}\n\ntargets:\n${formatTargets(judgeTargets(rows))}\n`);
  out.write(`\ntotal ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s, load average ${loadAverage()} at the end\n`);
  if (Math.max(startLoad, os.loadavg()[0] ?? 0) > os.availableParallelism()) {
    out.write(`note: more runnable work than cores during the run; the two-sided figures are the least reliable\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await runRingBench({ out: process.stdout, ...parseRingBenchArgs(process.argv.slice(2)) });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
