#!/usr/bin/env node
'use strict';
// The npm bin for lockstep-mcu.ts: runs the TypeScript CLI without a build step, through the
// repository's transpile hook. (Not named lockstep-mcu.js: that would shadow the .ts for jest.)
require('../../../../tools/register.js');

process.exitCode = require('./lockstep-mcu.ts').main(process.argv.slice(2));
