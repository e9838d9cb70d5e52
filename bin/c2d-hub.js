#!/usr/bin/env node
'use strict';
// The standalone embedded hub; see `c2d-hub --help`.
require('../dist/lib/hub/cli.js').run();
