'use strict';
const unit = require('./jest.config');

/** Tests against the printer-farm simulator: real namespaces, sshd and processes; run one file at a time. */
module.exports = {
  ...unit,
  testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
  globalTeardown: '<rootDir>/test/farm/jest-teardown.ts',
  testTimeout: 120000,
};
