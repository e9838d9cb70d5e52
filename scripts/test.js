#!/usr/bin/env node
// Runs mocha over the compiled tests (npm test builds first).
// The official Azure IoT service SDK trusts a local hub's certificate only
// through NODE_EXTRA_CA_CERTS, which Node reads once at process start
// (sdk-wire.md §1.3). So this launcher makes (once) the test certificate with
// the hub's own TLS code, then starts mocha with NODE_EXTRA_CA_CERTS set to it.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

async function main() {
  const { ensureTlsMaterial } = require(path.join(root, 'dist/lib/hub/tls.js'));
  const tlsDir = path.join(root, '.tmp', 'test-tls');
  const material = await ensureTlsMaterial(tlsDir);
  const mocha = require.resolve('mocha/bin/mocha.js');
  const args = process.argv.slice(2);
  // Test files named on the command line: run just those. (Mocha adds them to
  // .mocharc's spec otherwise, and runs the whole suite.)
  if (args.some((a) => a.endsWith('.js')) && !args.includes('--no-config')) args.unshift('--no-config', '--timeout', '20000');
  const child = spawn(process.execPath, [mocha, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: material.caPath, C2D_TEST_TLS_DIR: tlsDir },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
