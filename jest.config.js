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

/** Unit tests: fast, no root, no network. The farm tests have their own config (jest.farm.config.js). */
module.exports = {
  rootDir: __dirname,
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swc, swcrc: false }] },
  moduleNameMapper,
  testEnvironment: 'node',
  testMatch: [
    '<rootDir>/{apps,libs,tools}/**/*.spec.ts',
    '<rootDir>/test/farm/**/*.spec.ts',
    '<rootDir>/deploy/**/*.spec.ts',
    '<rootDir>/bench/**/*.spec.ts',
  ],
};
