#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ and puts the editor files where
// Node-RED's registry looks for them: each node's (and the C2D sidebar
// plugin's) .html beside its .js, and icons/ and locales/ in the folder of
// the .js files (dist/nodes). The sidebar's editor code stays in resources/,
// which Node-RED serves from the package root.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });

const nodesSrc = path.join(root, 'nodes');
const nodesDist = path.join(dist, 'nodes');
fs.mkdirSync(nodesDist, { recursive: true });
for (const f of fs.existsSync(nodesSrc) ? fs.readdirSync(nodesSrc) : []) {
  if (f.endsWith('.html')) fs.copyFileSync(path.join(nodesSrc, f), path.join(nodesDist, f));
}
for (const [src, dst] of [
  [path.join(root, 'icons'), path.join(nodesDist, 'icons')],
  [path.join(nodesSrc, 'locales'), path.join(nodesDist, 'locales')],
]) {
  if (fs.existsSync(src)) fs.cpSync(src, dst, { recursive: true });
}
