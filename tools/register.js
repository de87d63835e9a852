'use strict';
// Lets `node -r ./tools/register.js file.ts` run the TypeScript sources directly.
// Workspace packages (@lockstep/*) resolve through node_modules links to the same files that
// tsconfig "paths" and jest's moduleNameMapper point at.
const fs = require('node:fs');
const Module = require('node:module');
const { transformSync } = require('@swc/core');
const options = require('./swc-options');

Module._extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, { ...options, filename, swcrc: false, configFile: false });
  module._compile(code, filename);
};
process.setSourceMapsEnabled(true);
