import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.spec.ts', 'test/**/*.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // KVM-lab suites boot an L1 VM under TCG; two at once on two cores only slows both.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
