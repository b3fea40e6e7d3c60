// Reading a test guest's console output. The runtime prints one result per line ("PASS: what",
// "FAIL: what") and ends with "RESULT: N passed, M failed" before shutting down. A run is good
// when that summary is present, agrees with the lines, reports no failure, and the run shut down
// for the reason its catalog entry expects.
import type { ShutdownReasonName, XtfRun } from './catalog.ts';

export interface XtfOutput {
  readonly passes: readonly string[];
  readonly failures: readonly string[];
  /** The summary line's counts, when the guest got that far. */
  readonly summary: { readonly passed: number; readonly failed: number } | undefined;
  /** Every other line (banners, diagnostics). */
  readonly other: readonly string[];
}

const SUMMARY = /^RESULT: (\d+) passed, (\d+) failed$/;

/** Parses console text; tolerant of CR LF and of output split in arbitrary chunks before joining. */
export function parseXtfOutput(text: string): XtfOutput {
  const passes: string[] = [];
  const failures: string[] = [];
  const other: string[] = [];
  let summary: XtfOutput['summary'];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('PASS: ')) passes.push(line.slice(6));
    else if (line.startsWith('FAIL: ')) failures.push(line.slice(6));
    else {
      const m = SUMMARY.exec(line);
      if (m) summary = { passed: Number(m[1]), failed: Number(m[2]) };
      else if (line.length > 0) other.push(line);
    }
  }
  return { passes, failures, summary, other };
}

export interface XtfVerdict {
  readonly ok: boolean;
  /** Why the run is not ok (empty when ok). */
  readonly problems: readonly string[];
}

/** Judges one run from its console output and the shutdown reason the shim reported. */
export function judgeXtfRun(run: XtfRun, console: string, shutdown: ShutdownReasonName | undefined): XtfVerdict {
  const out = parseXtfOutput(console);
  const problems: string[] = [];
  for (const f of out.failures) problems.push(`FAIL: ${f}`);
  if (!out.summary) problems.push('no RESULT line: the guest did not finish');
  else if (out.summary.passed !== out.passes.length || out.summary.failed !== out.failures.length) {
    problems.push(`RESULT says ${out.summary.passed} passed, ${out.summary.failed} failed, but the console shows ${out.passes.length} and ${out.failures.length}`);
  }
  if (out.passes.length < run.minPasses) problems.push(`only ${out.passes.length} PASS lines, expected at least ${run.minPasses}`);
  if (shutdown !== run.expectShutdown) problems.push(`shut down with ${shutdown ?? 'no SCHEDOP_shutdown'}, expected ${run.expectShutdown}`);
  return { ok: problems.length === 0, problems };
}
