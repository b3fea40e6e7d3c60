import { defineConfig } from 'vitest/config';

// The Linux block-device lab test on its own: npx vitest run --config vitest.blk-lab.config.ts
// (see vitest.config.ts for why it is not in the main suite yet).
export default defineConfig({
  test: {
    include: ['test/blk-linux-lab.test.ts'],
    testTimeout: 1_300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
