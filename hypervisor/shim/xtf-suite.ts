// Runs the tiny PVH test guests (guests/xtf) through the shim, one after the other in this
// process, and judges each run from its console and its fate: the PASS/FAIL/RESULT lines, the
// shutdown reason the catalog expects, and the `xlts run` exit status that fate maps to. One
// process for all runs because in the KVM lab each boot of the lab costs ~15 s; the runs share
// runGuest() with `xlts run`, so the statuses checked are the CLI's.
//
//   npx tsx hypervisor/shim/xtf-suite.ts [--only id,id] [--timeout SEC] [--json]
//   npx xlts lab -- npx tsx hypervisor/shim/xtf-suite.ts
//
// Output: one line per run ("ok   <id> status N (<fate>) passes P, <ms> ms" or "FAIL <id> ..."
// followed by its problems and console), then, with --json, one line "XTF-SUITE-JSON {...}" for
// programs. Exit status 0 when every run was judged ok, 1 otherwise.
import { pathToFileURL } from 'node:url';
import { buildTestGuests } from '../../guests/xtf/build.ts';
import { XTF_RUNS, type ShutdownReasonName, type XtfRun } from '../../guests/xtf/catalog.ts';
import { judgeXtfRun, parseXtfOutput } from '../../guests/xtf/results.ts';
import { ShimError } from './errors.ts';
import { XLTS_RUN_EXIT, describeFate } from './exit-status.ts';
import { runKernel } from './shim.ts';

export interface XtfSuiteResult {
  readonly id: string;
  readonly ok: boolean;
  readonly status: number;
  readonly expectedStatus: number;
  readonly fate: string;
  readonly passes: number;
  readonly failures: readonly string[];
  readonly problems: readonly string[];
  readonly elapsedMs: number;
  readonly console: string;
}

/** The `xlts run` status a run must end with, from the shutdown reason its catalog entry expects. */
export function expectedStatus(reason: ShutdownReasonName): number {
  switch (reason) {
    case 'poweroff':
      return XLTS_RUN_EXIT.poweroff;
    case 'reboot':
      return XLTS_RUN_EXIT.reboot;
    case 'crash':
      return XLTS_RUN_EXIT.crash;
    default:
      return XLTS_RUN_EXIT.otherShutdown;
  }
}

export interface XtfSuiteOptions {
  /** Run ids to run (default: every catalog run). */
  readonly only?: readonly string[];
  readonly timeoutMs?: number;
  /** Progress lines as each run ends. */
  readonly out?: NodeJS.WritableStream;
  /** Guest-provoked shim warnings (default: dropped, they are expected from bad-args). */
  readonly log?: (line: string) => void;
}

export async function runXtfSuite(opts: XtfSuiteOptions = {}): Promise<XtfSuiteResult[]> {
  const guests = new Map((await buildTestGuests()).map((g) => [g.name, g.path]));
  const runs = XTF_RUNS.filter((r) => opts.only === undefined || opts.only.includes(r.id));
  const results: XtfSuiteResult[] = [];
  for (const run of runs) {
    const r = await runOne(run, guests.get(run.guest), opts);
    results.push(r);
    opts.out?.write(formatResult(r));
  }
  return results;
}

async function runOne(run: XtfRun, kernelPath: string | undefined, opts: XtfSuiteOptions): Promise<XtfSuiteResult> {
  const want = expectedStatus(run.expectShutdown);
  const started = Date.now();
  if (kernelPath === undefined) {
    return { id: run.id, ok: false, status: -1, expectedStatus: want, fate: 'not built', passes: 0, failures: [], problems: [`guest ${run.guest} was not built`], elapsedMs: 0, console: '' };
  }
  let text = '';
  const decoder = new TextDecoder();
  try {
    const result = await runKernel(
      { kernelPath, cmdline: run.cmdline, memoryMiB: 32, timeoutMs: opts.timeoutMs ?? 120_000 },
      {
        output: (bytes) => (text += decoder.decode(bytes, { stream: true })),
        log: { warn: (m) => opts.log?.(m) },
      },
    );
    const reason = result.fate.kind === 'shutdown' ? result.fate.reason : undefined;
    const verdict = judgeXtfRun(run, text, reason);
    const problems = [...verdict.problems];
    if (result.status !== want) problems.push(`exit status ${result.status}, expected ${want}`);
    const parsed = parseXtfOutput(text);
    return {
      id: run.id,
      ok: problems.length === 0,
      status: result.status,
      expectedStatus: want,
      fate: describeFate(result.fate),
      passes: parsed.passes.length,
      failures: parsed.failures,
      problems,
      elapsedMs: result.elapsedMs,
      console: text,
    };
  } catch (err) {
    const status = err instanceof ShimError ? err.exitStatus : XLTS_RUN_EXIT.shimError;
    const message = err instanceof Error ? err.message : String(err);
    return { id: run.id, ok: false, status, expectedStatus: want, fate: `error: ${message}`, passes: 0, failures: [], problems: [message], elapsedMs: Date.now() - started, console: text };
  }
}

export function formatResult(r: XtfSuiteResult): string {
  const head = `${r.ok ? 'ok  ' : 'FAIL'} ${r.id.padEnd(20)} status ${r.status} (${r.fate}), ${r.passes} PASS, ${r.elapsedMs} ms\n`;
  if (r.ok) return head;
  const console = r.console.split('\n').slice(-15).map((l) => `       | ${l}`).join('\n');
  return `${head}${r.problems.map((p) => `       - ${p}\n`).join('')}${console}\n`;
}

async function main(argv: readonly string[]): Promise<number> {
  let only: string[] | undefined;
  let timeoutMs: number | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') only = (argv[++i] ?? '').split(',').filter((s) => s.length > 0);
    else if (a === '--timeout') timeoutMs = Number(argv[++i]) * 1000;
    else if (a === '--json') json = true;
    else {
      process.stderr.write(`xtf-suite: unknown argument ${a}\nusage: xtf-suite.ts [--only id,id] [--timeout SEC] [--json]\n`);
      return 2;
    }
  }
  const results = await runXtfSuite({ ...(only ? { only } : {}), ...(timeoutMs ? { timeoutMs } : {}), out: process.stdout });
  const good = results.filter((r) => r.ok).length;
  process.stdout.write(`xtf-suite: ${good}/${results.length} runs ok\n`);
  if (json) {
    const slim = results.map(({ console: _c, ...rest }) => rest);
    process.stdout.write(`XTF-SUITE-JSON ${JSON.stringify(slim)}\n`);
  }
  return good === results.length ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`xtf-suite: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(3);
    },
  );
}
