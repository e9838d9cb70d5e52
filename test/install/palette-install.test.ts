/**
 * The package as the palette manager installs it: `npm pack`, then
 * `npm install <tarball>` into a fresh Node-RED user directory with the flags
 * the palette manager uses (production only, engine-strict), then a real
 * Node-RED 4.1 started on that user directory. Every node set must load with
 * no error and the examples must be served by the library API.
 *
 * Two shortcuts keep this fast and offline-friendly, and say why:
 * - npm runs with --prefer-offline (the cache `npm ci` filled) and
 *   --ignore-scripts, so better-sqlite3 is not recompiled (a minute of CPU);
 *   its native addon is copied from this checkout's install (same version:
 *   the dependency is pinned).
 * - No browser: GET /nodes and the library API are what the palette and the
 *   Import > Examples dialog read (test/browser covers the editor itself).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { problemsIn, startRed, type RedProcess } from './red-process';

const root = path.resolve(__dirname, '../../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  'node-red': { nodes: Record<string, string>; plugins: Record<string, string> };
};
const TYPES = Object.keys(pkg['node-red'].nodes);
const EXAMPLES = fs
  .readdirSync(path.join(root, 'examples'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5));

interface NodeSet {
  id: string;
  module: string;
  name: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

/** npm run through the same node that runs the tests (npm's own CLI script). */
function npm(args: string[], cwd: string): string {
  const npmCli = process.env.npm_execpath;
  const [cmd, pre] = npmCli && /npm-cli\.js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', []];
  return execFileSync(cmd, [...pre, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function packTarball(into: string): { file: string; files: string[] } {
  const out = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', into], root);
  const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return { file: path.join(into, info.filename), files: info.files.map((f) => f.path) };
}

/** Installs the tarball the way the palette manager does, into userDir. */
export function installTarball(tarball: string, userDir: string): void {
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
  npm(
    ['install', '--prefer-offline', '--ignore-scripts', '--omit=dev', '--engine-strict', '--save', '--no-audit', '--no-fund', '--no-update-notifier', tarball],
    userDir,
  );
  const addon = path.join('build', 'Release', 'better_sqlite3.node');
  const from = path.join(path.dirname(require.resolve('better-sqlite3/package.json')), addon);
  const to = path.join(userDir, 'node_modules', 'better-sqlite3', addon);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

describe('palette install (npm pack, npm install into a fresh user dir, Node-RED 4.1)', function () {
  this.timeout(180_000);
  let tmp: string;
  let packed: { file: string; files: string[] };
  let red: RedProcess | undefined;

  before(async function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-install-'));
    packed = packTarball(tmp);
    const userDir = path.join(tmp, 'user');
    installTarball(packed.file, userDir);
    red = await startRed({ userDir });
  });

  after(async function () {
    await red?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('packs the built nodes, their editor files, icons, locales and examples, and no tests or sources', () => {
    for (const rel of Object.values(pkg['node-red'].nodes)) {
      assert.ok(packed.files.includes(rel), rel);
      assert.ok(packed.files.includes(rel.replace(/\.js$/, '.html')), rel.replace(/\.js$/, '.html'));
    }
    assert.ok(
      packed.files.some((f) => f.startsWith('dist/nodes/icons/')),
      'icons beside the node .js files',
    );
    assert.ok(
      packed.files.some((f) => f.startsWith('dist/nodes/locales/')),
      'locales beside the node .js files',
    );
    for (const rel of Object.values(pkg['node-red'].plugins)) {
      assert.ok(packed.files.includes(rel), rel);
      assert.ok(packed.files.includes(rel.replace(/\.js$/, '.html')), rel.replace(/\.js$/, '.html'));
      assert.ok(packed.files.includes(`dist/nodes/locales/en-US/${path.basename(rel, '.js')}.json`), `${rel}: its message catalog`);
    }
    assert.ok(packed.files.includes('resources/c2d-sidebar/sidebar.js'), "the sidebar's editor code in resources/");
    for (const e of EXAMPLES) assert.ok(packed.files.includes(`examples/${e}.json`), e);
    const stray = packed.files.filter((f) => /^(dist\/(test|bench)\/|test\/|nodes\/|lib\/|\.tmp\/)|\.ts$(?<!\.d\.ts$)|\.(db|pem|key|tgz)$/.test(f));
    assert.deepEqual(stray, []);
  });

  it('loads all six node types from userDir/node_modules with no error', async () => {
    const sets = await red!.api<NodeSet[]>('GET', '/nodes');
    const ours = sets.filter((s) => s.module === pkg.name);
    assert.deepEqual(
      ours
        .map((s) => s.types)
        .flat()
        .sort(),
      [...TYPES].sort(),
    );
    for (const s of ours) {
      assert.equal(s.err, undefined, `${s.id}: ${s.err}`);
      assert.equal(s.enabled, true, s.id);
    }
    const mod = await red!.api<{ version: string }>('GET', `/nodes/${pkg.name}`);
    assert.equal(mod.version, pkg.version);
    assert.deepEqual(problemsIn(red!.log()), []);
  });

  it('lists every example in the library (Import > Examples) and serves each as a flow', async () => {
    const modules = await red!.api<string[]>('GET', '/library/examples/flows/');
    assert.ok(modules.includes(pkg.name), JSON.stringify(modules));
    const listed = await red!.api<Array<string | { fn: string }>>('GET', `/library/examples/flows/${pkg.name}`);
    const names = listed.map((e) => (typeof e === 'string' ? e : e.fn)).sort();
    assert.deepEqual(names, [...EXAMPLES].sort());
    for (const e of EXAMPLES) {
      const flow = await red!.api<Array<{ type: string }>>('GET', `/library/examples/flows/${pkg.name}/${encodeURIComponent(e)}`);
      assert.ok(
        flow.some((n) => n.type.startsWith('c2d-')),
        e,
      );
    }
  });

  it('installs the C2D sidebar plugin: listed, enabled, with its catalog and its editor code served', async () => {
    const sets = await red!.api<Array<{ id: string; module: string; enabled: boolean; err?: string; plugins: Array<{ id: string }> }>>('GET', '/plugins');
    const ours = sets.filter((s) => s.module === pkg.name);
    assert.deepEqual(
      ours.map((s) => s.id),
      Object.keys(pkg['node-red'].plugins).map((p) => `${pkg.name}/${p}`),
    );
    for (const s of ours) {
      assert.equal(s.err, undefined, `${s.id}: ${s.err}`);
      assert.equal(s.enabled, true, s.id);
      assert.deepEqual(
        s.plugins.map((p) => p.id),
        ['c2d-sidebar'],
        'the runtime side registered itself',
      );
    }
    const catalogs = await red!.api<Record<string, Record<string, unknown>>>('GET', '/plugins/messages?lng=en-US');
    assert.ok(catalogs[`${pkg.name}/c2d-sidebar`]?.['c2d-sidebar'], "the sidebar's messages");
    const html = await fetch(`${red!.url}/plugins`, { headers: { Accept: 'text/html' } }).then((r) => r.text());
    assert.match(html, /RED\.plugins\.registerPlugin\('c2d-sidebar'/);
    const scripts = [...html.matchAll(/<script src="(resources\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0, 'the plugin loads its code from resources/');
    for (const src of scripts) {
      const res = await fetch(`${red!.url}/${src}`);
      assert.equal(res.status, 200, src);
    }
    assert.deepEqual(problemsIn(red!.log()), []);
  });

  it('registers the editor message catalog for every node type', async () => {
    const catalogs = await red!.api<Record<string, Record<string, unknown>>>('GET', '/nodes/messages?lng=en-US');
    for (const t of TYPES) assert.ok(catalogs[`${pkg.name}/${t}`]?.[t], `no messages for ${t}`);
  });
});
