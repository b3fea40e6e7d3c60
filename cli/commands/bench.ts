import type { Command } from 'commander';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark and print its table')
    .argument('[name]', 'which benchmark: ring', 'ring')
    .action(async (name: string) => {
      if (name !== 'ring') throw new Error(`unknown benchmark '${name}' (known: ring)`);
      const { runRingBench } = await import('../../bench/ring-bench.ts');
      await runRingBench({ out: process.stdout });
    });
}
