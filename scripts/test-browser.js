#!/usr/bin/env node
// `npm run test:browser`: the editor tests in a real Chromium (test/browser,
// compiled to dist/test/browser/*.spec.js, so `npm test` does not pick them
// up). Uses Debian's chromium at /usr/bin/chromium (or $C2D_CHROMIUM); when
// there is none it says so and exits 0, so machines without a browser stay
// green. Screenshots land in test-artifacts/.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const chromium = process.env.C2D_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromium)) {
  console.log(`test:browser skipped: no Chromium at ${chromium} (apt-get install -y chromium, or set C2D_CHROMIUM).`);
  process.exit(0);
}
fs.rmSync(path.join(root, 'test-artifacts'), { recursive: true, force: true });
const mocha = require.resolve('mocha/bin/mocha.js');
const args = ['--no-config', '--timeout', '120000', '--reporter', 'spec', 'dist/test/browser/*.spec.js', ...process.argv.slice(2)];
const child = spawn(process.execPath, [mocha, ...args], { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
