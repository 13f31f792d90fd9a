/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  globals: { __CPI_BUNDLED__: false },
  globalSetup: '<rootDir>/tests/helpers/global-setup.ts',
  testTimeout: 120000,
};
