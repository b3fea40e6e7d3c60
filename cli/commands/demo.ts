import type { Command } from 'commander';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description("the main job: today, the shared-ring benchmark table (booting a guest with PV I/O comes later)")
    .action(async () => {
      const { runRingBench } = await import('../../bench/ring-bench.ts');
      await runRingBench({ out: process.stdout });
    });
}
