#!/usr/bin/env node
'use strict';
// fleetctl from the repository's TypeScript sources (`npx fleetctl`, or the installed bin).
require('../../../tools/register.js');
const { main } = require('../src/main.ts');

main(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code;
});
