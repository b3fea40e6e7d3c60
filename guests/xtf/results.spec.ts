import { describe, expect, it } from 'vitest';
import { XTF_RUNS } from './catalog.ts';
import { judgeXtfRun, parseXtfOutput } from './results.ts';

const run = XTF_RUNS.find((r) => r.id === 'shutdown-reboot')!;

describe('test guest console output', () => {
  it('parses PASS/FAIL lines and the summary, with CR LF and other lines', () => {
    const out = parseXtfOutput('xtf: SCHEDOP_shutdown (cmdline "reason=reboot")\r\nPASS: a\r\nFAIL: b c\nPASS: d\nRESULT: 2 passed, 1 failed\n');
    expect(out).toEqual({ passes: ['a', 'd'], failures: ['b c'], summary: { passed: 2, failed: 1 }, other: ['xtf: SCHEDOP_shutdown (cmdline "reason=reboot")'] });
  });

  it('judges a clean run good, and names every problem of a bad one', () => {
    const good = 'PASS: shutdown reason "reboot" is known\nPASS: x\nRESULT: 2 passed, 0 failed\n';
    expect(judgeXtfRun(run, good, 'reboot')).toEqual({ ok: true, problems: [] });
    expect(judgeXtfRun(run, good, 'poweroff').problems).toEqual(['shut down with poweroff, expected reboot']);
    expect(judgeXtfRun(run, 'PASS: x\n', undefined).problems).toEqual([
      'no RESULT line: the guest did not finish',
      'only 1 PASS lines, expected at least 2',
      'shut down with no SCHEDOP_shutdown, expected reboot',
    ]);
    expect(judgeXtfRun(run, 'PASS: a\nPASS: b\nFAIL: c\nRESULT: 2 passed, 0 failed\n', 'reboot').problems).toEqual([
      'FAIL: c',
      'RESULT says 2 passed, 0 failed, but the console shows 2 and 1',
    ]);
  });

  it('has a unique id per catalog run and one run per shutdown reason', () => {
    expect(new Set(XTF_RUNS.map((r) => r.id)).size).toBe(XTF_RUNS.length);
    expect(XTF_RUNS.filter((r) => r.guest === 'shutdown').map((r) => r.expectShutdown)).toEqual(['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset']);
  });
});
