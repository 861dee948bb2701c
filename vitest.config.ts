import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'db/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // interop suites start real servers on loopback ports; keep files from fighting over CPU
    maxWorkers: 2,
    minWorkers: 1,
  },
});
