import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from './log.ts';
import { RecordingLog } from './test-support.ts';

describe('RateLimitedLog', () => {
  it('logs a key once per interval and reports the repeats with the next line', () => {
    let t = 0;
    const sink = new RecordingLog();
    const log = new RateLimitedLog(sink, { intervalMs: 1000, now: () => t });
    expect(log.warn('k', 'unknown hypercall 99')).toBe(true);
    for (let i = 0; i < 1000; i++) expect(log.warn('k', 'unknown hypercall 99')).toBe(false);
    expect(sink.lines).toEqual(['unknown hypercall 99']);
    t = 1000;
    log.warn('k', 'unknown hypercall 99');
    expect(sink.lines[1]).toBe('unknown hypercall 99 (repeated 1000 times since last report)');
  });

  it('bounds the lines of a guest that varies the key', () => {
    let t = 0;
    const sink = new RecordingLog();
    const log = new RateLimitedLog(sink, { burst: 5, perInterval: 2, intervalMs: 1000, now: () => t });
    for (let i = 0; i < 100_000; i++) log.warn(`op ${i}`, `unknown op ${i}`);
    expect(sink.lines.length).toBe(5);
    t = 1000;
    for (let i = 0; i < 100; i++) log.warn(`later ${i}`, `unknown op ${i}`);
    expect(sink.lines.length).toBe(7);
    expect(sink.lines[5]).toContain('other lines dropped by the rate limit');
  });

  it('keeps a bounded number of keys', () => {
    const sink = new RecordingLog();
    const log = new RateLimitedLog(sink, { burst: 1e9, maxKeys: 3, now: () => 0 });
    for (const k of ['a', 'b', 'c', 'd']) log.warn(k, k);
    // 'a' was forgotten, so it logs again; 'd' is remembered and does not.
    expect(log.warn('a', 'a')).toBe(true);
    expect(log.warn('d', 'd')).toBe(false);
  });
});
