'use strict';
const path = require('node:path');
const fs = require('node:fs');
const swc = require('./tools/swc-options');

// Aliases come from tsconfig.json "paths" so tsc and jest resolve them identically.
const { compilerOptions } = JSON.parse(fs.readFileSync(path.join(__dirname, 'tsconfig.json'), 'utf8'));
const moduleNameMapper = Object.fromEntries(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [
    `^${alias.replace(/[/.]/g, '\\$&')}$`,
    path.join(__dirname, target),
  ]),
);
const transform = { '^.+\\.ts$': ['@swc/jest', { ...swc, swcrc: false }] };
const common = { rootDir: __dirname, transform, moduleNameMapper, testEnvironment: 'node' };

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/test/farm/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'farm',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalTeardown: '<rootDir>/test/farm/jest-teardown.ts',
      testTimeout: 120000,
    },
  ],
};
