/**
 * The README's typed-API example runs as written (only the package name and
 * the data folder are swapped for this checkout and a temp folder), and so do
 * its curl lines against the inspection routes of a real hub.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

describe('the README', function () {
  this.timeout(60_000);

  it('runs the typed API example: the device gets the message and the backend its Success feedback', async () => {
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

  /** Runs a bash script; resolves with its stdout (rejects with its output when it fails). */
  function bash(script: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}${err}`))));
    });
  }

  it('runs the device example of "Test your reconnect logic": the device asks for KillTcp, drops and connects again', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /\n {3}```js\n( {3}const \{ EmbeddedHub, DeviceClient, faultRequestProperties[\s\S]*?) {3}```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the fault injection example');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-readme-fault-'));
    try {
      const script = path.join(dir, 'fault.js');
      fs.writeFileSync(
        script,
        block
          .replace(/^ {3}/gm, '')
          .replace("require('node-red-contrib-c2d')", `require(${JSON.stringify(path.join(ROOT, 'dist/lib/index.js'))})`)
          .replace("'./fault-hub-data'", JSON.stringify(path.join(dir, 'hub-data'))),
      );
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, out);
      assert.match(out, /dropped: .+/);
      assert.match(out, /connected again/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the curl lines of "Inspecting a hub over HTTPS" against a real hub: stats, peek, dead letters, requeue, delete, cancel, trace', async function () {
    if (spawnSync('curl', ['--version']).status !== 0) {
      console.log('      (skipped: no curl on this machine; .ci/run installs it)');
      return this.skip();
    }
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /```sh\n(HUB=[\s\S]*?\/c2d\/stats[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the curl example');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { EmbeddedHub } = require(path.join(ROOT, 'dist/lib/index.js')) as typeof import('../../lib/index');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-readme-curl-'));
    const hub = await EmbeddedHub.start({ dataDir: path.join(dir, 'hub-data'), ports: { amqps: false, mqtts: false, https: 0 } });
    try {
      // What the lines act on: dead letters 1 and 2 (rejected), m1 pending.
      const h = hub.hub;
      await h.registry.createDevice({ deviceId: 'demo-device' });
      for (const id of ['r1', 'r2']) {
        await h.send('demo-device', { body: Buffer.from(`body of ${id}`), messageId: id });
        await h.reject('demo-device', (await h.receive('demo-device'))!.lockToken);
      }
      await h.send('demo-device', { body: Buffer.from('switch on'), messageId: 'm1' });
      assert.deepEqual(
        h.deadLetters().items.map((d) => d.sequenceNumber),
        [1, 2],
      );

      const key = h.registry.getPolicy('iothubowner')!.primaryKey;
      const script = block
        .replace(/^HUB=.*$/m, `HUB=https://localhost:${hub.ports.https}`)
        .replace(/^CA=.*$/m, `CA=${JSON.stringify(hub.tls.caPath)}`)
        .replace(/^KEY=.*$/m, `KEY='${key}'`)
        .replace("require('node-red-contrib-c2d')", `require(${JSON.stringify(path.join(ROOT, 'dist/lib/index.js')).replace(/"/g, "'")})`);
      const lines = script.split('\n');
      const first = lines.findIndex((l) => l.startsWith('curl '));
      const preamble = lines.slice(0, first).join('\n');
      const curls = lines.slice(first).filter((l) => l.startsWith('curl '));
      assert.equal(curls.length, 8);
      const out: string[] = [];
      for (const c of curls) out.push(await bash(`set -euo pipefail\n${preamble}\n${c}`));
      const json = (i: number): Record<string, unknown> & unknown[] => JSON.parse(out[i]!) as Record<string, unknown> & unknown[];

      assert.equal(json(0).devices, 1);
      assert.equal(json(0).deadLetters, 2);
      const peek = json(1) as unknown as Array<Record<string, unknown>>;
      assert.deepEqual(
        peek.map((m) => [m.messageId, m.state, Buffer.from(String(m.body), 'base64').toString()]),
        [['m1', 'Enqueued', 'switch on']],
      );
      assert.deepEqual(
        (json(2).items as Array<Record<string, unknown>>).map((d) => [d.messageId, d.reason]),
        [
          ['r1', 'Rejected'],
          ['r2', 'Rejected'],
        ],
      );
      assert.equal(json(3).total, 2);
      assert.deepEqual([json(4).messageId, json(4).sequenceNumber], ['r1', 4]);
      assert.equal(out[5], '', 'delete answers 204');
      assert.deepEqual(json(6), { deviceId: 'demo-device', messageId: 'm1', cancelled: 1 });
      assert.deepEqual(
        (json(7) as unknown as Array<Record<string, unknown>>).map((e) => e.event),
        ['enqueued', 'cancelled'],
      );
      assert.deepEqual(
        h.peek('demo-device').map((m) => m.messageId),
        ['r1'],
        'r1 requeued, m1 cancelled',
      );
      assert.equal(h.deadLetters().total, 0);

      // The curl line of "Test your reconnect logic", with the same preamble: a KillTcp scheduled for demo-device.
      const faultCurl = /\n {3}```sh\n {3}(curl [^\n]*\\\n[^\n]*\/faults")\n/.exec(readme)?.[1];
      assert.ok(faultCurl, 'the README has the fault curl line');
      const scheduled = JSON.parse(await bash(`set -euo pipefail\n${preamble}\n${faultCurl.replace(/\\\n\s*/, '')}`)) as Record<string, unknown>;
      assert.deepEqual([scheduled.deviceId, scheduled.type], ['demo-device', 'KillTcp']);
      assert.match(String(scheduled.dueTimeUtc), /^\d{4}-\d\d-\d\dT.*Z$/);
    } finally {
      await hub.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
