import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Real SQLite files, real HTTP on loopback, child processes: give slow shared machines room.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Builds the SQLite writer thread once for the run (see the file).
    globalSetup: ['test/global-setup.ts'],
    // In CI a JSON report as well, from which .ci/run prints a one-line summary.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
