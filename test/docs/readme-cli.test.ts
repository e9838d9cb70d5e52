/**
 * The README's c2d-hub examples run as written: the config file starts a hub
 * (ports moved to free ones by the variables, which win over the file), and
 * the health-check command of the Compose example passes against it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { killAll, startCli } from '../hub/cli-process';

const ROOT = path.resolve(__dirname, '../../..');

describe("the README's c2d-hub examples", function () {
  this.timeout(30_000);
  afterEach(() => killAll());

  it('the config file example starts a hub, and the Compose health check passes against it', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## The `c2d-hub` command'));
    const config = /```json\n(\{\n[\s\S]*?"hubName"[\s\S]*?)```/.exec(section)?.[1];
    assert.ok(config, 'the section has the config file example');
    const check = /test: \["CMD", "node", "-e", "(.*)"\]/.exec(section)?.[1];
    assert.ok(check, 'the section has the health check');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-readme-cli-'));
    try {
      fs.writeFileSync(path.join(dir, 'hub.json'), config);
      const cli = await startCli(['--config', path.join(dir, 'hub.json')], {
        C2D_AMQPS_PORT: '0',
        C2D_MQTTS_PORT: '0',
        C2D_HTTPS_PORT: '0',
        C2D_ADMIN_PORT: '0',
      });
      assert.match(cli.out(), /"event":"hub-started"/, 'the example logs JSON');
      assert.ok(fs.existsSync(path.join(dir, 'hub-data', 'hub.db')), 'dataDir relative to the file');
      const script = check.replace(/\\"/g, '"').replace('127.0.0.1:9090', `127.0.0.1:${cli.adminPort}`);
      execFileSync(process.execPath, ['-e', script]);
      assert.equal(await cli.stop(), 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
