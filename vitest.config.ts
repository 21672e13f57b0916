import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test time is spent waiting on subprocesses, moto and D-Bus, not on the CPU:
    // four files at once on two cores cuts the wall time without starving anyone.
    maxWorkers: 4,
    reporters: ['default'],
  },
});
