'use strict';
// One transpile configuration for jest (@swc/jest) and for running TypeScript entry points
// (tools/register.js), so tests and processes see the same code. Decorator metadata is needed
// by NestJS dependency injection.
module.exports = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};
