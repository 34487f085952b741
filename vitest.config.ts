import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Hooks that launch runtimes or fit models (test/runtimes) get a test's budget, not 10 s.
    hookTimeout: 60_000,
    pool: 'forks',
    // Every core (vitest's default leaves one idle: on the 2-core CI machine that meant the
    // files ran one after another, 122 s against 79 s).
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
