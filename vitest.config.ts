import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and databases; two cores are shared, so keep files in parallel
    // but bounded.
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
