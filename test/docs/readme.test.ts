/**
 * The README's typed-API example runs as written (only the package name and
 * the data folder are swapped for this checkout and a temp folder).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

describe('the README', function () {
  this.timeout(60_000);

  it("runs the typed API example: the device gets the message and the backend its Success feedback", async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /```js\n(const \{ EmbeddedHub[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the typed API example');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-readme-'));
    try {
      const script = path.join(dir, 'example.js');
      fs.writeFileSync(
        script,
        block
          .replace("require('node-red-contrib-c2d')", `require(${JSON.stringify(path.join(ROOT, 'dist/lib/index.js'))})`)
          .replace("'./hub-data'", JSON.stringify(path.join(dir, 'hub-data'))),
      );
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, out);
      assert.match(out, /device got switch on \{ room: 'hall' \}/);
      assert.match(out, /statusCode: 'Success'/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
