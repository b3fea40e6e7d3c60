import { describe, expect, it } from 'vitest';
import { RingBenchUsageError, parseRingBenchArgs } from './args.ts';

describe('ring benchmark arguments', () => {
  it('accepts --requests and --repeat, separate or with =', () => {
    expect(parseRingBenchArgs([])).toEqual({});
    expect(parseRingBenchArgs(['--requests', '1000', '--repeat=2'])).toEqual({ requests: 1000, repeat: 2 });
    expect(parseRingBenchArgs(['--requests=5'])).toEqual({ requests: 5 });
  });

  it('refuses unknown flags and anything but a positive integer', () => {
    for (const argv of [['--reqs', '1'], ['--requests'], ['--requests', '0'], ['--requests', '1.5'], ['--repeat', 'x'], ['1000']]) {
      expect(() => parseRingBenchArgs(argv), argv.join(' ')).toThrow(RingBenchUsageError);
    }
  });
});
