import { defineConfig } from 'vitest/config';

// Tests that boot the KVM lab (an L1 VM under QEMU TCG that wants both cores) run in a group of
// their own, one file at a time, after everything else: on a 2-core host two TCG VMs at once, or
// one beside the unit suites, slow each other past any sensible timeout.
const LAB_TESTS = ['test/lab.test.ts', 'test/xtf-lab.test.ts', 'test/shim-linux-lab.test.ts', 'test/xltsd-linux-lab.test.ts', 'test/blk-linux-lab.test.ts'];

const shared = {
  exclude: ['node_modules/**'],
  testTimeout: 60_000,
  hookTimeout: 300_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'host',
          include: ['**/*.spec.ts', 'test/**/*.test.ts'],
          exclude: [...shared.exclude, ...LAB_TESTS],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'lab',
          include: LAB_TESTS,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
