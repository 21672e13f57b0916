import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The one test with a bound on wall time: the rotation's propagation wait (D + 2 s, issue 6). It runs
 * after every other file has finished, alone, so the load of the rest cannot eat its slack.
 */
const TIMED = ['test/integration/propagation.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test time is spent waiting on subprocesses, moto and D-Bus, not on the CPU:
    // four files at once on two cores cuts the wall time without starving anyone.
    maxWorkers: 4,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...TIMED],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'timed', include: TIMED, sequence: { groupOrder: 1 } } },
    ],
  },
});
