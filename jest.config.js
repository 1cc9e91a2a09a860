// Unit tests need nothing; integration and end-to-end tests get a real DynamoDB Local from the global setup.
const { availableParallelism } = require('node:os');

const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  moduleNameMapper: { '^chat-core$': '<rootDir>/layers/chat-core/src/index.ts' },
  // Test and hook timeouts: tests/support/timeouts.ts (one setting, TEST_WAIT_MS).
  setupFilesAfterEnv: ['<rootDir>/tests/support/jest-timeouts.ts'],
};

/** @type {import('jest').Config} */
module.exports = {
  // Jest's default on 2 cores is one worker, but these tests mostly wait for sockets, child processes and
  // DynamoDB Local: two files side by side halve the time. Each file has its own tables, rooms and ports.
  maxWorkers: Math.max(2, availableParallelism() - 1),
  testSequencer: '<rootDir>/tests/support/test-sequencer.js',
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/tests/support/global-setup.ts',
      globalTeardown: '<rootDir>/tests/support/global-teardown.ts',
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/tests/support/global-setup.ts',
      globalTeardown: '<rootDir>/tests/support/global-teardown.ts',
    },
  ],
};
