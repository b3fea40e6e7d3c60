import { describe, expect, it } from 'vitest';
import { formatTable, formatTargets, judgeTargets, summarise } from './report.ts';
import type { RunEngine, RunMode, RunResult } from './runners.ts';

function run(engine: RunEngine, mode: RunMode, perSecond: number, notifications = 0): RunResult {
  const requests = 1000;
  const half = Math.round((notifications * requests) / 2);
  return {
    engine,
    mode,
    requests,
    elapsedNs: (requests / perSecond) * 1e9,
    front: { produced: requests, notifications: half, pushes: requests / 10 },
    back: { produced: requests, notifications: half, pushes: requests / 10 },
  };
}

describe('ring benchmark report', () => {
  it('keeps the fastest repetition of each configuration, with its own notification rate', () => {
    const [row] = summarise([run('TypeScript', 'one thread', 2e6, 0.02), run('TypeScript', 'one thread', 3e6, 0.04), run('TypeScript', 'one thread', 1e6, 0.08)]);
    expect(row?.roundTripsPerSecond).toBeCloseTo(3e6);
    expect(row?.notificationsPerRequest).toBeCloseTo(0.04);
  });

  it('compares each TypeScript row with C in the same mode, and two processes with C two threads', () => {
    const rows = summarise([
      run('C io/ring.h', 'two threads', 4_000_000, 0.04),
      run('TypeScript', 'two threads', 600_000, 0.05),
      run('TypeScript', 'two threads', 1_000_000, 0.06),
      run('TypeScript', 'two threads', 900_000, 0.07),
      run('TypeScript', 'two processes', 2_000_000, 0.03),
    ]);
    expect(rows.map((r) => [r.mode, r.engine])).toEqual([
      ['two threads', 'C io/ring.h'],
      ['two threads', 'TypeScript'],
      ['two processes', 'TypeScript'],
    ]);
    expect(rows[1]?.roundTripsPerSecond).toBeCloseTo(1_000_000);
    expect(rows[1]?.notificationsPerRequest).toBeCloseTo(0.06);
    expect(rows[1]?.shareOfC).toBeCloseTo(0.25);
    expect(rows[1]?.comparedWith).toBeNull();
    expect(rows[2]?.shareOfC).toBeCloseTo(0.5);
    expect(rows[2]?.comparedWith).toBe('two threads');
  });

  it('prints aligned columns and footnotes the cross-mode comparison', () => {
    const table = formatTable(
      summarise([run('C io/ring.h', 'two threads', 4_000_000, 0.04), run('TypeScript', 'two processes', 1_234_567, 0.03)]),
    );
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^configuration\s+engine\s+round trips\/s\s+ns\/round trip\s+notifications\/request\s+TS\/C$/);
    expect(lines[3]).toContain('1,234,567');
    expect(lines[3]).toMatch(/30\.9% \*$/);
    expect(lines[4]).toBe('* two processes compared with C two threads (no C two processes run)');
    // Every numeric column ends at the same character position on every row.
    const ends = (l: string): number[] => [...l.matchAll(/\S+(?=\s{2}|$)/g)].map((m) => (m.index ?? 0) + m[0].length);
    expect(ends(lines[2] ?? '').slice(-3)).toEqual(ends(lines[0] ?? '').slice(-3));
  });

  it('judges both targets, and says when one could not be measured', () => {
    const met = judgeTargets(summarise([run('C io/ring.h', 'two threads', 4e6, 0.04), run('TypeScript', 'two threads', 1e6, 0.05)]));
    expect(met.map((v) => v.met)).toEqual([true, true]);
    const missed = judgeTargets(summarise([run('C io/ring.h', 'two threads', 4e6, 0.04), run('TypeScript', 'two threads', 0.9e6, 0.2)]));
    expect(missed.map((v) => v.met)).toEqual([false, false]);
    expect(formatTargets(missed)).toContain('[NOT MET] TypeScript two-thread throughput >= 25% of C two-thread: 22.5%');
    const unmeasured = judgeTargets(summarise([run('TypeScript', 'one thread', 1e6)]));
    expect(unmeasured.map((v) => v.met)).toEqual([null, null]);
  });
});
