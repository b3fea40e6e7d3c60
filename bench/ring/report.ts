// Turns ring benchmark runs into the printed table: one row per configuration, TypeScript beside
// C, and the two targets with a verdict. Pure functions of the results, so the layout is
// tested without running anything.
//
// Each row is the fastest of its repetitions, not the median: on a shared 2-core machine other
// work only ever slows a run down (a descheduled sleeper makes the C two-thread run 10x slower),
// so the fastest run is the least disturbed estimate of what the ring costs, for C and TypeScript
// alike, and the ratio of two such estimates is the one that holds still between runs.
import { type RunEngine, type RunMode, type RunResult, notificationsPerRequest, roundTripsPerSecond } from './runners.ts';

/** TS two-thread throughput must reach this share of C's two-thread throughput. */
export const TARGET_TS_SHARE_OF_C = 0.25;
/** Notifications per round trip at saturation must stay below this. */
export const TARGET_NOTIFICATIONS_PER_REQUEST = 0.1;

export interface Row {
  readonly mode: RunMode;
  readonly engine: RunEngine;
  /** Round trips per second of the fastest repetition. */
  readonly roundTripsPerSecond: number;
  /** Of that same repetition. */
  readonly notificationsPerRequest: number;
  /** TS throughput over the C row it is compared with; null for C rows or when there is none. */
  readonly shareOfC: number | null;
  /** Which C configuration shareOfC compares against, when it is not the same mode. */
  readonly comparedWith: RunMode | null;
}

const ORDER: ReadonlyArray<[RunMode, RunEngine]> = [
  ['one thread', 'C io/ring.h'],
  ['one thread', 'TypeScript'],
  ['two threads', 'C io/ring.h'],
  ['two threads', 'TypeScript'],
  ['two processes', 'TypeScript'],
];

/**
 * One row per configuration that ran. Two processes have no C counterpart in this benchmark, so
 * that row is compared with C's two threads (the same cross-core traffic, without a kernel
 * notification path) and says so.
 */
export function summarise(results: readonly RunResult[]): Row[] {
  const rows: Row[] = [];
  const bestOf = (mode: RunMode, engine: RunEngine): { rate: number; notif: number } | null => {
    let best: RunResult | null = null;
    for (const r of results) {
      if (r.mode !== mode || r.engine !== engine) continue;
      if (best === null || roundTripsPerSecond(r) > roundTripsPerSecond(best)) best = r;
    }
    return best === null ? null : { rate: roundTripsPerSecond(best), notif: notificationsPerRequest(best) };
  };
  for (const [mode, engine] of ORDER) {
    const m = bestOf(mode, engine);
    if (m === null) continue;
    let shareOfC: number | null = null;
    let comparedWith: RunMode | null = null;
    if (engine === 'TypeScript') {
      const cMode: RunMode = mode === 'two processes' ? 'two threads' : mode;
      const c = bestOf(cMode, 'C io/ring.h');
      if (c !== null) {
        shareOfC = m.rate / c.rate;
        comparedWith = cMode === mode ? null : cMode;
      }
    }
    rows.push({ mode, engine, roundTripsPerSecond: m.rate, notificationsPerRequest: m.notif, shareOfC, comparedWith });
  }
  return rows;
}

function grouped(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Right-aligns every column but the first two; columns are as wide as their widest cell. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['configuration', 'engine', 'round trips/s', 'ns/round trip', 'notifications/request', 'TS/C'];
  const cells = rows.map((r) => [
    r.mode,
    r.engine,
    grouped(r.roundTripsPerSecond),
    (1e9 / r.roundTripsPerSecond).toFixed(1),
    r.notificationsPerRequest.toFixed(4),
    r.shareOfC === null ? '-' : `${(100 * r.shareOfC).toFixed(1)}%${r.comparedWith === null ? '' : ' *'}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string =>
    c
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
  const starred = rows.find((r) => r.comparedWith !== null);
  if (starred !== undefined) out.push(`* ${starred.mode} compared with C ${starred.comparedWith} (no C ${starred.mode} run)`);
  return out.join('\n');
}

export interface TargetVerdict {
  readonly description: string;
  readonly measured: string;
  /** null when the configuration it needs did not run. */
  readonly met: boolean | null;
}

/** The targets, judged on the rows. */
export function judgeTargets(rows: readonly Row[]): TargetVerdict[] {
  const tsThreads = rows.find((r) => r.mode === 'two threads' && r.engine === 'TypeScript');
  const share = tsThreads?.shareOfC ?? null;
  // Saturation: the two-sided runs, where an idle end really sleeps and must be woken.
  const saturated = rows.filter((r) => r.mode !== 'one thread');
  const worst = saturated.length === 0 ? null : Math.max(...saturated.map((r) => r.notificationsPerRequest));
  return [
    {
      description: `TypeScript two-thread throughput >= ${TARGET_TS_SHARE_OF_C * 100}% of C two-thread`,
      measured: share === null ? 'not measured' : `${(100 * share).toFixed(1)}%`,
      met: share === null ? null : share >= TARGET_TS_SHARE_OF_C,
    },
    {
      description: `notifications per request < ${TARGET_NOTIFICATIONS_PER_REQUEST} at saturation (two threads, two processes)`,
      measured: worst === null ? 'not measured' : `worst ${worst.toFixed(4)}`,
      met: worst === null ? null : worst < TARGET_NOTIFICATIONS_PER_REQUEST,
    },
  ];
}

export function formatTargets(verdicts: readonly TargetVerdict[]): string {
  return verdicts
    .map((v) => `  [${v.met === null ? 'n/a' : v.met ? 'MET' : 'NOT MET'}] ${v.description}: ${v.measured}`)
    .join('\n');
}
