// Command-line options of the ring benchmark, for direct runs and for the CLI to pass through.

/** A command line the benchmark does not understand. */
export class RingBenchUsageError extends Error {
  override readonly name = 'RingBenchUsageError';
}

/** Parses `--requests N` and `--repeat R` (also `--requests=N`); anything else is an error. */
export function parseRingBenchArgs(argv: readonly string[]): { requests?: number; repeat?: number } {
  const parsed: { requests?: number; repeat?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    if (flag !== '--requests' && flag !== '--repeat') throw new RingBenchUsageError(`unknown argument '${arg}' (known: --requests N, --repeat R)`);
    const raw = inline ?? argv[++i];
    const value = Number(raw);
    if (raw === undefined || !Number.isSafeInteger(value) || value <= 0 || value > 0xffffffff) {
      throw new RingBenchUsageError(`${flag} needs a positive integer, got '${raw ?? ''}'`);
    }
    if (flag === '--requests') parsed.requests = value;
    else parsed.repeat = value;
  }
  return parsed;
}
